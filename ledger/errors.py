"""Errors of the writer's side. Every one is a `LedgerError` (exit 1 in the CLI) unless it is a
usage problem (exit 2)."""

from __future__ import annotations

from domain.errors import LedgerError


class EnvelopeRefusedError(LedgerError):
    """An envelope is not accepted (SPEC §2); nothing was recorded."""

    def __init__(self, message: str, *, check: str = "acceptance", line: int | None = None) -> None:
        super().__init__(message)
        self.check = check
        self.line = line


class StatementConflictError(EnvelopeRefusedError):
    """A different envelope reuses a recorded statement id (SPEC §2 resubmission)."""


class NotFoundError(LedgerError):
    """The entry, statement or checkpoint asked for does not exist."""


class LedgerStateError(LedgerError):
    """The ledger is not in a state for this: not initialised, already initialised, corrupted."""


class KeyFileError(LedgerError):
    """A private key file is missing, unreadable, malformed or readable by others."""


class TimeError(LedgerError):
    """`recorded_at` given where it may not be, or going backwards (SPEC §3)."""


class UsageError(LedgerError):
    """The request is malformed (exit 2 in the CLI): a missing required option, a bad value."""
