"""Folds the log into per-model and organisation-wide facts, beside the compliance engine.

The tracker owns a `ComplianceEngine` (the one source of truth for verdicts and for the policy in
force) and reads the engine's own `History`, so that every index it reads — greatest compute,
latest determination, notifications, withdrawals, the registry, the citations that pass
`evidence.cited` — is the engine's own definition, not a re-implementation, and is kept once.

The engine keeps only its latest records whole (domain/compliance/kept.py); the facts hold the
findings and attestations a determination validly cites *whole*, as they were recorded (a status
shows them, and the rows store their every field). So the tracker keeps the latest `window`
findings and attestations whole itself, and reads an older one back whole through `whole(seq)`,
a function its caller gives (a projection reads the entry from the log). Without `whole`, it
keeps every finding and attestation whole.

Each record has a **home**: the model it concerns, else the home of the statement it is about (a
withdrawal, a notification, a noncompliance report), else `ORG`. Facts, verdicts and timeline
events are kept per home.

Invariants:
- records are added in seq order (the engine refuses anything else);
- `add` reports every verdict the record changed: its own, and the earlier ones it invalidated
  (SPEC §5 "Void evidence"), so that a projection can write exactly the rows that changed;
- a timeline event is emitted once, when its record is added, and never changes afterwards;
- every record the facts hold is whole: equal to the record added, whatever `window` is.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Container
from datetime import datetime
from sys import intern
from typing import Any, NamedTuple

from domain.compliance import ComplianceEngine, RecordOrderError, Verdict
from domain.compliance.determinations import number
from domain.compliance.kept import DEFAULT_WINDOW
from domain.ids import format_time
from domain.log import LogRecord
from domain.statements import (
    AttestationWithdrawn,
    CapabilityDetermination,
    CapabilityFinding,
    ComputeMeasured,
    DeploymentDecision,
    GovernanceNotified,
    KeyRevoked,
    ModelRegistered,
    NoncomplianceReported,
    PolicyAdopted,
    SafeguardAttestation,
    SafeguardsDetermination,
    Statement,
    cited_ids,
    parse_statement,
    statement_model,
)

from .facts import (
    ORG,
    Adoption,
    DeterminationFacts,
    ModelFacts,
    OrgFacts,
    SafeguardsFacts,
)

_DETERMINATIONS = (CapabilityDetermination, SafeguardsDetermination)
_CITABLE = (CapabilityFinding, SafeguardAttestation)  # what a determination validly cites
_VOIDING = (AttestationWithdrawn, KeyRevoked)  # SPEC §5 "Void evidence"
_ORG_TIMELINE = (PolicyAdopted, SafeguardAttestation, SafeguardsDetermination, AttestationWithdrawn)


class _Frozen(NamedTuple):
    """A record kept as its statement's JSON (the fields set only): a third of the typed
    statement's size. Every safeguards determination's facts are kept for the whole log, and
    read back as they were: `parse_statement` of that JSON gives an equal statement with the
    same fields set (the round trip the projection's rows rely on, domain/state/facts.py)."""

    seq: int
    recorded_at: datetime
    signer_key_ids: tuple[str, ...]
    statement: str


def _freeze(record: LogRecord) -> _Frozen:
    text = record.statement.model_dump_json(exclude_unset=True)
    return _Frozen(record.seq, record.recorded_at, record.signer_key_ids, text)


def _thaw(frozen: _Frozen) -> LogRecord:
    statement = parse_statement(json.loads(frozen.statement))
    return LogRecord(frozen.seq, frozen.recorded_at, statement, frozen.signer_key_ids)


class TimelineEvent(NamedTuple):
    """An entry that changed a model's state (or the organisation's), as it was then.

    (A named tuple, immutable like a frozen dataclass but built several times faster: a rebuild
    makes one per entry.)"""

    key: str  # the model, or ORG
    seq: int
    recorded_at: datetime
    type: str
    statement: str
    policy: str | None  # `id@version` in force for the entry (SPEC §4), or None
    change: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "recorded_at": format_time(self.recorded_at),
            "type": self.type,
            "statement": self.statement,
            "policy": self.policy,
            "change": self.change,
        }


class Step(NamedTuple):
    """What adding one record changed."""

    home: str
    verdict: Verdict | None
    # earlier statements this record invalidated, with their new verdicts
    invalidated: tuple[Verdict, ...]
    events: tuple[TimelineEvent, ...]


def about(statement: Statement) -> str | None:
    """The statement a model-less statement is about, if any (its home follows that one's)."""
    match statement:
        case AttestationWithdrawn():
            return statement.statement
        case GovernanceNotified():
            return statement.regarding
        case NoncomplianceReported():
            return statement.regarding
        case _:
            return None


def home_of(statement: Statement, home_of_earlier: dict[str, str]) -> str:
    """The home of a statement, given the homes of the statements recorded before it."""
    model = statement_model(statement)
    if model is not None:
        return model
    target = about(statement)
    if target is not None:
        return home_of_earlier.get(target, ORG)
    return ORG


class StateTracker:
    """Per-model and organisation-wide facts, verdicts and timeline, one record at a time.

    `timeline_for` names the homes whose timeline events are kept (None: all of them); events
    of the others are still returned by `add`, just not remembered.
    """

    def __init__(
        self,
        *,
        timeline_for: Container[str] | None = None,
        whole: Callable[[int], LogRecord] | None = None,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        """`whole(seq)`: the record at `seq`, whole, for a finding or attestation cited after
        more than `window` others were recorded (None: keep every one whole). `window` is also
        how many records the engine keeps whole."""
        self.engine = ComplianceEngine(whole_records=window)
        self._h = self.engine.history
        self._whole = whole
        self._window = window if whole is not None else None
        # the latest `window` findings and attestations, whole, by statement id
        self._citable: dict[str, LogRecord] = {}
        self._citable_order: deque[str] = deque()
        self._home: dict[str, str] = {}
        self._first_seq: dict[str, int] = {}
        self._judged: dict[str, list[str]] = {}
        self._registration: dict[str, LogRecord] = {}
        self._latest: dict[str, tuple[LogRecord, tuple[LogRecord, ...]]] = {}
        # every safeguards determination and the attestations it validly cites, frozen
        self._safeguards: dict[str, list[tuple[_Frozen, tuple[_Frozen, ...]]]] = {}
        self._deployments: dict[str, dict[str, LogRecord]] = {}
        self._adoptions: list[Adoption] = []
        self._cited_by: dict[str, str | list[str]] = {}
        self._timeline_for = timeline_for
        self._timeline: dict[str, list[TimelineEvent]] = {}
        self._has_duties = False
        self.last_seq = -1
        self.last_recorded_at: datetime | None = None

    # -- consuming the log -----------------------------------------------------------------
    def add(self, record: LogRecord) -> Step:
        st = record.statement
        sid = st.id
        seq = record.seq
        # One copy of each home and type for the whole log: the timeline events hold them.
        home = intern(home_of(st, self._home))
        in_force = self.engine.policy_in_force(seq, record.recorded_at)
        # One copy of each label for the whole log: a timeline event per entry holds it.
        policy = intern(in_force[0].label) if in_force is not None else None
        registered = self._h.registered_models
        parent_known = (
            isinstance(st, ModelRegistered) and st.parent is not None and st.parent in registered
        )
        first_registration = isinstance(st, ModelRegistered) and st.model not in registered
        # The engine observes the record into the history the tracker reads: all of the above
        # reads what came before it.
        verdict = self.engine.add(record)
        valid: tuple[LogRecord, ...] = ()
        if isinstance(st, _DETERMINATIONS):
            # SPEC §5 "Bad citations": the citations that passed evidence.cited, as the engine
            # has just judged them (against the records before this one).
            valid = tuple(map(self._whole_cited, self._h.valid_citations.get(sid, ())))
        invalidated = self._invalidated_by(record) if isinstance(st, _VOIDING) else ()
        if isinstance(st, _CITABLE):
            self._keep_citable(record)

        self._home.setdefault(sid, home)
        self._first_seq.setdefault(home, seq)
        if verdict is not None:
            self._judged.setdefault(home, []).append(sid)
        for cited in cited_ids(st):
            if cited in self._home and cited != sid:
                # One citer (the common case) is kept as its id, more as a list.
                citing = self._cited_by.get(cited)
                if citing is None:
                    self._cited_by[cited] = sid
                elif isinstance(citing, str):
                    self._cited_by[cited] = [citing, sid]
                else:
                    citing.append(sid)
        self._fold(record, home, valid, first_registration)

        at = record.recorded_at
        kind = intern(st.type)
        events: list[TimelineEvent] = []
        # Organisation-wide entries are in the timeline when they change every model's state:
        # the rules in force and the organisation-wide safeguards.
        if home != ORG or isinstance(st, _ORG_TIMELINE):
            change = describe(record, self._adoptions)
            events.append(TimelineEvent(home, seq, at, kind, sid, policy, change))
        if parent_known and isinstance(st, ModelRegistered) and st.parent is not None:
            change = f"child model {st.model!r} registered"
            events.append(TimelineEvent(st.parent, seq, at, kind, sid, policy, change))
        if invalidated:
            by_home: dict[str, list[str]] = {}
            for v in invalidated:
                by_home.setdefault(self._home[v.statement], []).append(v.statement)
            for key, ids in sorted(by_home.items()):
                text = f"invalidated {', '.join(repr(i) for i in ids)}"
                merged = False
                for i, e in enumerate(events):
                    if e.key == key:
                        change = f"{e.change}; {text}"
                        events[i] = TimelineEvent(key, seq, at, kind, sid, policy, change)
                        merged = True
                if not merged:
                    events.append(TimelineEvent(key, seq, at, kind, sid, policy, text))
        wanted = self._timeline_for
        for e in events:
            if wanted is None or e.key in wanted:
                self._timeline.setdefault(e.key, []).append(e)
        self.last_seq = seq
        self.last_recorded_at = at
        return Step(home, verdict, invalidated, tuple(events))

    def _keep_citable(self, record: LogRecord) -> None:
        sid = record.statement.id
        if sid in self._citable:
            return  # SPEC §2: ids are unique; the first is the one kept (as the engine does)
        self._citable[sid] = record
        if self._window is None:
            return
        self._citable_order.append(sid)
        if len(self._citable_order) > self._window:
            del self._citable[self._citable_order.popleft()]

    def _whole_cited(self, cited_id: str) -> LogRecord:
        """A validly cited finding or attestation as it was recorded, all its fields."""
        found = self._citable.get(cited_id)
        if found is not None:
            return found
        cited = self._h.records[cited_id]
        if self._whole is None:  # not reached: without `whole`, every one is kept whole
            return cited
        record = self._whole(cited.seq)
        if record.seq != cited.seq or record.statement.id != cited.statement.id:
            raise RecordOrderError(
                f"whole({cited.seq}) gave {record.statement.id!r} at seq {record.seq}, "
                f"expected {cited.statement.id!r}"
            )
        return record

    def _fold(
        self,
        record: LogRecord,
        home: str,
        valid: tuple[LogRecord, ...],
        first_registration: bool,
    ) -> None:
        st = record.statement
        match st:
            case ModelRegistered() if first_registration:
                self._registration[st.model] = record
            case CapabilityDetermination():
                # SPEC §5 determination.latest: the latest by seq, whatever its verdict.
                self._latest[st.model] = (record, valid)
            case SafeguardsDetermination():
                frozen = (_freeze(record), tuple(map(_freeze, valid)))
                self._safeguards.setdefault(st.model or ORG, []).append(frozen)
            case DeploymentDecision():
                deployed = self._deployments.setdefault(st.model, {})
                if st.action == "deploy":
                    deployed[st.scope] = record
                else:
                    deployed.pop(st.scope, None)
            case PolicyAdopted():
                effective = max(st.effective_at, record.recorded_at)
                found = self.engine.policy_in_force(record.seq + 1, effective)
                came = found is not None and found[1] == st.id
                self._adoptions.append(Adoption(record, came))
                if came and found is not None and found[0].duties_imposed():
                    self._has_duties = True
            case _:
                pass

    def _invalidated_by(self, record: LogRecord) -> tuple[Verdict, ...]:
        """The earlier verdicts this record has just invalidated (SPEC §5 "Void evidence")."""
        st = record.statement
        candidates: list[str]
        match st:
            case AttestationWithdrawn():
                # Whatever relies on the target cites it, or cites what cites it.
                candidates = []
                seen = {st.statement}
                pending = [st.statement]
                while pending:
                    sid = pending.pop()
                    candidates.append(sid)
                    found = self._cited_by.get(sid, ())
                    for citing in (found,) if type(found) is str else found:
                        if citing not in seen:
                            seen.add(citing)
                            pending.append(citing)
            case KeyRevoked() if st.compromised_since is not None:
                # A compromise is rare and may void anything its key signed: look at everything.
                candidates = [sid for ids in self._judged.values() for sid in ids]
            case _:
                return ()
        changed: list[Verdict] = []
        for sid in candidates:
            v = self.engine.verdict_of(sid)
            if v is not None and st.id in v.invalidated_by:
                changed.append(v)
        changed.sort(key=lambda v: v.seq)
        return tuple(changed)

    # -- what it knows -----------------------------------------------------------------------
    def home(self, statement_id: str) -> str | None:
        return self._home.get(statement_id)

    def homes(self) -> list[str]:
        """Every home some entry has (models and ORG), sorted."""
        return sorted(self._first_seq)

    def models(self) -> list[str]:
        """Every model some entry concerns, sorted."""
        return sorted(k for k in self._first_seq if k != ORG)

    def verdicts_of(self, key: str, as_of: datetime | None = None) -> list[Verdict]:
        """The verdicts of the statements whose home is `key`, in seq order, as the engine gives
        them `as_of` a time (default: the last record's), with the duties missed by then (policy
        v2, docs/rules.md "Duties")."""
        out: list[Verdict] = []
        for sid in self._judged.get(key, ()):
            v = self.engine.verdict_of(sid, as_of)
            if v is not None:
                out.append(v)
        return out

    @property
    def has_duties(self) -> bool:
        """Whether a policy that imposes duties over time has come into force: then a verdict
        can change as time passes (a missed duty shows on the statement that started its
        clock), not only through the entries that void evidence."""
        return self._has_duties

    def duty_anchors(self, as_of: datetime | None = None) -> set[str]:
        """The statements whose verdicts show a duty missed by `as_of` (default: last record)."""
        return {m.anchor for m in self.engine.overdue(as_of)} if self._has_duties else set()

    def timeline_of(self, key: str) -> list[TimelineEvent]:
        return list(self._timeline.get(key, ()))

    def model_facts(self, model: str) -> ModelFacts:
        latest = self._latest.get(model)
        determination = None
        if latest is not None:
            record, findings = latest
            notified = tuple(sorted(self._h.notified.get(record.statement.id, ())))
            determination = DeterminationFacts(record, findings, notified)
        return ModelFacts(
            model=model,
            first_seq=self._first_seq.get(model, -1),
            registration=self._registration.get(model),
            greatest_compute=self._h.greatest_compute.get(model),
            determination=determination,
            deployments=tuple(sorted(self._deployments.get(model, {}).items())),
        )

    def org_facts(self) -> OrgFacts:
        registry = self._h.registry
        return OrgFacts(
            adoptions=tuple(self._adoptions),
            principals=tuple(registry.principals[p] for p in sorted(registry.principals)),
            keys=tuple(registry.keys[k] for k in sorted(registry.keys)),
            registrations=tuple(
                (m, r.seq, r.statement.parent if isinstance(r.statement, ModelRegistered) else None)
                for m, r in sorted(self._registration.items())
            ),
        )

    def safeguards_of(self, key: str) -> tuple[SafeguardsFacts, ...]:
        """The safeguards determinations of a model (or, for `ORG`, organisation-wide ones), in
        seq order, each with the withdrawals known so far of it and of its attestations."""
        out = []
        for frozen, frozen_attestations in self._safeguards.get(key, ()):
            record = _thaw(frozen)
            attestations = tuple(map(_thaw, frozen_attestations))
            targets = sorted({record.statement.id, *(a.statement.id for a in attestations)})
            withdrawals = tuple(
                (target, tuple(ws)) for target in targets if (ws := self._h.withdrawals.get(target))
            )
            out.append(SafeguardsFacts(record, attestations, withdrawals))
        return tuple(out)


# -- what each kind of entry changes, in an auditor's words ----------------------------------------


def describe(record: LogRecord, adoptions: list[Adoption]) -> str:
    st = record.statement
    match st:
        case ModelRegistered():
            parent = f", child of {st.parent!r}" if st.parent else ""
            return (
                f"registered as {st.name!r}{parent}, effective compute "
                f"{number(st.effective_compute)}"
            )
        case ComputeMeasured():
            return f"effective compute measured at {number(st.effective_compute)}"
        case CapabilityFinding():
            return (
                f"{st.assessment} finding for {st.threshold}: {st.outcome} at effective compute "
                f"{number(st.effective_compute)}"
            )
        case CapabilityDetermination():
            return (
                f"capability determination: requires deployment {st.required.deployment}, "
                f"security {st.required.security} ({len(st.findings)} findings cited)"
            )
        case SafeguardAttestation():
            whose = "organisation-wide" if st.model is None else f"for {st.model!r}"
            scopes = f", scopes {', '.join(st.scopes)}" if st.scopes else ""
            return (
                f"{st.standard} {st.part} safeguards attested {whose}{scopes}, valid until "
                f"{format_time(st.valid_until)}"
            )
        case SafeguardsDetermination():
            whose = "organisation-wide" if st.model is None else f"for {st.model!r}"
            return (
                f"{st.standard} safeguards determined {whose}, valid until "
                f"{format_time(st.valid_until)}"
            )
        case AttestationWithdrawn():
            return (
                f"{st.statement!r} withdrawn from {format_time(st.invalid_from)}: "
                f"{st.reason or 'no reason given'}"
            )
        case GovernanceNotified():
            return f"{', '.join(st.bodies)} notified regarding {st.regarding!r}"
        case DeploymentDecision():
            if st.action == "deploy":
                return f"deployed to {st.scope} under determination {st.determination!r}"
            return f"undeployed from {st.scope}"
        case NoncomplianceReported():
            regarding = f" regarding {st.regarding!r}" if st.regarding else ""
            return f"noncompliance reported{regarding}: {st.summary}"
        case PolicyAdopted():
            came = adoptions[-1].came_into_force if adoptions else False
            label = f"{st.policy.get('id')}@{st.policy.get('version')}"
            if came:
                effective = max(st.effective_at, record.recorded_at)
                return f"policy {label} adopted, in force from {format_time(effective)}"
            return f"policy {label} recorded but not in force (not approved or not valid)"
        case _:
            return st.type.replace("_", " ")
