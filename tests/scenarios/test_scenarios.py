"""Runs every history of `histories.py` through the compliance engine and checks each verdict.

A row with an expectation must get exactly that verdict (kind, failed rule ids, invalidating
statements, and the policy when named); a row without one must not be judged at all. The verdict
checked is the one `verdicts()` gives when the log ends at the last row, so a duty missed by then
(policy v2) counts; when recorded, the statement had the same verdict without it. The last tests
check the tables themselves: every rule id (SPEC §5's and those of policy v2) is shown both
failing and holding, and every case issues 4 and 10 name has its scenario.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from domain.compliance import ALL_RULE_IDS, DUTY_RULE_IDS, ComplianceEngine, Verdict

from .histories import ISSUE_4_CASES
from .histories import SCENARIOS as V1_SCENARIOS
from .histories_v2 import ISSUE_10_CASES, V2_SCENARIOS
from .kit import Scenario

SCENARIOS = [*V1_SCENARIOS, *V2_SCENARIOS]
MISSED = "none was recorded by"


def run(scenario: Scenario) -> tuple[dict[str, Verdict | None], dict[str, Verdict]]:
    """The verdict each statement got when recorded, and the final verdicts."""
    engine = ComplianceEngine()
    first: dict[str, Verdict | None] = {}
    for record in scenario.records():
        first[record.statement.id] = engine.add(record)
    return first, {v.statement: v for v in engine.verdicts()}


def test_there_are_at_least_40_histories_with_distinct_names() -> None:
    names = Counter(s.name for s in SCENARIOS)
    assert len(SCENARIOS) >= 40
    assert [n for n, c in names.items() if c > 1] == []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_history(scenario: Scenario) -> None:
    first, final = run(scenario)
    for row in scenario.rows:
        got = final.get(row.id)
        if row.expect is None:
            assert got is None, f"{row.id}: expected no verdict, found {got}"
            assert first[row.id] is None
            continue
        assert got is not None, f"{row.id}: expected a verdict, found none"
        summary = (got.verdict, got.failed_rules, got.invalidated_by)
        wanted = (row.expect.verdict, row.expect.failed, row.expect.invalidated_by)
        assert summary == wanted, f"{row.id}: {got.failed}"
        if row.expect.policy is not None:
            assert got.policy == row.expect.policy, row.id
        messages = " | ".join(f.message for f in got.failed)
        for text in row.expect.says:
            assert text in messages, f"{row.id}: {text!r} not in {messages!r}"
        # An invalidation happens later: when recorded, the statement met the policy.
        at_recording = first[row.id]
        assert at_recording is not None
        if got.verdict == "invalidated":
            assert at_recording.verdict in ("compliant", "invalidated")
        else:
            assert without_missed_duties(got, at_recording) == at_recording


def without_missed_duties(final: Verdict, first: Verdict) -> Verdict:
    """`final` as it was when recorded: a duty found missed when the log ends only adds a duty
    rule (or a reason to one) saying that nothing was recorded to meet it."""
    if final == first:
        return final
    before = {f.rule: f.message for f in first.failed}
    for f in final.failed:
        if f.rule in before and f.message == before[f.rule]:
            continue
        assert f.rule in DUTY_RULE_IDS, f"{final.statement}: {f.rule} changed after recording"
        assert MISSED in f.message, f.message
        assert f.message.startswith(before.get(f.rule, "")), f.message
    assert set(before) <= {f.rule for f in final.failed}
    return first


def test_every_rule_is_shown_failing_and_holding() -> None:
    failing: set[str] = set()
    holding: set[str] = set()
    for scenario in SCENARIOS:
        _, final = run(scenario)
        for row in scenario.rows:
            if row.expect is None:
                continue
            failing.update(row.expect.failed)
            verdict = final[row.id]
            # Only rows whose expectation holds count (test_history checks that it does).
            if verdict.failed_rules == row.expect.failed:
                holding.update(set(verdict.checked) - set(verdict.failed_rules))
    assert [r for r in ALL_RULE_IDS if r not in failing] == []
    assert [r for r in ALL_RULE_IDS if r not in holding] == []


def test_every_case_of_issue_4_has_its_history() -> None:
    names = {s.name for s in SCENARIOS}
    assert {case: name for case, name in ISSUE_4_CASES.items() if name not in names} == {}


def test_every_case_of_issue_10_has_its_history() -> None:
    names = {s.name for s in SCENARIOS}
    assert {case: name for case, name in ISSUE_10_CASES.items() if name not in names} == {}


def test_a_missed_duty_fails_only_once_time_passes_its_deadline() -> None:
    # In every history with a missed duty, a log that ends at or before the first deadline shows
    # nothing missed, and asking one microsecond past it shows that duty missed.
    checked = 0
    for scenario in V2_SCENARIOS:
        records = scenario.records()
        engine = ComplianceEngine()
        for record in records:
            engine.add(record)
        deadlines = [m.duty.deadline for m in engine.overdue() if m.duty.deadline is not None]
        if not deadlines:
            continue
        first_deadline = min(deadlines)
        replay = ComplianceEngine()
        for record in records:
            if record.recorded_at > first_deadline:
                break
            replay.add(record)
            assert replay.overdue() == [], scenario.name
        assert replay.overdue(as_of=first_deadline) == [], scenario.name
        later = replay.overdue(as_of=first_deadline + timedelta(microseconds=1))
        assert first_deadline in [m.duty.deadline for m in later], scenario.name
        checked += 1
    assert checked >= 7
