"""What the compliance engine remembers of the log so far, indexed so that no rule rescans it.

The engine judges entry n against a `History` that has observed exactly entries 0 … n−1, which is
SPEC §5's "using only entries recorded before it". Every index answers in O(1) (or in the size
of the few entries it concerns), so one pass over a million entries stays linear.

Invariants:
- `observe` is called once per record, in seq order, after that record was judged;
- an index only ever grows or moves forward (latest determination, greatest compute);
- `registry` reflects exactly the observed records: principals, roles and keys "as of the entries
  recorded before" the statement being judged (SPEC §4 "Approvals").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.log import LogRecord
from domain.registry import Registry
from domain.statements import (
    AttestationWithdrawn,
    CapabilityDetermination,
    CapabilityFinding,
    ComputeMeasured,
    GovernanceNotified,
    KeyRevoked,
    ModelRegistered,
    SafetyCaseApproved,
)

from .kept import RecordStore
from .verdicts import Verdict


@dataclass(frozen=True, slots=True)
class Compute:
    """The greatest effective compute recorded for a model, and the statement that recorded it."""

    effective_compute: float
    statement: str


@dataclass(frozen=True, slots=True)
class Withdrawal:
    invalid_from: datetime
    statement: str  # id of the attestation_withdrawn entry
    seq: int


@dataclass(frozen=True, slots=True)
class Compromise:
    compromised_since: datetime
    statement: str  # id of the key_revoked entry
    seq: int


@dataclass(slots=True)
class History:
    """Indexes over the records observed so far."""

    registry: Registry = field(default_factory=Registry)
    # statement id → its record (SPEC §2: ids are unique in a ledger); the engine's store keeps
    # older records compact (kept.py), a bare History keeps them whole
    records: RecordStore = field(default_factory=RecordStore)
    registered_models: set[str] = field(default_factory=set)
    # SPEC §5 determination.fresh (a): model_registered, compute_measured and every finding count
    greatest_compute: dict[str, Compute] = field(default_factory=dict)
    # SPEC §5 determination.latest: model → id of its latest capability determination
    latest_determination: dict[str, str] = field(default_factory=dict)
    # SPEC §5 governance.notified: statement id → bodies notified regarding it (after it existed)
    notified: dict[str, set[str]] = field(default_factory=dict)
    # SPEC §5 void evidence: withdrawals per statement, and compromise per key
    withdrawals: dict[str, list[Withdrawal]] = field(default_factory=dict)
    compromised: dict[str, Compromise] = field(default_factory=dict)
    # safety-case.approved (policy v2): (model, threshold) → id of its latest safety case approval
    safety_cases: dict[tuple[str, str], str] = field(default_factory=dict)
    # determination id → its citations that pass evidence.cited's checks (SPEC §5 "Bad citations")
    valid_citations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # statement id → its current verdict, for evidence.compliant; kept in seq order
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    observed: int = 0
    last_seq: int = -1
    last_recorded_at: datetime | None = None

    def get(self, statement_id: str) -> LogRecord | None:
        return self.records.get(statement_id)

    def observe(self, record: LogRecord) -> None:
        """Advance past `record`, which has just been judged."""
        st = record.statement
        self.records.keep(record)
        match st:
            case ModelRegistered():
                self.registered_models.add(st.model)
                self._raise_compute(st.model, st.effective_compute, st.id)
            case ComputeMeasured():
                self._raise_compute(st.model, st.effective_compute, st.id)
            case CapabilityFinding():
                self._raise_compute(st.model, st.effective_compute, st.id)
            case CapabilityDetermination():
                self.latest_determination[st.model] = st.id
            case GovernanceNotified():
                # A notification names something that exists; one sent before the determination
                # was recorded cannot have been about it (docs/rules.md).
                if st.regarding in self.records and st.regarding != st.id:
                    self.notified.setdefault(st.regarding, set()).update(st.bodies)
            case AttestationWithdrawn():
                self.withdrawals.setdefault(st.statement, []).append(
                    Withdrawal(st.invalid_from, st.id, record.seq)
                )
            case KeyRevoked() if st.compromised_since is not None:
                self.compromised.setdefault(
                    st.key_id, Compromise(st.compromised_since, st.id, record.seq)
                )
            case SafetyCaseApproved():
                for threshold in st.thresholds:
                    self.safety_cases[(st.model, threshold)] = st.id
            case _:
                pass
        self.registry.apply(st, record.seq)
        self.observed += 1
        self.last_seq = record.seq
        self.last_recorded_at = record.recorded_at

    def _raise_compute(self, model: str, effective_compute: float, statement: str) -> None:
        best = self.greatest_compute.get(model)
        if best is None or effective_compute > best.effective_compute:
            self.greatest_compute[model] = Compute(effective_compute, statement)
