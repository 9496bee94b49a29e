"""Runs every history of `histories.py` through the compliance engine and checks each verdict.

A row with an expectation must get exactly that verdict (kind, failed rule ids, invalidating
statements, and the policy when named); a row without one must not be judged at all. The last
tests check the tables themselves: every rule id of SPEC §5 is shown both failing and holding,
and every case issue 4 names has its scenario.
"""

from __future__ import annotations

from collections import Counter

import pytest

from domain.compliance import RULE_IDS, ComplianceEngine, Verdict

from .histories import ISSUE_4_CASES, SCENARIOS
from .kit import Scenario


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
            assert at_recording == got


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
    assert [r for r in RULE_IDS if r not in failing] == []
    assert [r for r in RULE_IDS if r not in holding] == []


def test_every_case_of_issue_4_has_its_history() -> None:
    names = {s.name for s in SCENARIOS}
    assert {case: name for case, name in ISSUE_4_CASES.items() if name not in names} == {}
