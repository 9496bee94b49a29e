"""Mechanics of the compliance engine: the dry run, order, the policy in force, invalidation
through the reverse indexes, and the JSON of SPEC §8. The rules themselves are exercised by the
histories of tests/scenarios."""

from __future__ import annotations

from dataclasses import replace

import pytest

from domain.compliance import (
    ComplianceEngine,
    FailedRule,
    RecordOrderError,
    Verdict,
    judge,
    summary,
)
from domain.compliance.approvals import uncovered_roles
from domain.log import LogRecord
from tests.scenarios.kit import (
    Scenario,
    adopt,
    amended,
    asl3_evidence,
    at,
    compromised,
    deploy,
    determination,
    setup,
    withdraw,
)


def records(*rows: object) -> list[LogRecord]:
    return Scenario("t", list(rows)).records()  # type: ignore[arg-type]


def engine_with(recs: list[LogRecord]) -> ComplianceEngine:
    engine = ComplianceEngine()
    for r in recs:
        engine.add(r)
    return engine


ASL3 = [*setup(), *asl3_evidence()]


# -- the dry run ---------------------------------------------------------------------------------


def test_preview_judges_without_changing_anything() -> None:
    recs = records(*ASL3, deploy(15, "dec-1", "det-1", ["sd-1"], by="rso"))
    engine = engine_with(recs[:-1])
    before = engine.verdicts()
    previewed = engine.preview(recs[-1])
    assert previewed is not None
    assert previewed.verdict == "noncompliant"
    assert previewed.failed_rules == ("signers.approved",)
    assert engine.verdicts() == before
    assert engine.entries == len(recs) - 1
    # The same record, really added, gets the same verdict.
    assert engine.add(recs[-1]) == previewed


def test_preview_of_a_voiding_entry_invalidates_nothing() -> None:
    recs = records(
        *ASL3,
        deploy(15, "dec-1", "det-1", ["sd-1"]),
        withdraw(30, "wd-1", "att-dep", invalid_from=14),
    )
    engine = engine_with(recs[:-1])
    assert engine.preview(recs[-1]) is None
    assert engine.verdict_of("dec-1") is not None
    assert engine.verdict_of("dec-1").verdict == "compliant"  # type: ignore[union-attr]
    engine.add(recs[-1])
    assert engine.verdict_of("dec-1").verdict == "invalidated"  # type: ignore[union-attr]


def test_preview_of_an_amendment_does_not_bring_it_into_force() -> None:
    recs = records(*setup(), adopt(5, "policy-2", amended("2")))
    engine = engine_with(recs[:-1])
    assert engine.preview(recs[-1]) is not None
    assert engine.policy_in_force(10_000, at(6)) is not None
    assert engine.policy_in_force(10_000, at(6))[1] == "policy-1"  # type: ignore[index]


def test_records_must_come_in_order() -> None:
    recs = records(*setup())
    engine = engine_with(recs)
    with pytest.raises(RecordOrderError, match="expected a record after seq"):
        engine.add(recs[-1])
    with pytest.raises(RecordOrderError, match="recorded_at must never decrease"):
        engine.preview(replace(recs[-1], seq=len(recs), recorded_at=at(-100)))


# -- the policy in force (SPEC §4) ---------------------------------------------------------------


def timeline_engine() -> tuple[ComplianceEngine, list[LogRecord]]:
    recs = records(
        *setup(),  # policy-1 at day 0
        adopt(5, "policy-2", amended("2"), effective=20),
        adopt(6, "policy-3", amended("3"), effective=20),  # same effective time, greater seq
        adopt(7, "policy-4", amended("4"), effective=3),  # retroactive: effective from day 7
        adopt(8, "policy-bad", amended("5", levels=[])),  # invalid: never in force
        adopt(9, "policy-unsigned", amended("6"), by="ceo"),  # not approved: never in force
    )
    return engine_with(recs), recs


def in_force(engine: ComplianceEngine, seq: int, day: float) -> str | None:
    found = engine.policy_in_force(seq, at(day))
    return found[1] if found is not None else None


def test_policy_in_force_by_effective_time() -> None:
    engine, recs = timeline_engine()
    n = len(recs)
    assert in_force(engine, n, -1) is None  # before the bootstrap amendment took effect
    assert in_force(engine, n, 0) == "policy-1"  # effective at its own recording
    assert in_force(engine, n, 6.9) == "policy-1"
    # A retroactive amendment acts only from its recording (effective time = recorded_at).
    assert in_force(engine, n, 7) == "policy-4"
    assert in_force(engine, n, 20 - 1e-6) == "policy-4"
    # Equal effective times: the greater seq wins.
    assert in_force(engine, n, 20) == "policy-3"
    # Invalid or unapproved amendments never come into force.
    assert in_force(engine, n, 1000) == "policy-3"


def test_policy_in_force_counts_only_amendments_recorded_before() -> None:
    engine, recs = timeline_engine()
    seq_of = {r.statement.id: r.seq for r in recs}
    # For the entry right after policy-2, policy-3 does not exist yet.
    assert in_force(engine, seq_of["policy-2"] + 1, 25) == "policy-2"
    # For policy-2 itself, only policy-1 was recorded before it.
    assert in_force(engine, seq_of["policy-2"], 25) == "policy-1"
    assert in_force(engine, 0, 25) is None


def test_invalidated_amendment_stays_in_force() -> None:
    recs = records(*setup(), adopt(5, "policy-2", amended("2")), compromised(6, "rev", "board", 4))
    engine = engine_with(recs)
    assert engine.verdict_of("policy-2").verdict == "invalidated"  # type: ignore[union-attr]
    assert in_force(engine, len(recs), 7) == "policy-2"


# -- invalidation --------------------------------------------------------------------------------


def test_transitive_invalidation_reaches_every_verdict_relying_on_the_void_statement() -> None:
    recs = records(
        *ASL3,
        deploy(15, "dec-1", "det-1", ["sd-1"]),
        deploy(16, "dec-2", "det-1", ["sd-1"]),
        compromised(30, "rev-eval", "eval", since=9),
    )
    engine = ComplianceEngine()
    at_recording = [engine.add(r) for r in recs]
    assert all(v is None or v.verdict == "compliant" for v in at_recording)
    final = {v.statement: v for v in engine.verdicts()}
    for sid in ("det-1", "dec-1", "dec-2"):
        assert final[sid].verdict == "invalidated"
        assert final[sid].invalidated_by == ("rev-eval",)
        assert final[sid].failed == ()
    assert final["sd-1"].verdict == "compliant"  # its evidence was signed by others
    assert [v.seq for v in engine.verdicts()] == sorted(v.seq for v in engine.verdicts())


def test_every_voiding_statement_is_listed_once_in_order() -> None:
    recs = records(
        *ASL3,
        deploy(15, "dec-1", "det-1", ["sd-1"]),
        withdraw(20, "wd-1", "att-dep", invalid_from=14),
        withdraw(21, "wd-2", "att-sec", invalid_from=14),
        withdraw(22, "wd-3", "att-dep", invalid_from=13.5),
    )
    final = {v.statement: v for v in judge(recs)}
    assert final["dec-1"].invalidated_by == ("wd-1", "wd-2", "wd-3")
    assert final["sd-1"].verdict == "compliant"  # withdrawn from after it was recorded


def test_a_compromise_since_after_a_statement_does_not_void_it() -> None:
    recs = records(
        *ASL3,
        deploy(15, "dec-1", "det-1", ["sd-1"]),
        compromised(30, "rev-ceo", "ceo", since=15 + 1e-6),
    )
    assert {v.verdict for v in judge(recs)} == {"compliant"}


def test_judge_gives_the_engines_verdicts() -> None:
    recs = records(*ASL3, deploy(15, "dec-1", "det-1", ["sd-1"]))
    assert judge(recs) == engine_with(recs).verdicts()


# -- approvals: a matching, not a greedy pass ----------------------------------------------------


def test_approvals_find_the_assignment_a_greedy_pass_would_miss() -> None:
    # alice holds both roles, bob only ceo: bob must cover ceo so that alice covers rso.
    signers = {"alice": frozenset({"ceo", "rso"}), "bob": frozenset({"ceo"})}
    assert uncovered_roles(["ceo", "rso"], signers) == []
    assert uncovered_roles(["rso", "ceo"], signers) == []
    assert uncovered_roles(["ceo", "ceo", "rso"], signers) == ["rso"]
    assert uncovered_roles([], {}) == []


# -- SPEC §8 JSON --------------------------------------------------------------------------------


def test_verdict_json_is_exactly_spec_8() -> None:
    v = Verdict(
        seq=7,
        statement="dec-1",
        type="deployment_decision",
        model="m1",
        policy="anthropic-rsp@2.2",
        verdict="noncompliant",
        failed=(FailedRule("determination.fresh", "too old"),),
        checked=("policy.in-force", "determination.fresh"),
    )
    assert v.to_json() == {
        "seq": 7,
        "statement": "dec-1",
        "type": "deployment_decision",
        "model": "m1",
        "policy": "anthropic-rsp@2.2",
        "verdict": "noncompliant",
        "failed": [{"rule": "determination.fresh", "message": "too old"}],
        "invalidated_by": [],
    }
    assert list(v.to_json()) == [
        "seq", "statement", "type", "model", "policy", "verdict", "failed", "invalidated_by"
    ]  # fmt: skip


def test_summary_counts_every_kind_including_indeterminate() -> None:
    recs = records(
        *setup(),
        determination(2, "det-0", ["nothing"], expect=None),
        deploy(3, "dec-1", "det-0", by="rso", expect=None),
    )
    verdicts = judge(recs)
    assert summary(verdicts, entries=len(recs)) == {
        "entries": len(recs),
        "compliant": 1,
        "noncompliant": 2,
        "invalidated": 0,
        "indeterminate": 0,
    }
    assert list(summary([], 0)) == [
        "entries", "compliant", "noncompliant", "invalidated", "indeterminate"
    ]  # fmt: skip


def test_a_statement_about_no_model_reports_null() -> None:
    [policy_verdict] = judge(records(*setup(with_model=False)))
    assert policy_verdict.model is None
    assert policy_verdict.to_json()["model"] is None
    assert policy_verdict.policy == "test-rsp@1"  # bootstrap: judged under itself
