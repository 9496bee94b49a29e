"""The engine's duties over time (docs/rules.md "Duties"): asking is a view, the clock moves only
with records, the boundaries, and v1 logs untouched. The rules themselves are shown holding and
failing in tests/scenarios/histories_v2.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.compliance import ComplianceEngine, RecordOrderError, judge
from domain.log import LogRecord
from tests.scenarios.histories import SCENARIOS as V1_SCENARIOS
from tests.scenarios.kit import (
    RISK_REPORT_CADENCE,
    Row,
    Scenario,
    adopt,
    amended,
    at,
    compute,
    in_scope,
    risk_report,
    setup_v2,
    v2_policy,
)

CENTURY = timedelta(days=36525)
MICROSECOND = timedelta(microseconds=1)


def records_of(rows: list[Row]) -> list[LogRecord]:
    return Scenario("probe", rows).records()


def engine_of(rows: list[Row]) -> ComplianceEngine:
    engine = ComplianceEngine()
    for record in records_of(rows):
        engine.add(record)
    return engine


@pytest.mark.parametrize("scenario", V1_SCENARIOS, ids=lambda s: s.name)
def test_a_v1_log_owes_no_duty_however_late_it_is_asked(scenario: Scenario) -> None:
    engine = ComplianceEngine()
    records = scenario.records()
    for record in records:
        engine.add(record)
    assert engine.overdue() == []
    assert engine.open_duties() == []
    assert engine.verdicts(as_of=records[-1].recorded_at + CENTURY) == engine.verdicts()


def test_asking_later_is_a_view_and_moves_no_clock() -> None:
    rows = [*setup_v2(), in_scope(10, "scope-1")]
    engine = engine_of(rows)
    before = engine.verdicts()
    assert engine.verdict_of("scope-1") == before[-1]
    assert before[-1].verdict == "compliant"
    later = engine.verdicts(as_of=at(41))
    assert later[-1].failed_rules == ("duty.triggered",)
    assert engine.verdict_of("scope-1", as_of=at(41)) == later[-1]
    # Asking changed nothing: the log still ends on day 10.
    assert engine.verdicts() == before
    assert [d.duty.id for d in engine.open_duties()] == [
        "in-scope.discussion",
        "risk-report.cadence",
    ]
    # The log goes on to day 40, the last day of the window: nothing is missed yet.
    engine.add(records_of([*rows, compute(40, "cm-1", 2e25)])[-1])
    assert engine.overdue() == []
    assert engine.verdicts() == before


def test_as_of_cannot_go_back_before_the_last_record() -> None:
    engine = engine_of([*setup_v2(), in_scope(10, "scope-1")])
    for ask in (engine.verdicts, engine.overdue, engine.open_duties):
        with pytest.raises(RecordOrderError, match="before the last record"):
            ask(at(9))


def test_a_dry_run_in_the_future_moves_no_clock() -> None:
    rows = [*setup_v2(), in_scope(10, "scope-1")]
    engine = engine_of(rows)
    # A dry run of a record on day 300 sees the duty missed ...
    far = records_of([*rows, compute(300, "cm-1", 2e25)])[-1]
    assert engine.preview(far) is None
    # ... but the next real record may come sooner, and then nothing is missed.
    near = records_of([*rows, compute(20, "cm-1", 2e25)])[-1]
    engine.add(near)
    assert engine.overdue() == []


def test_a_dry_run_of_a_late_discharge_sees_it_late() -> None:
    from tests.scenarios.kit import discussion

    rows = [*setup_v2(), in_scope(10, "scope-1")]
    engine = engine_of(rows)
    late = records_of([*rows, discussion(41, "disc-1")])[-1]
    verdict = engine.preview(late)
    assert verdict is not None and verdict.failed_rules == ("duty.triggered",)
    on_time = records_of([*rows, discussion(40, "disc-1")])[-1]
    verdict = engine.preview(on_time)
    assert verdict is not None and verdict.verdict == "compliant"


def test_judge_reports_duties_missed_by_the_last_entry() -> None:
    rows = [*setup_v2(), in_scope(10, "scope-1"), compute(41, "cm-1", 2e25)]
    verdicts = {v.statement: v for v in judge(records_of(rows))}
    assert verdicts["scope-1"].failed_rules == ("duty.triggered",)
    assert verdicts["scope-1"].checked == ("policy.in-force", "duty.triggered")
    assert verdicts["scope-1"].invalidated_by == ()


def test_a_policy_taking_effect_at_the_deadline_decides_whether_it_is_owed() -> None:
    # Deadline day 40. An amendment dropping every duty takes effect at day 40 exactly: at the
    # deadline, the policy in force no longer imposes it, so it ends unmissed.
    dropped_at_deadline = [
        *setup_v2(),
        in_scope(10, "scope-1"),
        adopt(20, "policy-2", amended("v1"), effective=40),
        compute(41, "cm-1", 2e25),
    ]
    assert engine_of(dropped_at_deadline).overdue() == []
    # One microsecond later, the deadline passed under test-rsp@v2: missed for good.
    rows = [*setup_v2(), in_scope(10, "scope-1")]
    late_amendment = adopt(20, "policy-2", amended("v1"), effective=40 + 1 / 86400 / 1e6)
    engine = engine_of([*rows, late_amendment, compute(41, "cm-1", 2e25)])
    assert [m.anchor for m in engine.overdue()] == ["scope-1"]


def test_a_window_beyond_the_calendar_never_falls_due() -> None:
    forever = v2_policy("forever", duties=[{**RISK_REPORT_CADENCE, "max_interval_days": 1e300}])
    engine = engine_of([*setup_v2(forever), risk_report(10, "rr-1")])
    assert engine.overdue(as_of=at(10) + CENTURY) == []
    assert [d.deadline for d in engine.open_duties()] == [None]


def test_every_open_duty_is_listed_with_its_deadline() -> None:
    engine = engine_of([*setup_v2(), risk_report(100, "rr-1"), in_scope(110, "scope-1")])
    due = [(d.duty.id, d.subject, d.anchor, d.deadline) for d in engine.open_duties()]
    assert due == [
        ("in-scope.discussion", "m1", "scope-1", at(140)),
        ("risk-report.cadence", "", "rr-1", at(283)),
    ]
    assert engine.open_duties(as_of=at(300))[0].deadline == at(140)  # overdue, still owed
    assert [m.duty.deadline for m in engine.overdue(as_of=at(300))] == [at(283), at(140)]
    # Missed duties are listed by the statement that started them, in log order.
    assert [m.anchor for m in engine.overdue(as_of=at(300))] == ["rr-1", "scope-1"]
    assert engine.overdue(as_of=at(140)) == []
    assert [m.anchor for m in engine.overdue(as_of=at(140) + MICROSECOND)] == ["scope-1"]
