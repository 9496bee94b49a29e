"""Histories under `rsp-ledger.policy/v2` (docs/rules.md "Policy v2"), as data tables.

Read a row as in `histories.py`: on day `at` (from 2025-06-01) this statement was recorded, signed
by `by`, and the verdict it must end up with is `expect` (None: not judged). "End up with" means
as `ComplianceEngine.verdicts()` reports it when the log ends at its last row: a duty missed by
then is a failed duty rule on the statement that started the duty's clock, and its message says
"none was recorded by" the end of the log.

`setup_v2()` adopts kit.POLICY_V2 (`test-rsp@v2`: a Risk Report at most every 183 days, a
discussion within 30 days of an internal model coming into scope, external review within 7 days
of the Board or the LTBT for a highly capable, significantly redacted report, the Board and the
LTBT approving a report that rests on a marginal risk analysis, and a safety case before an
external deployment past CBRN-3) on day 0, and registers model m1 on day 1. The switch of
framework and the Frontier Safety Framework use the shipped documents of `policies/`.
"""

from __future__ import annotations

from typing import Any

from .kit import (
    ALL_SCOPES,
    NC,
    OK,
    OK_UNDER,
    POLICY_V1,
    RISK_REPORT_CADENCE,
    Row,
    Scenario,
    adopt,
    amended,
    asl3_evidence,
    attestation,
    compute,
    deploy,
    determination,
    discussion,
    finding,
    in_scope,
    model,
    notify,
    review_requested,
    risk_report,
    safeguards,
    safety_case,
    setup_v2,
    shipped,
    ts,
    v2_policy,
)

MISSED = "none was recorded by"

RSP22 = shipped("anthropic-rsp-2.2")
RSP30 = shipped("anthropic-rsp-3.0")
FSF30 = shipped("google-deepmind-fsf-3.0")


def _controls(policy: dict[str, Any], level: str, part: str) -> list[str]:
    controls: list[str] = policy["standards"][level][part]
    return controls


def _version(policy: dict[str, Any], version: str) -> dict[str, Any]:
    return {**policy, "version": version}


# -- the switch of framework, RSP 2.2 -> 3.0, in the middle of model m1's life ----------------------

RSP22_FINDINGS = ["f-cbrn3", "f-cbrn4", "f-aird4", "f-aird5"]
RSP30_FINDINGS = ["g-cb1", "g-cb2", "g-sabotage", "g-rd"]


def rsp22_life(until_day: float = 15) -> list[Row]:
    """RSP 2.2 bootstrapped on day 0; m1 crosses CBRN-3 and is deployed on day 15 with ASL-3
    safeguards (sd-1, valid until day 300) under 2.2."""
    return [
        *setup_v2(RSP22),
        finding(10, "f-cbrn3", "CBRN-3", "crossed"),
        finding(10, "f-cbrn4", "CBRN-4"),
        finding(10, "f-aird4", "AI-RD-4"),
        finding(10, "f-aird5", "AI-RD-5"),
        determination(11, "det-1", RSP22_FINDINGS, "ASL-3", "ASL-3"),
        attestation(12, "att-dep", controls=_controls(RSP22, "ASL-3", "deployment")),
        attestation(12, "att-sec", "security", controls=_controls(RSP22, "ASL-3", "security")),
        safeguards(13, "sd-1", ["att-dep", "att-sec"], expect=OK_UNDER("anthropic-rsp@2.2")),
        notify(14, "notify-1", "det-1"),
        deploy(until_day, "dec-1", "det-1", ["sd-1"], expect=OK_UNDER("anthropic-rsp@2.2")),
    ]


def switch_to_rsp30(day: float = 20, effective: float = 30) -> Row:
    # RSP 2.2 §7.1.7: the Board approves, the CEO and the RSO propose (and co-sign).
    return adopt(
        day,
        "policy-2",
        RSP30,
        effective=effective,
        by="board+ceo+rso",
        expect=OK_UNDER("anthropic-rsp@2.2"),
    )


V2_SCENARIOS: list[Scenario] = [
    # -- a periodic duty: a Risk Report at most every 183 days ---------------------------------
    Scenario(
        "risk_report_cadence_kept",
        [
            *setup_v2(),
            risk_report(100, "rr-1"),
            # 183 days after rr-1 exactly: the last day of the period still holds.
            risk_report(283, "rr-2"),
        ],
        why="each report within 183 days of the previous one (the first, of the policy)",
    ),
    Scenario(
        "risk_report_cadence_missed",
        [
            *setup_v2(),
            risk_report(
                100, "rr-1", expect=NC("duty.periodic", says=(f"due by {ts(283)}", MISSED))
            ),
            compute(300, "cm-1", 1.1e25),
        ],
        why="the next report was due by day 283; the log ends on day 300 without one",
    ),
    Scenario(
        "first_risk_report_never_published",
        [
            # The first period runs from the policy taking effect: its amendment started it.
            *setup_v2(
                policy_expect=NC("duty.periodic", says=(f"due by {ts(183)}", "took effect", MISSED))
            ),
            compute(184, "cm-1", 1.1e25),
        ],
    ),
    Scenario(
        "risk_report_one_day_late",
        [
            *setup_v2(),
            risk_report(100, "rr-1"),
            risk_report(284, "rr-2", expect=NC("duty.periodic", says=("1 day late",))),
            # The next period runs from the late report: day 467 is within it.
            risk_report(467, "rr-3"),
        ],
    ),
    # -- a triggered duty: a discussion within 30 days of an internal model coming into scope ----
    Scenario(
        "in_scope_discussion_met_on_day_30",
        [
            *setup_v2(),
            in_scope(10, "scope-1", expect=OK),
            discussion(40, "disc-1", expect=OK),
        ],
    ),
    Scenario(
        "in_scope_discussion_missed_on_day_31",
        [
            *setup_v2(),
            in_scope(10, "scope-1", expect=OK),
            discussion(41, "disc-1", expect=NC("duty.triggered", says=("1 day late",))),
        ],
    ),
    Scenario(
        "in_scope_discussion_never_published",
        [
            *setup_v2(),
            in_scope(10, "scope-1", expect=NC("duty.triggered", says=("model 'm1'", MISSED))),
            # Another model's discussion does not meet m1's duty.
            model(20, "m2"),
            discussion(30, "disc-m2", "m2"),
            compute(41, "cm-1", 1.1e25),
        ],
    ),
    Scenario(
        "in_scope_discussion_not_yet_due_when_the_log_ends",
        [
            *setup_v2(),
            in_scope(10, "scope-1", expect=OK),
            compute(40, "cm-1", 1.1e25),
        ],
        why="due by day 40 and the log ends on day 40: not missed yet",
    ),
    Scenario(
        "a_public_deployment_starts_no_discussion_duty",
        [
            *setup_v2(),
            in_scope(10, "scope-1", deployment="external", expect=None),
            compute(100, "cm-1", 1.1e25),
        ],
    ),
    # -- a review window: external review within 7 days of the Board or the LTBT ------------------
    Scenario(
        "external_review_within_a_week",
        [
            *setup_v2(),
            risk_report(100, "rr-1", highly_capable=True, redacted=True),
            notify(101, "notify-rr", "rr-1", expect=OK),
            review_requested(108, "rev-1", "rr-1", expect=OK),
        ],
    ),
    Scenario(
        "external_review_a_day_late",
        [
            *setup_v2(),
            risk_report(100, "rr-1", highly_capable=True, redacted=True),
            notify(101, "notify-rr", "rr-1", ["board"], expect=OK),
            # The LTBT told later does not restart the week.
            notify(103, "notify-rr-2", "rr-1", ["ltbt"], expect=None),
            review_requested(
                109, "rev-1", "rr-1", expect=NC("duty.review-window", says=("1 day late",))
            ),
        ],
    ),
    Scenario(
        "external_review_never_requested",
        [
            *setup_v2(),
            risk_report(100, "rr-1", highly_capable=True, redacted=True),
            notify(
                101,
                "notify-rr",
                "rr-1",
                expect=NC("duty.review-window", says=("citing 'rr-1'", MISSED)),
            ),
            compute(120, "cm-1", 1.1e25),
        ],
    ),
    Scenario(
        "no_external_review_for_an_unredacted_report",
        [
            *setup_v2(),
            risk_report(100, "rr-1", highly_capable=True, redacted=False),
            notify(101, "notify-rr", "rr-1", expect=None),
            compute(120, "cm-1", 1.1e25),
        ],
    ),
    Scenario(
        "external_review_requested_before_the_board",
        [
            *setup_v2(),
            risk_report(100, "rr-1", highly_capable=True, redacted=True),
            review_requested(100.5, "rev-1", "rr-1", expect=None),
            notify(101, "notify-rr", "rr-1", expect=None),
            compute(120, "cm-1", 1.1e25),
        ],
        why="a request already made meets the window before it opens",
    ),
    # -- conditional approval: a marginal risk analysis needs the Board and the LTBT ----------------
    Scenario(
        "marginal_risk_report_approved_without_the_board",
        [
            *setup_v2(),
            risk_report(
                100,
                "rr-1",
                marginal=True,
                by="ceo+rso+ltbt",
                expect=NC(
                    "signers.approved",
                    says=(
                        "missing board",
                        "also requires board, ltbt because marginal_risk_analysis is true",
                    ),
                ),
            ),
            risk_report(101, "rr-2", marginal=True, by="ceo+rso+board+ltbt"),
            risk_report(102, "rr-3", marginal=False),
        ],
    ),
    # -- safety cases before deployment past a threshold -------------------------------------------
    Scenario(
        "deployment_past_a_threshold_needs_an_approved_safety_case",
        [
            *setup_v2(),
            *asl3_evidence(),
            deploy(
                15,
                "dec-1",
                "det-1",
                ["sd-1"],
                expect=NC("safety-case.approved", says=("threshold CBRN-3 is crossed",)),
            ),
            safety_case(16, "sc-1", ["CBRN-3"]),
            deploy(17, "dec-2", "det-1", ["sd-1"], expect=OK_UNDER("test-rsp@v2")),
        ],
    ),
    Scenario(
        "safety_case_for_another_scope",
        [
            *setup_v2(),
            *asl3_evidence(),
            safety_case(15, "sc-1", ["CBRN-3"], ["internal"]),
            deploy(
                16,
                "dec-1",
                "det-1",
                ["sd-1"],
                expect=NC(
                    "safety-case.approved", says=("approves scopes internal, not 'external'",)
                ),
            ),
            # safety_case_before names only `external` for CBRN-3.
            deploy(17, "dec-2", "det-1", ["sd-1"], scope="trusted"),
        ],
    ),
    Scenario(
        "safety_case_not_approved_by_the_governance_function",
        [
            *setup_v2(),
            *asl3_evidence(),
            safety_case(15, "sc-1", ["CBRN-3"], by="ceo", expect=NC("signers.approved")),
            deploy(
                16,
                "dec-1",
                "det-1",
                ["sd-1"],
                expect=NC("safety-case.approved", says=("'sc-1', is noncompliant",)),
            ),
        ],
    ),
    # -- amendments and duties ------------------------------------------------------------------
    Scenario(
        "a_duty_ends_when_an_amendment_drops_it",
        [
            *setup_v2(),
            in_scope(10, "scope-1", expect=OK),
            # v1 again from day 20: no duties, so nothing is owed by day 40 or 183.
            adopt(20, "policy-2", amended("v1-again"), expect=OK_UNDER("test-rsp@v2")),
            compute(300, "cm-1", 1.1e25),
        ],
    ),
    Scenario(
        "a_missed_duty_stays_missed_when_an_amendment_drops_it",
        [
            *setup_v2(),
            in_scope(10, "scope-1", expect=NC("duty.triggered", says=(MISSED,))),
            adopt(50, "policy-2", amended("v1-again"), expect=OK_UNDER("test-rsp@v2")),
            compute(300, "cm-1", 1.1e25),
        ],
        why="overdue from day 40, under the policy then in force",
    ),
    Scenario(
        "an_amendment_keeping_a_duty_keeps_its_deadline",
        [
            *setup_v2(),
            risk_report(100, "rr-1"),
            # test-rsp@v3 shortens the period to 90 days from day 150: rr-1's deadline (day 283)
            # stands, and the next period, from rr-2, is 90 days.
            adopt(
                150,
                "policy-2",
                v2_policy("v3", duties=[{**RISK_REPORT_CADENCE, "max_interval_days": 90}]),
                expect=OK_UNDER("test-rsp@v2"),
            ),
            risk_report(283, "rr-2", expect=OK_UNDER("test-rsp@v3")),
            risk_report(
                283 + 91,
                "rr-3",
                expect=NC(
                    "duty.periodic", says=("test-rsp@v3", "90 days after 'rr-2'", "1 day late")
                ),
            ),
        ],
    ),
    Scenario(
        "an_amendment_adding_a_duty_starts_it_when_it_takes_effect",
        [
            *setup_v2(POLICY_V1),
            adopt(
                20,
                "policy-2",
                v2_policy("v2", approvals={**POLICY_V1["approvals"]}),
                effective=30,
                expect=OK_UNDER("test-rsp@1"),
            ),
            risk_report(25, "rr-0", expect=None),  # before it takes effect: nothing is owed
            compute(213, "cm-1", 1.1e25),
        ],
        why="the first report is due by day 213 (183 days after day 30); the log ends then",
    ),
    # -- the switch of framework, RSP 2.2 -> 3.0 --------------------------------------------------
    Scenario(
        "framework_switch_in_the_middle_of_a_models_life",
        [
            *rsp22_life(),
            switch_to_rsp30(20, effective=30),
            deploy(29, "dec-2", "det-1", ["sd-1"], expect=OK_UNDER("anthropic-rsp@2.2")),
            # From day 30, 3.0 judges: its thresholds and ASL-3 controls, not 2.2's; sd-1's
            # approval under 2.2 is not carried forward.
            deploy(
                30,
                "dec-3",
                "det-1",
                ["sd-1"],
                expect=NC(
                    "determination.coverage",
                    "safeguards.controls",
                    policy="anthropic-rsp@3.0",
                    says=("CB-non-novel", "missing classifier-guards", "noteworthy-security"),
                ),
            ),
            finding(31, "g-cb1", "CB-non-novel", "crossed"),
            finding(31, "g-cb2", "CB-novel"),
            finding(31, "g-sabotage", "high-stakes-sabotage"),
            finding(31, "g-rd", "automated-rd"),
            determination(32, "det-2", RSP30_FINDINGS, "ASL-3", "ASL-3"),
            attestation(33, "att-dep-3", controls=_controls(RSP30, "ASL-3", "deployment")),
            attestation(
                33, "att-sec-3", "security", controls=_controls(RSP30, "ASL-3", "security")
            ),
            safeguards(34, "sd-2", ["att-dep-3", "att-sec-3"]),
            # No notice needed under 3.0 (notify_before_deployment is empty).
            deploy(35, "dec-4", "det-2", ["sd-2"], expect=OK_UNDER("anthropic-rsp@3.0")),
            risk_report(60, "rr-1", models=["m1"], expect=OK_UNDER("anthropic-rsp@3.0")),
        ],
    ),
    Scenario(
        "framework_switch_then_no_risk_report",
        [
            *rsp22_life(),
            switch_to_rsp30(20, effective=30).expecting(
                NC(
                    "duty.periodic",
                    policy="anthropic-rsp@2.2",
                    says=(
                        "risk-report.cadence (anthropic-rsp@3.0)",
                        "anthropic-rsp@3.0 took effect",
                        MISSED,
                    ),
                )
            ),
            compute(30 + 184, "cm-1", 1.1e25),
        ],
        why="3.0's first Risk Report was due 183 days after it took effect on day 30",
    ),
    # -- Google DeepMind's Frontier Safety Framework 3.0 -------------------------------------------
    Scenario(
        "fsf_deployment_needs_the_governance_function_to_approve_a_safety_case",
        [
            *setup_v2(FSF30),
            finding(10, "f-cbrn", "CBRN-uplift-1", "crossed"),
            finding(10, "f-cyber", "cyber-uplift-1"),
            finding(10, "f-manip", "harmful-manipulation-1"),
            finding(10, "f-acc", "ML-RD-acceleration-1"),
            finding(10, "f-auto", "ML-RD-automation-1"),
            determination(
                11,
                "det-1",
                ["f-cbrn", "f-cyber", "f-manip", "f-acc", "f-auto"],
                "baseline",
                "SL-2",
                by="eval",
            ),
            attestation(12, "att-sec", "security", standard="SL-2", controls=["rand-sl-2-aligned"]),
            safeguards(13, "sd-1", ["att-sec"], standard="SL-2", by="sec"),
            deploy(
                14,
                "dec-1",
                "det-1",
                ["sd-1"],
                by="ceo",
                expect=NC("safety-case.approved", says=("CBRN-uplift-1",)),
            ),
            # Internal use needs no safety case for a misuse CCL.
            deploy(14.5, "dec-internal", "det-1", ["sd-1"], scope="internal", by="ceo"),
            safety_case(15, "sc-1", ["CBRN-uplift-1"], ["external"], by="gov"),
            deploy(
                16,
                "dec-2",
                "det-1",
                ["sd-1"],
                by="ceo",
                expect=OK_UNDER("google-deepmind-frontier-safety-framework@3.0"),
            ),
        ],
    ),
    Scenario(
        "fsf_alert_threshold_needs_a_comprehensive_assessment",
        [
            *setup_v2(FSF30),
            finding(10, "f-cbrn", "CBRN-uplift-1"),
            finding(10, "f-cyber", "cyber-uplift-1"),
            finding(10, "f-manip", "harmful-manipulation-1"),
            finding(10, "f-acc", "ML-RD-acceleration-1", "early_warning", assessment="preliminary"),
            finding(10, "f-auto", "ML-RD-automation-1"),
            determination(
                11,
                "det-1",
                ["f-cbrn", "f-cyber", "f-manip", "f-acc", "f-auto"],
                "baseline",
                "baseline",
                by="eval",
                expect=NC("determination.comprehensive", says=("ML-RD-acceleration-1",)),
            ),
        ],
    ),
    Scenario(
        "fsf_updated_within_a_year",
        [
            *setup_v2(FSF30),
            adopt(365, "policy-2", _version(FSF30, "3.1"), by="corpgov"),
            adopt(730, "policy-3", _version(FSF30, "3.2"), by="corpgov"),
        ],
    ),
    Scenario(
        "fsf_updated_a_day_late",
        [
            *setup_v2(FSF30),
            adopt(
                366,
                "policy-2",
                _version(FSF30, "3.1"),
                by="corpgov",
                expect=NC("duty.periodic", says=("framework.annual-update", "1 day late")),
            ),
        ],
    ),
    Scenario(
        "fsf_never_updated",
        [
            *setup_v2(
                FSF30,
                with_model=False,
                policy_expect=NC("duty.periodic", says=("framework.annual-update", MISSED)),
            ),
            model(366),
        ],
    ),
]


# The cases issue 10 asks for by name, each with the scenario that shows it.
ISSUE_10_CASES: dict[str, str] = {
    "a missed cadence": "risk_report_cadence_missed",
    "a 30-day trigger met on day 30": "in_scope_discussion_met_on_day_30",
    "a 30-day trigger missed on day 31": "in_scope_discussion_missed_on_day_31",
    "marginal-risk approval without the Board": "marginal_risk_report_approved_without_the_board",
    "a switch of framework in the middle of a model's life": "framework_switch_in_the_middle_of_a_models_life",
    "a safeguards approval under 2.2 judged by 3.0": "framework_switch_in_the_middle_of_a_models_life",
    "a review window": "external_review_a_day_late",
    "a safety case approved by a governance function": "fsf_deployment_needs_the_governance_function_to_approve_a_safety_case",
}

__all__ = ["ALL_SCOPES", "ISSUE_10_CASES", "V2_SCENARIOS"]
