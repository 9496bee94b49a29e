"""The compliance engine: one pass over the log, a verdict per judged statement (SPEC §4, §5).

It is the one source of truth for verdicts: the offline verifier, the ledger's `check`/`submit`
warnings and the projections all call it.

Invariants:
- records are consumed in seq order (strictly increasing seq, non-decreasing `recorded_at`); each
  is judged against exactly the records before it, then observed;
- a verdict never changes after it is given, except from `compliant` (or `invalidated`) to
  `invalidated` when an entry recorded later voids what it relied on (SPEC §5 "Void evidence");
- nothing is rescanned: a later voiding reaches the verdicts it affects through reverse indexes
  (statement → verdicts relying on it, key → relied-upon statements it signed), and every other
  question is answered by the indexes of `History`. Work is linear in the size of the log plus
  the citations it contains.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from domain.errors import VerificationError
from domain.ids import format_time
from domain.log import LogRecord
from domain.policy import PolicyDocument
from domain.registry import WITHDRAWABLE_TYPES
from domain.statements import AttestationWithdrawn, KeyRevoked

from .history import History
from .judging import Judgement, judge_record
from .timeline import PolicyTimeline
from .verdicts import Verdict


class RecordOrderError(VerificationError):
    """Records were given out of seq order, or with `recorded_at` going back in time."""


class ComplianceEngine:
    """Judges a log one record at a time (SPEC §5), keeping verdicts up to date."""

    __slots__ = ("_history", "_relied_by", "_signed_by", "_timeline", "_tracked")

    def __init__(self) -> None:
        self._history = History()
        self._timeline = PolicyTimeline()
        # statement id → ids of judged statements relying on it (not noncompliant), in seq order
        self._relied_by: dict[str, list[str]] = {}
        # key id → ids of relied-upon statements it signed (SPEC §5: a compromise voids them)
        self._signed_by: dict[str, list[str]] = {}
        self._tracked: set[str] = set()

    # -- consuming the log -------------------------------------------------------------------
    def add(self, record: LogRecord) -> Verdict | None:
        """Judge `record` as the next entry, remember it, and return its verdict if judged."""
        self._check_next(record)
        judgement = judge_record(record, self._history, self._timeline)
        if judgement is not None:
            self._keep(record, judgement)
        self._history.observe(record)
        self._apply_voiding(record)
        return judgement.verdict if judgement is not None else None

    def preview(self, record: LogRecord) -> Verdict | None:
        """The verdict `record` would get as the next entry; changes nothing (a dry run)."""
        self._check_next(record)
        judgement = judge_record(record, self._history, self._timeline)
        return judgement.verdict if judgement is not None else None

    def verdicts(self) -> list[Verdict]:
        """Every verdict so far, in seq order, with later invalidations applied."""
        return list(self._history.verdicts.values())

    def verdict_of(self, statement_id: str) -> Verdict | None:
        return self._history.verdicts.get(statement_id)

    def policy_in_force(self, seq: int, at: datetime) -> tuple[PolicyDocument, str] | None:
        """SPEC §4: the policy in force for an entry at `seq` recorded at `at`, and the id of the
        `policy_adopted` statement that brought it; None when there is none."""
        found = self._timeline.in_force(seq, at)
        return (found.policy, found.statement) if found is not None else None

    @property
    def entries(self) -> int:
        """How many records have been consumed."""
        return self._history.observed

    # -- internals ---------------------------------------------------------------------------
    def _check_next(self, record: LogRecord) -> None:
        h = self._history
        if record.seq <= h.last_seq:
            raise RecordOrderError(
                f"expected a record after seq {h.last_seq}, found seq {record.seq}"
            )
        if h.last_recorded_at is not None and record.recorded_at < h.last_recorded_at:
            raise RecordOrderError(
                f"recorded_at must never decrease: seq {record.seq} at "
                f"{format_time(record.recorded_at)} follows {format_time(h.last_recorded_at)}"
            )

    def _keep(self, record: LogRecord, judgement: Judgement) -> None:
        st = record.statement
        verdict = judgement.verdict
        self._history.verdicts[st.id] = verdict
        if judgement.valid_citations is not None:
            self._history.valid_citations[st.id] = judgement.valid_citations
        if judgement.comes_into_force is not None:
            effective_at = getattr(st, "effective_at", record.recorded_at)
            self._timeline.adopt(
                judgement.comes_into_force,
                st.id,
                seq=record.seq,
                recorded_at=record.recorded_at,
                effective_at=effective_at,
            )
        if verdict.verdict == "noncompliant":
            return  # SPEC §5: only what met the policy can later be invalidated
        for relied in judgement.relies_on:
            rid = relied.statement.id
            self._relied_by.setdefault(rid, []).append(st.id)
            if rid not in self._tracked:
                self._tracked.add(rid)
                for key_id in relied.signer_key_ids:
                    self._signed_by.setdefault(key_id, []).append(rid)

    def _apply_voiding(self, record: LogRecord) -> None:
        """SPEC §5: a voiding entry recorded after J invalidates J if no rule failed."""
        st = record.statement
        h = self._history
        match st:
            case KeyRevoked() if st.compromised_since is not None:
                since = st.compromised_since
                # A key is revoked once (SPEC §2), so each signed statement is visited once.
                for sid in self._signed_by.pop(st.key_id, ()):
                    if since <= h.records[sid].recorded_at:
                        for jid in self._relied_by.get(sid, ()):
                            self._invalidate(jid, st.id)
            case AttestationWithdrawn():
                target = h.records.get(st.statement)
                if target is None or target.statement.type not in WITHDRAWABLE_TYPES:
                    return
                for jid in self._relied_by.get(st.statement, ()):
                    # SPEC §5: withdrawn with invalid_from ≤ t, t being J's recorded_at.
                    if st.invalid_from <= h.records[jid].recorded_at:
                        self._invalidate(jid, st.id)
            case _:
                pass

    def _invalidate(self, statement_id: str, by: str) -> None:
        verdicts = self._history.verdicts
        pending = [statement_id]
        while pending:
            sid = pending.pop()
            v = verdicts[sid]
            if v.verdict not in ("compliant", "invalidated") or by in v.invalidated_by:
                continue
            verdicts[sid] = replace(
                v, verdict="invalidated", invalidated_by=(*v.invalidated_by, by)
            )
            # SPEC §5 evidence.compliant: a cited statement that is invalidated makes J
            # invalidated; every J relying on this one goes with it.
            pending.extend(j for j in self._relied_by.get(sid, ()) if j != sid)


def judge(records: Iterable[LogRecord]) -> list[Verdict]:
    """Every verdict of a whole log (SPEC §5), in seq order."""
    engine = ComplianceEngine()
    for record in records:
        engine.add(record)
    return engine.verdicts()
