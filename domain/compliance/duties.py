"""Duties over time (policy v2, docs/rules.md "Duties"): which are open, met late, or missed.

A policy v2 document names duties (`domain.policy_v2`): a periodic one ("a Risk Report every 3–6
months"), a triggered one ("within 30 days of a model coming into scope") and a review window
("external reviewers receive the report within 7 days of the Board"). The `DutyTracker` follows
them through the log in one pass, beside the engine:

- an amendment taking effect opens the periodic duties of the policy now in force, and ends the
  open duties it no longer imposes;
- a statement recorded under a policy opens the triggered duties and review windows it starts,
  and discharges the open duty it meets (late if recorded after the deadline), which for a
  periodic duty opens the next period;
- a duty still open after its deadline is overdue; if it is then discharged the discharge is
  late, if an amendment ends it, it stays missed for good.

Invariants:
- time only moves forward: `advance(t)` processes, in time order, every amendment taking effect
  at or before t and every deadline strictly before t (a duty met *at* its deadline is met); an
  amendment taking effect at the very instant of a deadline comes first, since the policy in force
  at the deadline decides whether the duty is still owed;
- at most one duty is open per key (duty id, subject): the subject is `ORG` for a periodic duty,
  the model for a triggered duty and the reviewed statement for a review window;
- a deadline is fixed when the duty opens, by the policy in force then; an amendment that keeps
  the duty (same id and kind) keeps its deadline, one that drops it ends it;
- `assess` changes nothing (it serves judging and dry runs alike); `apply` records what a record
  did; `missed(as_of)` projects forward on a copy, so asking never moves the tracker's clock;
- nothing rescans the log: open duties are a dict, deadlines and amendments two heaps, and each
  record touches only the duties of the policy in force for it.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.ids import format_time
from domain.log import LogRecord
from domain.policy_v2 import Duty, PeriodicDuty, ReviewWindowDuty, TriggeredDuty
from domain.statements import (
    GovernanceNotified,
    Statement,
    cited_ids,
    matches,
    statement_model,
)

from . import rules as R
from .determinations import number
from .history import History
from .timeline import InForce, PolicyTimeline

ORG = ""  # the subject of an organisation's periodic duty
Key = tuple[str, str]  # (duty id, subject)

RULE_OF_KIND: dict[str, str] = {
    "periodic": R.DUTY_PERIODIC,
    "triggered": R.DUTY_TRIGGERED,
    "review_window": R.DUTY_REVIEW_WINDOW,
}


def _article(word: str) -> str:
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def _in_days(delta: timedelta) -> str:
    n = delta / timedelta(days=1)
    return f"{n:.6g} day{'' if n == 1 else 's'}"


def deadline_after(start: datetime, window: timedelta | None) -> datetime | None:
    """`start` + `window`, or None when that is beyond the calendar (the duty never falls due)."""
    if window is None:
        return None
    try:
        return start + window
    except OverflowError:
        return None


@dataclass(frozen=True, slots=True)
class OpenDuty:
    """A duty owed: what is due, about what, by when, and what started its clock."""

    duty: Duty
    policy: str  # `id@version` of the policy under which it opened
    subject: str
    anchor: str  # id of the statement that started the clock (the amendment, for a first period)
    anchor_seq: int
    start: datetime
    since: str  # how the clock started, in an auditor's words
    deadline: datetime | None

    @property
    def key(self) -> Key:
        return (self.duty.id, self.subject)

    @property
    def rule(self) -> str:
        return RULE_OF_KIND[self.duty.kind]

    def what(self) -> str:
        kind = self.duty.statement
        match self.duty:
            case TriggeredDuty():
                return f"{_article(kind)} {kind} about model {self.subject!r}"
            case ReviewWindowDuty():
                return f"{_article(kind)} {kind} citing {self.subject!r}"
            case _:
                return f"{_article(kind)} {kind}"

    def due(self) -> str:
        """`risk-report.cadence (anthropic-rsp@3.0): a risk_report_published was due by …`."""
        by = format_time(self.deadline) if self.deadline is not None else "never"
        return (
            f"{self.duty.id} ({self.policy}): {self.what()} was due by {by} "
            f"({number(self.duty.window_days)} days after {self.since})"
        )


@dataclass(frozen=True, slots=True)
class MissedDuty:
    """A duty overdue at `as_of` with nothing recorded to meet it."""

    duty: OpenDuty
    as_of: datetime

    @property
    def rule(self) -> str:
        return self.duty.rule

    @property
    def anchor(self) -> str:
        return self.duty.anchor

    @property
    def message(self) -> str:
        return f"{self.duty.due()}; none was recorded by {format_time(self.as_of)}"


@dataclass(frozen=True, slots=True)
class DutyEffect:
    """What one record does to the duties, as `assess` found it."""

    # duty rules evaluated for the record (it discharged an open duty) and why each failed
    checks: dict[str, list[str]] = field(default_factory=dict)
    closes: tuple[Key, ...] = ()
    opens: tuple[OpenDuty, ...] = ()
    # review windows met before they opened (a request already made for the statement)
    met: tuple[Key, ...] = ()

    @property
    def judged(self) -> bool:
        """True when the record met or started a duty, so that it gets a verdict."""
        return bool(self.checks or self.opens)


NO_EFFECT = DutyEffect()


class DutyTracker:
    """The duties of the policies in force, followed through the log (see the module)."""

    __slots__ = (
        "_deadlines",
        "_missed",
        "_open",
        "_overdue",
        "_pending",
        "_policy",
        "_tick",
        "_windows_used",
    )

    def __init__(self) -> None:
        self._open: dict[Key, OpenDuty] = {}
        self._overdue: set[Key] = set()
        # overdue duties that an amendment then ended: missed for good
        self._missed: list[OpenDuty] = []
        # heaps: (deadline, tick, key) and (effective time, seq) of amendments not yet in effect
        self._deadlines: list[tuple[datetime, int, Key]] = []
        self._pending: list[tuple[datetime, int]] = []
        # review windows that opened or were met early: each opens at most once
        self._windows_used: set[Key] = set()
        self._policy: str | None = None  # the amendment in force at the clock
        self._tick = 0

    # -- time ----------------------------------------------------------------------------------
    def takes_effect(self, effective: datetime, seq: int) -> None:
        """An amendment came into force, to take effect at `effective` (SPEC §4)."""
        heapq.heappush(self._pending, (effective, seq))

    def advance(self, t: datetime, timeline: PolicyTimeline) -> None:
        """Move the clock to `t`: amendments taking effect at or before t, deadlines before t."""
        while True:
            policy_at = self._pending[0][0] if self._pending else None
            if policy_at is not None and policy_at > t:
                policy_at = None
            deadline = self._deadlines[0][0] if self._deadlines else None
            if deadline is not None and deadline >= t:
                deadline = None
            if policy_at is None and deadline is None:
                return
            if policy_at is not None and (deadline is None or policy_at <= deadline):
                heapq.heappop(self._pending)
                self._take_effect(policy_at, timeline)
            else:
                _, _, key = heapq.heappop(self._deadlines)
                found = self._open.get(key)
                if found is not None and found.deadline == deadline:
                    self._overdue.add(key)

    def at(self, t: datetime, timeline: PolicyTimeline) -> DutyTracker:
        """The tracker as it would be at `t`: itself if nothing happens by then, else a copy."""
        due = (self._pending and self._pending[0][0] <= t) or (
            self._deadlines and self._deadlines[0][0] < t
        )
        if not due:
            return self
        probe = self.copy()
        probe.advance(t, timeline)
        return probe

    def missed(self, as_of: datetime, timeline: PolicyTimeline) -> list[MissedDuty]:
        """The duties missed by `as_of`: overdue then, with nothing recorded to meet them."""
        probe = self.at(as_of, timeline)
        found = [*probe._missed, *(probe._open[k] for k in probe._overdue)]
        found.sort(key=lambda d: (d.anchor_seq, d.deadline or d.start, d.duty.id, d.subject))
        return [MissedDuty(d, as_of) for d in found]

    def copy(self) -> DutyTracker:
        other = DutyTracker()
        other._open = dict(self._open)
        other._overdue = set(self._overdue)
        other._missed = list(self._missed)
        other._deadlines = list(self._deadlines)
        other._pending = list(self._pending)
        other._windows_used = set(self._windows_used)
        other._policy = self._policy
        other._tick = self._tick
        return other

    @property
    def open_duties(self) -> list[OpenDuty]:
        """The duties open at the clock, overdue or not, by deadline."""
        return sorted(self._open.values(), key=lambda d: (d.deadline or d.start, d.anchor_seq))

    # -- records -------------------------------------------------------------------------------
    def assess(self, record: LogRecord, in_force: InForce, history: History) -> DutyEffect:
        """What `record`, judged under `in_force`, does to the duties; changes nothing."""
        st = record.statement
        policy = in_force.policy
        if st.type not in policy.duty_statement_types:
            return NO_EFFECT  # most records start and meet no duty
        t = record.recorded_at
        checks: dict[str, list[str]] = {}
        closes: list[Key] = []
        opens: list[OpenDuty] = []
        met: list[Key] = []

        def discharge(key: Key) -> None:
            found = self._open.get(key)
            if found is None:
                return
            checks.setdefault(found.rule, []).extend(_lateness(found, t))
            closes.append(key)

        def start(duty: Duty, subject: str) -> None:
            deadline = deadline_after(t, duty.window)
            since = f"{st.id!r} at {format_time(t)}"
            opens.append(
                OpenDuty(duty, policy.label, subject, st.id, record.seq, t, since, deadline)
            )

        for duty in policy.duties_imposed():
            match duty:
                case PeriodicDuty() if st.type == duty.statement:
                    # The next period runs from this one, whether it was on time or late.
                    discharge((duty.id, ORG))
                    start(duty, ORG)
                case TriggeredDuty():
                    model = statement_model(st)
                    if model is None:
                        continue
                    if st.type == duty.statement:
                        discharge((duty.id, model))
                    elif (
                        st.type == duty.trigger
                        and matches(st, duty.when or {})
                        and (duty.id, model) not in self._open
                    ):
                        start(duty, model)
                case ReviewWindowDuty():
                    if st.type == duty.statement:
                        for reviewed in _reviewed(st, duty, history):
                            key = (duty.id, reviewed)
                            if key in self._open:
                                discharge(key)
                            elif key not in self._windows_used:
                                met.append(key)
                    elif (notice := _window_opened_by(st, duty, history)) is not None:
                        key = (duty.id, notice.regarding)
                        if key not in self._open and key not in self._windows_used:
                            start(duty, notice.regarding)
                case _:
                    pass
        if not (checks or closes or opens or met):
            return NO_EFFECT
        return DutyEffect(checks, tuple(closes), tuple(opens), tuple(met))

    def apply(self, effect: DutyEffect) -> None:
        """Record what a record did (the effect `assess` found for it)."""
        for key in effect.closes:
            self._open.pop(key, None)
            self._overdue.discard(key)
        for duty in effect.opens:
            self._start(duty)
        self._windows_used.update(effect.met)

    # -- internals -----------------------------------------------------------------------------
    def _start(self, duty: OpenDuty) -> None:
        self._open[duty.key] = duty
        if isinstance(duty.duty, ReviewWindowDuty):
            self._windows_used.add(duty.key)
        if duty.deadline is not None:
            self._tick += 1
            heapq.heappush(self._deadlines, (duty.deadline, self._tick, duty.key))

    def _take_effect(self, effective: datetime, timeline: PolicyTimeline) -> None:
        found = timeline.in_force(sys.maxsize, effective)
        if found is None or found.statement == self._policy:
            return
        self._policy = found.statement
        imposed = {d.id: d for d in found.policy.duties_imposed()}
        for key, duty in list(self._open.items()):
            kept = imposed.get(duty.duty.id)
            if kept is not None and kept.kind == duty.duty.kind:
                continue
            # No longer imposed: a duty not yet due ends; an overdue one stays missed.
            del self._open[key]
            if key in self._overdue:
                self._overdue.discard(key)
                self._missed.append(duty)
        for duty_def in imposed.values():
            if isinstance(duty_def, PeriodicDuty) and (duty_def.id, ORG) not in self._open:
                label = found.policy.label
                self._start(
                    OpenDuty(
                        duty_def,
                        label,
                        ORG,
                        found.statement,
                        found.seq,
                        effective,
                        f"{label} took effect ({found.statement!r}, {format_time(effective)})",
                        deadline_after(effective, duty_def.window),
                    )
                )


def _lateness(duty: OpenDuty, t: datetime) -> list[str]:
    # A duty met at its very deadline is met ("within 30 days": day 30 holds, day 31 fails).
    if duty.deadline is None or t <= duty.deadline:
        return []
    return [
        f"{duty.due()}; this one was recorded {format_time(t)}, {_in_days(t - duty.deadline)} late"
    ]


def _reviewed(st: Statement, duty: ReviewWindowDuty, history: History) -> Iterable[str]:
    """The statements of the reviewed type that a discharging statement cites."""
    for cited in cited_ids(st):
        record = history.get(cited)
        if record is not None and record.statement.type == duty.regarding:
            yield cited


def _window_opened_by(
    st: Statement, duty: ReviewWindowDuty, history: History
) -> GovernanceNotified | None:
    """`st`, when it is a notice naming one of the duty's bodies about a statement the duty
    reviews (recorded before it, of the reviewed type, meeting the duty's condition)."""
    if not isinstance(st, GovernanceNotified) or not set(st.bodies) & set(duty.notified):
        return None
    reviewed = history.get(st.regarding)
    if (
        reviewed is None
        or reviewed.statement.type != duty.regarding
        or not matches(reviewed.statement, duty.when or {})
    ):
        return None
    return st
