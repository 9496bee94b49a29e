"""The HTTP API's wire format (issue 7): pydantic models shared by the service and its client.

Both sides parse with these, so a field renamed on one side fails the other's tests. Envelopes
and details travel as the JSON objects of SPEC §2 and §7 and are parsed by `verify/` (exact
payload bytes, canonical base64); entries travel as their exact JCS bytes (`GET /v1/entries…`),
so a client recomputes leaf hashes from what it received, never from a re-serialisation.

Hashes follow the CLI's `--json` output: an entry's `leaf_hash` is hex (as `submit --json`),
proof hashes are base64 (as `prove … --json`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.compliance import FailedRule, Verdict, VerdictKind
from ledger.store import RecordedEntry

# The largest request body a service takes by default (`serve --max-body-bytes`), and the largest
# batch one request may carry (the body limit applies as well).
DEFAULT_MAX_BODY_BYTES = 8 << 20
MAX_BATCH_ENTRIES = 10_000
MAX_PAGE_ENTRIES = 1_000
DEFAULT_PAGE_ENTRIES = 100

# Error codes of `ErrorBody.code`; the client maps each back to the ledger's own error type.
ErrorCode = Literal[
    "malformed",  # the request itself: JSON, fields, parameters (400)
    "usage",  # a usage error of the ledger (400), e.g. --recorded-at missing on an asserted ledger
    "unauthorized",  # no or wrong bearer read token (401)
    "not-found",  # no such entry, statement or route (404)
    "too-large",  # the body is over the limit (413)
    "refused",  # an envelope is not accepted (SPEC §2) (422)
    "conflict",  # another envelope reuses a recorded statement id (409)
    "time",  # recorded_at given where it may not be, or going backwards (422)
    "proof",  # a proof or checkpoint for sizes the tree cannot answer (400)
    "state",  # the ledger is not in a state for this (409)
    "unavailable",  # the database cannot be reached or its lock had in time; retry (503)
    "internal",  # a bug: the server logged it (500)
]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class ErrorBody(_Wire):
    status: int
    code: ErrorCode
    message: str
    check: str | None = None
    line: int | None = None


class ErrorResponse(_Wire):
    error: ErrorBody


# -- writing ---------------------------------------------------------------------------------
class SubmitRequest(_Wire):
    """`POST /v1/entries`: one envelope, its details if any, and `recorded_at` on an asserted
    ledger (SPEC §3: the operator supplies it; a system ledger refuses it)."""

    envelope: dict[str, Any]
    details: dict[str, Any] | None = None
    recorded_at: str | None = None


class BatchItem(_Wire):
    envelope: dict[str, Any]
    details: dict[str, Any] | None = None


class BatchRequest(_Wire):
    """`POST /v1/batches`: envelopes recorded in order, all in one transaction or none."""

    entries: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH_ENTRIES)
    recorded_at: str | None = None


class RecordedEntryOut(_Wire):
    seq: int
    recorded_at: str
    leaf_hash: str  # hex
    statement: str
    type: str
    existing: bool

    @classmethod
    def of(cls, e: RecordedEntry) -> RecordedEntryOut:
        return cls.model_validate(e.to_json())


class InclusionProofOut(_Wire):
    index: int
    size: int
    leaf_hash: str  # base64
    hashes: list[str]  # base64
    checkpoint: str  # the signed note the proof is against
    tlog_proof: str  # C2SP tlog-proof text, as `prove inclusion` prints


class FailedRuleOut(_Wire):
    rule: str
    message: str


class VerdictOut(_Wire):
    """SPEC §8's verdict object."""

    seq: int
    statement: str
    type: str
    model: str | None
    policy: str | None
    verdict: VerdictKind
    failed: list[FailedRuleOut]
    invalidated_by: list[str]

    @classmethod
    def of(cls, v: Verdict) -> VerdictOut:
        return cls.model_validate(v.to_json())

    def to_verdict(self) -> Verdict:
        return Verdict(
            self.seq,
            self.statement,
            self.type,
            self.model,
            self.policy,
            self.verdict,
            tuple(FailedRule(f.rule, f.message) for f in self.failed),
            tuple(self.invalidated_by),
        )


class SubmitResponse(_Wire):
    """The entry, its inclusion proof in the tree that first held it, and the compliance verdict
    the statement gets (SPEC §2: the ledger records what was decided and warns the submitter)."""

    entry: RecordedEntryOut
    inclusion_proof: InclusionProofOut
    compliance: VerdictOut | None
    warnings: list[str]


class BatchResponse(_Wire):
    entries: list[RecordedEntryOut]
    recorded: int
    checkpoint: str
    verdicts: list[VerdictOut]  # of the newly recorded statements that are judged, in seq order
    warnings: list[str]


# -- reading ---------------------------------------------------------------------------------
class EntriesPage(_Wire):
    """`GET /v1/entries` as JSON. Each of `entries` is the entry's exact JCS text, embedded."""

    size: int
    start: int
    entries: list[dict[str, Any]]
    next: int | None


class SignatureOut(_Wire):
    keyid: str
    sig: str


class StatementOut(_Wire):
    seq: int
    recorded_at: str
    leaf_hash: str  # hex
    statement: dict[str, Any]
    signatures: list[SignatureOut]
    details: dict[str, Any] | None


class ConsistencyProofOut(_Wire):
    old: int
    new: int
    hashes: list[str]  # base64


class LedgerKeyOut(_Wire):
    vkey: str
    origin: str
    time_source: str


class StatusDocument(BaseModel):
    """`rsp-ledger status --json` (issue 5): the organisation and each model, at a time."""

    model_config = ConfigDict(extra="allow")
    format: str
    as_of: str
    log: dict[str, Any]
    organisation: dict[str, Any]
    models: list[dict[str, Any]]


class TimelineDocument(BaseModel):
    """`rsp-ledger timeline MODEL --json` (issue 5)."""

    model_config = ConfigDict(extra="allow")
    format: str
    model: str
    log: dict[str, Any]
    events: list[dict[str, Any]]


class VerdictsOut(_Wire):
    size: int
    verdicts: list[VerdictOut]
    summary: dict[str, int]


class Health(_Wire):
    status: Literal["ok"]
