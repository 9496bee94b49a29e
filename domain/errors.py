"""The two roots of every error the project raises (STYLE.md).

- `LedgerError`: refused input or a conflict, on the writer's side (exit 1 in the CLI).
- `VerificationError`: the thing checked is not trustworthy (a malformed statement, a bad signature,
  a broken proof). The ledger wraps these into a `LedgerError` when it refuses an envelope.

Messages say what was expected and what was found, on one line.
"""

from __future__ import annotations


class RspLedgerError(Exception):
    """Common base, so that a caller can catch everything the project raises on purpose."""


class LedgerError(RspLedgerError):
    """Refused input, or a conflict with what the ledger already holds."""


class VerificationError(RspLedgerError):
    """The thing checked is not trustworthy; the message says why."""


class MalformedStatementError(VerificationError):
    """A statement does not fit the schema of SPEC §2."""


class MalformedPolicyError(VerificationError):
    """A policy document cannot even be read as a JSON object (validity is judged separately)."""


class AcceptanceError(VerificationError):
    """An envelope breaks an acceptance rule of SPEC §2 against the log so far.

    `check` names the rule, for reports (e.g. `acceptance.signature`, `acceptance.governance`).
    """

    def __init__(self, message: str, *, check: str = "acceptance") -> None:
        super().__init__(message)
        self.check = check
