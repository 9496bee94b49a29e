"""The compliance engine: one pass over the log, a verdict per judged statement (SPEC §4, §5).

It is the one source of truth for verdicts: the offline verifier, the ledger's `check`/`submit`
warnings and the projections all call it.

Invariants:
- records are consumed in seq order (strictly increasing seq, non-decreasing `recorded_at`); each
  is judged against exactly the records before it, then observed;
- a verdict never changes after it is given, except from `compliant` (or `invalidated`) to
  `invalidated` when an entry recorded later voids what it relied on (SPEC §5 "Void evidence");
- duties over time (policy v2, docs/rules.md "Duties") are followed by a `DutyTracker` whose
  clock moves with the records; a duty missed by `as_of` (by default, the last record's time:
  "the log ends here") is shown in `verdicts(as_of)` as a failed duty rule on the statement that
  started the duty's clock. That is a view computed when asked: the stored verdicts, and the
  tracker, are unchanged by asking, so the engine can go on consuming records. A log under v1
  policies has no duties, and its verdicts are exactly SPEC §5's;
- nothing is rescanned: a later voiding reaches the verdicts it affects through reverse indexes
  (statement → verdicts relying on it, key → relied-upon statements it signed), and every other
  question is answered by the indexes of `History` and the open duties of the tracker. Work is
  linear in the size of the log plus the citations it contains.
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
from domain.statements import AttestationWithdrawn, KeyRevoked, statement_model

from . import rules as R
from .duties import NO_EFFECT, DutyEffect, DutyTracker, MissedDuty, OpenDuty
from .history import History
from .judging import Judgement, judge_record
from .kept import DEFAULT_WINDOW, RecordStore
from .timeline import PolicyTimeline
from .verdicts import FailedRule, Verdict


class RecordOrderError(VerificationError):
    """Records were given out of seq order, or with `recorded_at` going back in time."""


class ComplianceEngine:
    """Judges a log one record at a time (SPEC §5), keeping verdicts up to date."""

    __slots__ = (
        "_any_duties",
        "_duties",
        "_history",
        "_relied_by",
        "_signed_by",
        "_timeline",
    )

    def __init__(self, *, whole_records: int | None = DEFAULT_WINDOW) -> None:
        """`whole_records`: how many of the latest records to keep whole; older ones are kept
        compact, so that a million stay within memory (kept.py). None keeps every one whole."""
        self._history = History(records=RecordStore(whole_records))
        self._timeline = PolicyTimeline()
        self._duties = DutyTracker()
        self._any_duties = False
        # statement id → ids of judged statements relying on it (not noncompliant), in seq order
        self._relied_by: dict[str, list[str]] = {}
        # key id → ids of relied-upon statements it signed (SPEC §5: a compromise voids them)
        self._signed_by: dict[str, list[str]] = {}

    # -- consuming the log -------------------------------------------------------------------
    def add(self, record: LogRecord) -> Verdict | None:
        """Judge `record` as the next entry, remember it, and return its verdict if judged."""
        self._check_next(record)
        self._duties.advance(record.recorded_at, self._timeline)
        effect = self._duty_effect(record, self._duties)
        judgement = judge_record(record, self._history, self._timeline, effect)
        if judgement is not None:
            self._keep(record, judgement)
        if effect is not NO_EFFECT:
            self._duties.apply(effect)
        self._history.observe(record)
        self._apply_voiding(record)
        return judgement.verdict if judgement is not None else None

    def preview(self, record: LogRecord) -> Verdict | None:
        """The verdict `record` would get as the next entry; changes nothing (a dry run)."""
        self._check_next(record)
        duties = self._duties.at(record.recorded_at, self._timeline)
        effect = self._duty_effect(record, duties)
        judgement = judge_record(record, self._history, self._timeline, effect)
        return judgement.verdict if judgement is not None else None

    def verdicts(self, as_of: datetime | None = None) -> list[Verdict]:
        """Every verdict so far, in seq order, with later invalidations applied, and with the
        duties missed by `as_of` (default: the last record's `recorded_at`, where the log ends)
        shown on the statements that started them (docs/rules.md "Duties")."""
        stored = self._history.verdicts
        missed = self._missed_by_anchor(as_of)
        if not missed:
            return list(stored.values())
        out = [
            _with_missed(v, missed.pop(v.statement)) if v.statement in missed else v
            for v in stored.values()
        ]
        if missed:  # an anchor with no verdict of its own (not expected; kept honest anyway)
            out.extend(self._verdict_for(sid, found) for sid, found in missed.items())
            out.sort(key=lambda v: v.seq)
        return out

    def verdict_of(self, statement_id: str, as_of: datetime | None = None) -> Verdict | None:
        """The verdict of one statement, as `verdicts(as_of)` lists it."""
        verdict = self._history.verdicts.get(statement_id)
        if verdict is None:
            return None
        found = self._missed_by_anchor(as_of).get(statement_id)
        return _with_missed(verdict, found) if found else verdict

    def open_duties(self, as_of: datetime | None = None) -> list[OpenDuty]:
        """The duties owed at `as_of` (default: the last record's `recorded_at`), overdue or not,
        soonest deadline first."""
        at = self._as_of(as_of)
        return [] if at is None else self._duties.at(at, self._timeline).open_duties

    def overdue(self, as_of: datetime | None = None) -> list[MissedDuty]:
        """The duties missed by `as_of` (default: the last record's `recorded_at`): overdue then,
        with nothing recorded to meet them. `as_of` may not precede the last record."""
        at = self._as_of(as_of)
        return [] if at is None else self._duties.missed(at, self._timeline)

    def policy_in_force(self, seq: int, at: datetime) -> tuple[PolicyDocument, str] | None:
        """SPEC §4: the policy in force for an entry at `seq` recorded at `at`, and the id of the
        `policy_adopted` statement that brought it; None when there is none."""
        found = self._timeline.in_force(seq, at)
        return (found.policy, found.statement) if found is not None else None

    @property
    def history(self) -> History:
        """The indexes over the records consumed so far, to read and never to change (the
        projections' `StateTracker` reads them instead of keeping a second copy). Records older
        than the latest `whole_records` come back compact (kept.py)."""
        return self._history

    @property
    def entries(self) -> int:
        """How many records have been consumed."""
        return self._history.observed

    # -- internals ---------------------------------------------------------------------------
    def _duty_effect(self, record: LogRecord, duties: DutyTracker) -> DutyEffect:
        if not self._any_duties:  # no policy with duties ever came into force: a v1 log
            return NO_EFFECT
        in_force = self._timeline.in_force(record.seq, record.recorded_at)
        if in_force is None or not in_force.policy.duties_imposed():
            return NO_EFFECT
        return duties.assess(record, in_force, self._history)

    def _as_of(self, as_of: datetime | None) -> datetime | None:
        last = self._history.last_recorded_at
        if as_of is None:
            return last
        if last is not None and as_of < last:
            raise RecordOrderError(
                f"as_of {format_time(as_of)} is before the last record's recorded_at "
                f"{format_time(last)}: verdicts cannot be taken back to an earlier time"
            )
        return as_of

    def _missed_by_anchor(self, as_of: datetime | None) -> dict[str, list[MissedDuty]]:
        by_anchor: dict[str, list[MissedDuty]] = {}
        for m in self.overdue(as_of):
            by_anchor.setdefault(m.anchor, []).append(m)
        return by_anchor

    def _verdict_for(self, statement_id: str, missed: list[MissedDuty]) -> Verdict:
        record = self._history.records[statement_id]
        st = record.statement
        base = Verdict(
            seq=record.seq,
            statement=st.id,
            type=st.type,
            model=statement_model(st),
            policy=missed[0].duty.policy,
            verdict="compliant",
        )
        return _with_missed(base, missed)

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
            adopted = self._timeline.adopt(
                judgement.comes_into_force,
                st.id,
                seq=record.seq,
                recorded_at=record.recorded_at,
                effective_at=effective_at,
            )
            # Duties follow the policy in force from the moment it takes effect.
            self._duties.takes_effect(adopted.effective, record.seq)
            self._any_duties = self._any_duties or bool(adopted.policy.duties_imposed())
        if verdict.verdict == "noncompliant":
            return  # SPEC §5: only what met the policy can later be invalidated
        for relied in judgement.relies_on:
            rid = relied.statement.id
            relying = self._relied_by.get(rid)
            if relying is None:  # relied upon for the first time: index its signers once
                relying = self._relied_by[rid] = []
                for key_id in relied.signer_key_ids:
                    self._signed_by.setdefault(key_id, []).append(rid)
            relying.append(st.id)

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


def _with_missed(verdict: Verdict, missed: list[MissedDuty]) -> Verdict:
    """`verdict` with the duties it started and that were missed, as failed duty rules."""
    reasons: dict[str, list[str]] = {f.rule: [f.message] for f in verdict.failed}
    for m in missed:
        reasons.setdefault(m.rule, []).append(m.message)
    failed = tuple(
        FailedRule(rule, "; ".join(reasons[rule])) for rule in R.ALL_RULE_IDS if rule in reasons
    )
    checked = {*verdict.checked, *(m.rule for m in missed)}
    return replace(
        verdict,
        verdict="noncompliant",
        failed=failed,
        invalidated_by=(),
        checked=tuple(rule for rule in R.ALL_RULE_IDS if rule in checked),
    )


def judge(records: Iterable[LogRecord]) -> list[Verdict]:
    """Every verdict of a whole log (SPEC §5), in seq order."""
    engine = ComplianceEngine()
    for record in records:
        engine.add(record)
    return engine.verdicts()
