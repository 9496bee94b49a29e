"""Compliance histories with their expected verdicts (SPEC §4, §5), as data tables.

Read a row as: on day `at`, this statement was recorded, signed by `by`, and the verdict it must
end up with is `expect` (None: not judged). Days count from 2025-06-01; the bootstrap policy
`test-rsp@1` (kit.POLICY_V1) is adopted on day 0 and model m1 registered on day 1 by `setup()`.
`asl3_evidence()` is the full ASL-3 case of days 10–14 (det-1, att-dep, att-sec, sd-1, notify-1).
"""

from __future__ import annotations

from .kit import (
    ALL_SCOPES,
    ASL3_DEPLOYMENT,
    INV,
    NC,
    OK,
    OK_UNDER,
    POLICY_V1,
    Scenario,
    adopt,
    amended,
    asl3_evidence,
    attestation,
    clean_findings,
    compromised,
    compute,
    deploy,
    determination,
    finding,
    key_added,
    model,
    notify,
    report,
    roles_set,
    safeguards,
    setup,
    withdraw,
)

FINDINGS = ["f-cbrn3", "f-aird4", "f-cbrn4"]
WITH_CYBER = [
    *POLICY_V1["thresholds"],
    {"id": "CYBER-3", "requires": {"deployment": "ASL-3", "security": "ASL-3"}},
]
WITH_JAILBREAK_BOUNTY = {
    "ASL-3": {
        "deployment": [*ASL3_DEPLOYMENT, "jailbreak-bounty"],
        "security": POLICY_V1["standards"]["ASL-3"]["security"],
    },
    "ASL-4": {"deployment": [], "security": []},
}
BASELINE = [*clean_findings(10), determination(11, "det-1", FINDINGS)]


SCENARIOS: list[Scenario] = [
    # -- the ordinary cases ----------------------------------------------------------------------
    Scenario(
        "baseline_deployment_needs_no_safeguards",
        [*setup(), *BASELINE, deploy(12, "dec-1", "det-1", expect=OK_UNDER("test-rsp@1"))],
    ),
    Scenario(
        "asl3_deployment_compliant",
        [*setup(), *asl3_evidence(), deploy(15, "dec-1", "det-1", ["sd-1"])],
    ),
    Scenario(
        "only_judged_types_get_verdicts",
        [
            *setup(),
            *BASELINE,
            compute(11.5, "cm-1", 1.5e25),
            report(11.6, "nc-1", "det-1"),
            deploy(12, "dec-1", "det-1"),
        ],
    ),
    # -- the policy in force ---------------------------------------------------------------------
    Scenario(
        "no_policy_in_force",
        [
            *setup(with_policy=False),
            *BASELINE[:3],
            determination(11, "det-1", FINDINGS, expect=NC("policy.in-force")),
            deploy(12, "dec-1", "det-1", expect=NC("policy.in-force", "evidence.compliant")),
            deploy(13, "undeploy-1", "det-1", action="undeploy", expect=None),
        ],
    ),
    Scenario(
        "bootstrap_needs_a_ledger_admin",
        [
            *setup(with_policy=False, with_model=False),
            adopt(0, "policy-1", POLICY_V1, by="ceo", expect=NC("signers.approved")),
            model(1),
            *clean_findings(10),
            determination(11, "det-1", FINDINGS, expect=NC("policy.in-force")),
            adopt(12, "policy-2", POLICY_V1, by="admin", expect=OK_UNDER("test-rsp@1")),
            determination(13, "det-2", FINDINGS, expect=OK_UNDER("test-rsp@1")),
        ],
    ),
    Scenario(
        "amendment_needs_the_board",
        [
            *setup(),
            adopt(5, "policy-2", amended("2"), by="admin", expect=NC("signers.approved")),
            *clean_findings(10),
            determination(11, "det-1", FINDINGS, expect=OK_UNDER("test-rsp@1")),
            adopt(12, "policy-3", amended("3"), by="board", expect=OK_UNDER("test-rsp@1")),
            determination(13, "det-2", FINDINGS, expect=OK_UNDER("test-rsp@3")),
        ],
    ),
    Scenario(
        "amendment_where_no_approval_is_named_needs_a_ledger_admin",
        [
            *setup(amended("1", approvals={"policy_adopted": []})),
            adopt(5, "policy-2", amended("2"), by="board", expect=NC("signers.approved")),
            adopt(6, "policy-3", amended("3"), by="admin", expect=OK_UNDER("test-rsp@1")),
            *clean_findings(10),
            determination(11, "det-1", FINDINGS, expect=OK_UNDER("test-rsp@3")),
        ],
    ),
    Scenario(
        "retroactive_amendment",
        [
            *setup(),
            *BASELINE,
            adopt(
                20,
                "policy-2",
                amended("2"),
                effective=5,
                expect=NC(
                    "amendment.effective",
                    policy="test-rsp@1",
                    says=("takes effect only from its recording",),
                ),
            ),
            # Still in force, from its recording (SPEC §4: only signers and validity keep an
            # amendment out of force).
            determination(21, "det-2", FINDINGS, expect=OK_UNDER("test-rsp@2")),
        ],
    ),
    Scenario(
        "invalid_amendment_never_comes_into_force",
        [
            *setup(),
            adopt(
                5,
                "policy-2",
                amended(
                    "2",
                    thresholds=[
                        *POLICY_V1["thresholds"],
                        {"id": "X-5", "requires": {"security": "ASL-5"}},
                    ],
                ),
                expect=NC(
                    "amendment.valid",
                    says=("thresholds[3].requires.security: level 'ASL-5' is not in levels",),
                ),
            ),
            *BASELINE,
            deploy(12, "dec-1", "det-1", expect=OK_UNDER("test-rsp@1")),
        ],
    ),
    Scenario(
        "decision_just_before_and_just_after_an_amendment_takes_effect",
        [
            *setup(),
            *BASELINE,
            adopt(12, "policy-2", amended("2", thresholds=WITH_CYBER), effective=20),
            deploy(20 - 1 / 86400, "dec-before", "det-1", expect=OK_UNDER("test-rsp@1")),
            deploy(
                20,
                "dec-after",
                "det-1",
                expect=NC("determination.coverage", policy="test-rsp@2", says=("CYBER-3",)),
            ),
        ],
    ),
    Scenario(
        "amendments_with_equal_effective_times_go_by_seq",
        [
            *setup(),
            adopt(5, "policy-2", amended("2"), effective=20),
            adopt(6, "policy-3", amended("3"), effective=20),
            adopt(7, "policy-4", amended("4"), effective=30),
            *clean_findings(10),
            determination(19, "det-1", FINDINGS, expect=OK_UNDER("test-rsp@1")),
            determination(20, "det-2", FINDINGS, expect=OK_UNDER("test-rsp@3")),
            determination(29, "det-3", FINDINGS, expect=OK_UNDER("test-rsp@3")),
            determination(30, "det-4", FINDINGS, expect=OK_UNDER("test-rsp@4")),
        ],
    ),
    Scenario(
        "greatest_effective_time_wins_not_latest_recorded",
        [
            *setup(),
            adopt(5, "policy-2", amended("2"), effective=30),
            adopt(6, "policy-3", amended("3"), effective=20),
            *clean_findings(10),
            determination(25, "det-1", FINDINGS, expect=OK_UNDER("test-rsp@3")),
            determination(31, "det-2", FINDINGS, expect=OK_UNDER("test-rsp@2")),
        ],
    ),
    Scenario(
        "amendment_adds_a_threshold",
        [
            *setup(),
            *BASELINE,
            adopt(12, "policy-2", amended("2", thresholds=WITH_CYBER)),
            deploy(13, "dec-1", "det-1", expect=NC("determination.coverage", policy="test-rsp@2")),
            determination(13.5, "det-stale", FINDINGS, expect=NC("determination.coverage")),
            finding(14, "f-cyber3", "CYBER-3"),
            determination(15, "det-2", [*FINDINGS, "f-cyber3"], expect=OK_UNDER("test-rsp@2")),
            deploy(16, "dec-2", "det-2"),
        ],
    ),
    Scenario(
        "amendment_adds_a_control",
        [
            *setup(),
            *asl3_evidence(),
            adopt(15, "policy-2", amended("2", standards=WITH_JAILBREAK_BOUNTY)),
            deploy(
                16,
                "dec-1",
                "det-1",
                ["sd-1"],
                expect=NC("safeguards.controls", says=("missing jailbreak-bounty",)),
            ),
            attestation(17, "att-dep-2", controls=[*ASL3_DEPLOYMENT, "jailbreak-bounty"]),
            safeguards(18, "sd-2", ["att-dep-2", "att-sec"]),
            deploy(19, "dec-2", "det-1", ["sd-2"]),
        ],
    ),
    Scenario(
        "invalidated_amendment_stays_in_force",
        [
            *setup(),
            *BASELINE,
            adopt(12, "policy-2", amended("2", thresholds=WITH_CYBER), expect=INV("rev-board")),
            compromised(20, "rev-board", "board", since=11),
            deploy(21, "dec-1", "det-1", expect=NC("determination.coverage", policy="test-rsp@2")),
        ],
    ),
    # -- freshness -------------------------------------------------------------------------------
    Scenario(
        "fresh_compute_3_9x_holds",
        [
            *setup(),
            *(
                finding(10, f, t, compute=1.2e25)
                for f, t in zip(FINDINGS, ["CBRN-3", "AI-RD-4", "CBRN-4"], strict=True)
            ),
            determination(11, "det-1", FINDINGS),
            compute(12, "cm-1", 3.9 * 1.2e25),
            deploy(13, "dec-1", "det-1"),
        ],
    ),
    Scenario(
        "fresh_compute_4_0x_fails",
        [
            *setup(),
            *(
                finding(10, f, t, compute=1.2e25)
                for f, t in zip(FINDINGS, ["CBRN-3", "AI-RD-4", "CBRN-4"], strict=True)
            ),
            determination(11, "det-1", FINDINGS),
            compute(12, "cm-1", 4.8e25),
            deploy(
                13,
                "dec-1",
                "det-1",
                expect=NC("determination.fresh", says=("4.8e25", "4 × 1.2e25", "'cm-1'")),
            ),
        ],
    ),
    Scenario(
        "fresh_compute_grown_through_an_uncited_finding",
        [
            *setup(),
            *BASELINE,
            finding(12, "f-later", "AI-RD-4", compute=5e25),
            deploy(13, "dec-1", "det-1", expect=NC("determination.fresh", says=("'f-later'",))),
        ],
    ),
    Scenario(
        "fresh_measured_against_the_smallest_cited_finding",
        [
            *setup(),
            finding(10, "f-cbrn3", "CBRN-3", compute=1e25),
            finding(10, "f-aird4", "AI-RD-4", compute=3e25),
            finding(10, "f-cbrn4", "CBRN-4", compute=3e25),
            determination(11, "det-1", FINDINGS),
            compute(12, "cm-1", 4e25),
            deploy(13, "dec-1", "det-1", expect=NC("determination.fresh", says=("4 × 1e25",))),
        ],
    ),
    Scenario(
        "fresh_age_one_day_past_the_window",
        [
            *setup(),
            *BASELINE,
            deploy(10 + 182, "dec-in", "det-1"),
            deploy(10 + 183 - 1 / 86400, "dec-last-second", "det-1"),
            deploy(10 + 183, "dec-at-window", "det-1", expect=NC("determination.fresh")),
            deploy(
                10 + 184,
                "dec-day-past",
                "det-1",
                expect=NC("determination.fresh", says=("184 days", "less than 183 days")),
            ),
        ],
    ),
    Scenario(
        "fresh_age_counts_from_the_oldest_cited_finding",
        [
            *setup(),
            finding(5, "f-cbrn3", "CBRN-3"),
            *clean_findings(100)[1:],
            determination(101, "det-1", FINDINGS),
            deploy(
                5 + 184, "dec-1", "det-1", expect=NC("determination.fresh", says=("'f-cbrn3'",))
            ),
        ],
    ),
    # -- capability determinations ---------------------------------------------------------------
    Scenario(
        "early_warning_without_a_comprehensive_finding",
        [
            *setup(),
            finding(10, "f-cbrn3", "CBRN-3", "early_warning", assessment="preliminary"),
            *clean_findings(10)[1:],
            determination(11, "det-1", FINDINGS, expect=NC("determination.comprehensive")),
            deploy(
                12,
                "dec-1",
                "det-1",
                expect=NC("evidence.compliant", "determination.comprehensive"),
            ),
        ],
    ),
    Scenario(
        "early_warning_followed_by_a_comprehensive_finding",
        [
            *setup(),
            finding(10, "f-cbrn3", "CBRN-3", "early_warning", assessment="preliminary"),
            finding(10.5, "f-cbrn3-full", "CBRN-3", "ruled_out"),
            finding(10.5, "f-aird4-ew", "AI-RD-4", "early_warning"),  # itself comprehensive
            finding(10.5, "f-cbrn4", "CBRN-4"),
            determination(11, "det-1", ["f-cbrn3", "f-cbrn3-full", "f-aird4-ew", "f-cbrn4"]),
            deploy(12, "dec-1", "det-1"),
        ],
    ),
    Scenario(
        "early_warning_alone_where_the_policy_does_not_require_more",
        [
            *setup(amended("1", assessment__early_warning_requires_comprehensive=False)),
            finding(10, "f-cbrn3", "CBRN-3", "early_warning", assessment="preliminary"),
            *clean_findings(10)[1:],
            determination(11, "det-1", FINDINGS),
            deploy(12, "dec-1", "det-1"),
        ],
    ),
    Scenario(
        "cannot_rule_out_counted_as_crossed",
        [
            *setup(),
            finding(10, "f-cbrn3", "CBRN-3", "cannot_rule_out"),
            *clean_findings(10)[1:],
            determination(
                11,
                "det-low",
                FINDINGS,
                expect=NC("determination.level", says=("'f-cbrn3'", "cannot_rule_out")),
            ),
            determination(12, "det-1", FINDINGS, "ASL-3", "ASL-3"),
        ],
    ),
    Scenario(
        "cannot_rule_out_not_counted_where_the_policy_says_so",
        [
            *setup(amended("1", assessment__cannot_rule_out_counts_as_crossed=False)),
            finding(10, "f-cbrn3", "CBRN-3", "cannot_rule_out"),
            *clean_findings(10)[1:],
            determination(11, "det-1", FINDINGS),
        ],
    ),
    Scenario(
        "determination_understates_its_level",
        [
            *setup(),
            finding(10, "f-cbrn3", "CBRN-3", "crossed"),
            finding(10, "f-aird4", "AI-RD-4", "crossed"),
            finding(10, "f-cbrn4", "CBRN-4"),
            determination(
                11,
                "det-low",
                FINDINGS,
                "ASL-3",
                "ASL-2",
                expect=NC(
                    "determination.level",
                    says=("required.security is ASL-2, expected at least ASL-3",),
                ),
            ),
            determination(12, "det-1", FINDINGS, "ASL-3", "ASL-3"),
            # Stating more than the findings call for is not a failure.
            determination(12.5, "det-2", FINDINGS, "ASL-4", "ASL-3"),
        ],
    ),
    Scenario(
        "threshold_that_requires_only_security",
        [
            *setup(),
            finding(10, "f-cbrn3", "CBRN-3"),
            finding(10, "f-aird4", "AI-RD-4", "crossed"),
            finding(10, "f-cbrn4", "CBRN-4"),
            determination(11, "det-1", FINDINGS, "ASL-2", "ASL-3"),
            determination(
                12, "det-low", FINDINGS, "ASL-2", "ASL-2", expect=NC("determination.level")
            ),
        ],
    ),
    Scenario(
        "required_level_that_is_not_a_level",
        [
            *setup(),
            *clean_findings(10),
            determination(
                11,
                "det-1",
                FINDINGS,
                "ASL-9",
                "ASL-2",
                expect=NC("determination.level", says=("'ASL-9' is not a level",)),
            ),
            notify(12, "notify-1", "det-1"),
            deploy(13, "dec-1", "det-1", expect=NC("evidence.compliant", "safeguards.level")),
        ],
    ),
    Scenario(
        "superseded_determination",
        [
            *setup(),
            *BASELINE,
            determination(12, "det-2", FINDINGS),
            deploy(13, "dec-1", "det-1", expect=NC("determination.latest", says=("'det-2'",))),
            deploy(14, "dec-2", "det-2"),
        ],
    ),
    Scenario(
        "a_noncompliant_latest_determination_still_supersedes",
        [
            *setup(),
            *BASELINE,
            determination(12, "det-2", FINDINGS, by="ceo", expect=NC("signers.approved")),
            deploy(13, "dec-1", "det-1", expect=NC("determination.latest")),
            deploy(14, "dec-2", "det-2", expect=NC("evidence.compliant")),
        ],
    ),
    # -- approvals -------------------------------------------------------------------------------
    Scenario(
        "missing_ceo_signature",
        [
            *setup(),
            *BASELINE,
            deploy(
                12, "dec-1", "det-1", by="rso", expect=NC("signers.approved", says=("missing ceo",))
            ),
        ],
    ),
    Scenario(
        "one_person_holding_both_roles_counts_once",
        [
            *setup(),
            *BASELINE,
            deploy(12, "dec-1", "det-1", by="both", expect=NC("signers.approved")),
            deploy(13, "dec-2", "det-1", by="both+rso"),
            deploy(14, "dec-3", "det-1", by="both+ceo"),
        ],
    ),
    Scenario(
        "role_granted_only_after_the_decision",
        [
            *setup(),
            *BASELINE,
            deploy(12, "dec-1", "det-1", by="newbie+rso", expect=NC("signers.approved")),
            roles_set(13, "grant-1", "newbie", ["ceo"]),
            deploy(14, "dec-2", "det-1", by="newbie+rso"),
        ],
    ),
    Scenario(
        "role_taken_away_before_the_decision",
        [
            *setup(),
            *BASELINE,
            roles_set(11.5, "demote-1", "ceo", []),
            deploy(12, "dec-1", "det-1", expect=NC("signers.approved")),
        ],
    ),
    Scenario(
        "a_role_listed_twice_needs_two_signers",
        [
            *setup(amended("1", approvals__deployment_decision=["ceo", "ceo"])),
            *BASELINE,
            deploy(12, "dec-1", "det-1", by="ceo", expect=NC("signers.approved")),
            deploy(13, "dec-2", "det-1", by="ceo+both"),
        ],
    ),
    Scenario(
        "an_empty_approval_list_needs_no_signer",
        [
            *setup(amended("1", approvals__deployment_decision=[])),
            *BASELINE,
            deploy(12, "dec-1", "det-1", by="eval"),
        ],
    ),
    Scenario(
        "a_second_key_of_the_same_person_counts_once",
        [
            *setup(),
            *BASELINE,
            key_added(11.5, "key-ceo-2", "ceo", "ceo#2"),
            deploy(12, "dec-1", "det-1", by="ceo+ceo#2", expect=NC("signers.approved")),
            deploy(13, "dec-2", "det-1", by="ceo#2+rso"),
        ],
    ),
    Scenario(
        "undeploy_is_judged_only_by_approvals",
        [
            *setup(),
            *BASELINE,
            deploy(
                12,
                "undeploy-1",
                "no-such-det",
                action="undeploy",
                by="rso",
                expect=NC("signers.approved"),
            ),
            deploy(13, "undeploy-2", "no-such-det", action="undeploy"),
        ],
    ),
    Scenario(
        "undeploy_is_not_judged_where_approvals_are_silent",
        [
            *setup(amended("1", approvals={"policy_adopted": ["board"]})),
            *BASELINE,
            deploy(12, "undeploy-1", "det-1", action="undeploy", by="rso", expect=None),
            deploy(13, "dec-1", "det-1", by="rso"),
        ],
    ),
    Scenario(
        "findings_judged_where_approvals_name_them",
        [
            *setup(amended("1", approvals__capability_finding=["evaluator"])),
            finding(10, "f-cbrn3", "CBRN-3", by="eval", expect=OK),
            finding(10, "f-aird4", "AI-RD-4", by="eval", expect=OK),
            finding(10, "f-cbrn4", "CBRN-4", by="sec", expect=NC("signers.approved")),
            determination(
                11, "det-1", FINDINGS, expect=NC("evidence.compliant", says=("'f-cbrn4'",))
            ),
        ],
    ),
    # -- safeguards ------------------------------------------------------------------------------
    Scenario(
        "no_safeguards_cited_where_asl3_is_required",
        [
            *setup(),
            *asl3_evidence(),
            deploy(
                15, "dec-1", "det-1", [], expect=NC("safeguards.level", says=("deployment needs",))
            ),
        ],
    ),
    Scenario(
        "safeguards_for_security_only",
        [
            *setup(),
            *asl3_evidence(),
            safeguards(14.5, "sd-sec", ["att-sec"]),
            deploy(15, "dec-1", "det-1", ["sd-sec"], expect=NC("safeguards.level")),
        ],
    ),
    Scenario(
        "attestations_short_of_a_control",
        [
            *setup(),
            *asl3_evidence()[:4],
            attestation(12, "att-dep", controls=["red-teaming", "monitoring"]),
            attestation(12, "att-sec", "security"),
            safeguards(
                13,
                "sd-1",
                ["att-dep", "att-sec"],
                expect=NC("safeguards.controls", says=("missing trusted-users",)),
            ),
            attestation(13.5, "att-dep-2", controls=["trusted-users"]),
            # Together the attestations cover the standard.
            safeguards(13.6, "sd-2", ["att-dep", "att-dep-2", "att-sec"]),
            notify(14, "notify-1", "det-1"),
            deploy(
                15,
                "dec-1",
                "det-1",
                ["sd-1"],
                expect=NC("evidence.compliant", "safeguards.controls"),
            ),
            deploy(16, "dec-2", "det-1", ["sd-2"]),
        ],
    ),
    Scenario(
        "not_yet_specified_asl4_standard",
        [
            *setup(),
            finding(10, "f-cbrn3", "CBRN-3", "crossed"),
            finding(10, "f-aird4", "AI-RD-4"),
            finding(10, "f-cbrn4", "CBRN-4", "crossed"),
            determination(11, "det-1", FINDINGS, "ASL-4", "ASL-4"),
            attestation(12, "att-dep4", standard="ASL-4", controls=["everything-we-have"]),
            attestation(
                12, "att-sec4", "security", standard="ASL-4", controls=["everything-we-have"]
            ),
            safeguards(
                13,
                "sd-4",
                ["att-dep4", "att-sec4"],
                standard="ASL-4",
                expect=NC("safeguards.controls", says=("not yet specified",)),
            ),
            notify(14, "notify-1", "det-1"),
            deploy(
                15,
                "dec-1",
                "det-1",
                ["sd-4"],
                expect=NC("evidence.compliant", "safeguards.controls"),
            ),
        ],
    ),
    Scenario(
        "safeguards_of_a_standard_that_is_not_a_level",
        [
            *setup(),
            attestation(12, "att-x", standard="ASL-X", controls=["c"]),
            safeguards(13, "sd-x", ["att-x"], standard="ASL-X", expect=NC("safeguards.controls")),
        ],
    ),
    Scenario(
        "deployment_scope_outside_the_attested_scopes",
        [
            *setup(),
            *asl3_evidence(dep_scopes=["internal", "trusted"]),
            deploy(
                15,
                "dec-1",
                "det-1",
                ["sd-1"],
                expect=NC("deployment.scope", says=("not 'external'",)),
            ),
            deploy(16, "dec-2", "det-1", ["sd-1"], scope="trusted"),
        ],
    ),
    Scenario(
        "deployment_scope_not_in_the_policy",
        [
            *setup(),
            *BASELINE,
            deploy(12, "dec-1", "det-1", scope="public", expect=NC("deployment.scope")),
        ],
    ),
    Scenario(
        "expired_attestation",
        [
            *setup(),
            *asl3_evidence(att_until=20),
            deploy(19, "dec-1", "det-1", ["sd-1"]),
            deploy(
                20,
                "dec-2",
                "det-1",
                ["sd-1"],
                expect=NC("safeguards.current", says=("'att-dep' has expired",)),
            ),
        ],
    ),
    Scenario(
        "safeguards_approved_for_longer_than_the_policy_allows",
        [
            *setup(),
            *asl3_evidence()[:6],
            safeguards(
                13, "sd-1", ["att-dep", "att-sec"], until=13 + 366, expect=NC("safeguards.current")
            ),
            safeguards(13, "sd-2", ["att-dep", "att-sec"], until=13 + 365),
            notify(14, "notify-1", "det-1"),
            deploy(
                15,
                "dec-1",
                "det-1",
                ["sd-1"],
                expect=NC("evidence.compliant", "safeguards.current"),
            ),
            deploy(16, "dec-2", "det-1", ["sd-2"]),
        ],
    ),
    Scenario(
        "organisation_wide_attestation",
        [
            *setup(),
            *asl3_evidence(attested_model=None),
            safeguards(14.5, "sd-org", ["att-dep", "att-sec"], m=None),
            deploy(15, "dec-1", "det-1", ["sd-1"]),
            deploy(16, "dec-2", "det-1", ["sd-org"]),
        ],
    ),
    Scenario(
        "organisation_wide_safeguards_cannot_rest_on_one_models_attestation",
        [
            *setup(),
            *asl3_evidence(),
            safeguards(14.5, "sd-org", ["att-dep", "att-sec"], m=None, expect=NC("evidence.cited")),
        ],
    ),
    Scenario(
        "attestation_of_another_standard",
        [
            *setup(),
            *asl3_evidence()[:5],
            attestation(12, "att-sec4", "security", standard="ASL-4", controls=["x"]),
            safeguards(
                13,
                "sd-1",
                ["att-dep", "att-sec4"],
                expect=NC("evidence.cited", says=("expected ASL-3",)),
            ),
            notify(14, "notify-1", "det-1"),
            deploy(
                15,
                "dec-1",
                "det-1",
                ["sd-1"],
                expect=NC("evidence.compliant", "safeguards.level"),
            ),
        ],
    ),
    # -- governance ------------------------------------------------------------------------------
    Scenario(
        "board_and_ltbt_notified_after_the_decision",
        [
            *setup(),
            *asl3_evidence(notify_board_and_ltbt=False),
            deploy(
                15,
                "dec-1",
                "det-1",
                ["sd-1"],
                expect=NC("governance.notified", says=("board, ltbt",)),
            ),
            notify(16, "notify-1", "det-1"),
            deploy(17, "dec-2", "det-1", ["sd-1"]),
        ],
    ),
    Scenario(
        "only_the_board_notified_then_the_ltbt",
        [
            *setup(),
            *asl3_evidence(notified=["board"]),
            deploy(
                15, "dec-1", "det-1", ["sd-1"], expect=NC("governance.notified", says=("ltbt",))
            ),
            notify(16, "notify-2", "det-1", ["ltbt"]),
            deploy(17, "dec-2", "det-1", ["sd-1"]),
        ],
    ),
    Scenario(
        "notification_sent_before_the_determination_existed",
        [
            *setup(),
            notify(9, "notify-early", "det-1"),
            *asl3_evidence(notify_board_and_ltbt=False),
            deploy(15, "dec-1", "det-1", ["sd-1"], expect=NC("governance.notified")),
        ],
    ),
    # -- citations -------------------------------------------------------------------------------
    Scenario(
        "citing_evidence_recorded_after_it",
        [
            *setup(),
            *clean_findings(10)[:2],
            determination(
                11,
                "det-1",
                ["f-cbrn3", "f-aird4", "f-cbrn4"],
                expect=NC(
                    "evidence.cited",
                    "determination.coverage",
                    says=("'f-cbrn4', which is not recorded before it",),
                ),
            ),
            finding(12, "f-cbrn4", "CBRN-4"),
            deploy(13, "dec-1", "det-1", expect=NC("evidence.compliant", "determination.coverage")),
        ],
    ),
    Scenario(
        "citing_a_statement_of_the_wrong_type",
        [
            *setup(),
            *BASELINE,
            deploy(
                12,
                "dec-1",
                "f-cbrn3",
                expect=NC("evidence.cited", says=("as a capability_determination",)),
            ),
        ],
    ),
    Scenario(
        "citing_another_models_evidence",
        [
            *setup(),
            model(2, "m2"),
            *clean_findings(10)[:2],
            finding(10, "f-m2", "CBRN-4", m="m2"),
            determination(
                11,
                "det-1",
                ["f-cbrn3", "f-aird4", "f-m2"],
                expect=NC("evidence.cited", "determination.coverage"),
            ),
            *clean_findings(11, m="m2", prefix="g"),
            determination(12, "det-m2", ["g-cbrn3", "g-aird4", "g-cbrn4"], m="m2"),
            deploy(13, "dec-1", "det-m2", expect=NC("evidence.cited", says=("model 'm2'",))),
        ],
    ),
    Scenario(
        "safeguards_citing_a_finding",
        [
            *setup(),
            *clean_findings(10),
            safeguards(11, "sd-1", ["f-cbrn3"], expect=NC("evidence.cited")),
        ],
    ),
    Scenario(
        "model_not_registered",
        [
            *setup(with_model=False),
            *BASELINE[:3],
            determination(11, "det-1", FINDINGS, expect=NC("model.registered")),
            deploy(12, "dec-1", "det-1", expect=NC("evidence.compliant", "model.registered")),
        ],
    ),
    # -- void evidence ---------------------------------------------------------------------------
    Scenario(
        "withdrawn_later_with_invalid_from_before_the_decision",
        [
            *setup(),
            *asl3_evidence(),
            deploy(15, "dec-1", "det-1", ["sd-1"], expect=INV("wd-1")),
            withdraw(30, "wd-1", "att-dep", invalid_from=14),
        ],
    ),
    Scenario(
        "withdrawn_later_with_invalid_from_after_the_decision",
        [
            *setup(),
            *asl3_evidence(),
            deploy(15, "dec-1", "det-1", ["sd-1"]),
            withdraw(30, "wd-1", "att-dep", invalid_from=16),
        ],
    ),
    Scenario(
        "withdrawn_from_before_the_safeguards_determination",
        [
            *setup(),
            *asl3_evidence()[:6],
            safeguards(13, "sd-1", ["att-dep", "att-sec"], expect=INV("wd-1")),
            notify(14, "notify-1", "det-1"),
            deploy(15, "dec-1", "det-1", ["sd-1"], expect=INV("wd-1")),
            withdraw(30, "wd-1", "att-dep", invalid_from=12.5),
        ],
    ),
    Scenario(
        "withdrawal_known_before_the_decision",
        [
            *setup(),
            *asl3_evidence(),
            withdraw(14.5, "wd-1", "att-dep", invalid_from=14),
            deploy(
                15,
                "dec-1",
                "det-1",
                ["sd-1"],
                expect=NC("evidence.cited", "safeguards.current", says=("withdrawn by 'wd-1'",)),
            ),
        ],
    ),
    Scenario(
        "safeguards_determination_itself_withdrawn_later",
        [
            *setup(),
            *asl3_evidence(),
            deploy(15, "dec-1", "det-1", ["sd-1"]),
            deploy(16, "dec-2", "det-1", ["sd-1"], expect=INV("wd-1")),
            withdraw(30, "wd-1", "sd-1", invalid_from=15.5),
        ],
    ),
    Scenario(
        "key_compromised_since_before_the_decision",
        [
            *setup(),
            *asl3_evidence(),
            deploy(15, "dec-1", "det-1", ["sd-1"], expect=INV("rev-1")),
            compromised(30, "rev-1", "ceo", since=14),
        ],
    ),
    Scenario(
        "key_compromised_since_after_the_decision",
        [
            *setup(),
            *asl3_evidence(),
            deploy(15, "dec-1", "det-1", ["sd-1"]),
            compromised(30, "rev-1", "ceo", since=16),
        ],
    ),
    Scenario(
        "evaluator_key_compromised_invalidates_transitively",
        [
            *setup(),
            finding(10, "f-cbrn3", "CBRN-3", "crossed"),
            finding(10, "f-aird4", "AI-RD-4"),
            finding(10, "f-cbrn4", "CBRN-4"),
            determination(11, "det-1", FINDINGS, "ASL-3", "ASL-3", expect=INV("rev-eval")),
            *asl3_evidence()[4:],
            deploy(15, "dec-1", "det-1", ["sd-1"], expect=INV("rev-eval")),
            compromised(30, "rev-eval", "eval", since=5),
        ],
    ),
    Scenario(
        "compromise_known_before_the_decision",
        [
            *setup(),
            *asl3_evidence()[:3],
            determination(11, "det-1", FINDINGS, "ASL-3", "ASL-3", expect=INV("rev-eval")),
            *asl3_evidence()[4:],
            compromised(14.5, "rev-eval", "eval", since=5),
            deploy(
                15, "dec-1", "det-1", ["sd-1"], expect=NC("evidence.cited", says=("compromised",))
            ),
        ],
    ),
    Scenario(
        "a_noncompliant_verdict_is_never_invalidated",
        [
            *setup(),
            *asl3_evidence(),
            deploy(15, "dec-1", "det-1", ["sd-1"], by="rso", expect=NC("signers.approved")),
            withdraw(30, "wd-1", "att-dep", invalid_from=14),
        ],
    ),
]

# The cases issue 4 asks for by name, each with the scenario that shows it.
ISSUE_4_CASES: dict[str, str] = {
    "decision just before and just after an amendment takes effect": "decision_just_before_and_just_after_an_amendment_takes_effect",
    "retroactive amendment": "retroactive_amendment",
    "amendment adding a threshold": "amendment_adds_a_threshold",
    "amendment adding a control": "amendment_adds_a_control",
    "3.9x holds": "fresh_compute_3_9x_holds",
    "4.0x fails": "fresh_compute_4_0x_fails",
    "one day past the age window": "fresh_age_one_day_past_the_window",
    "early warning without comprehensive": "early_warning_without_a_comprehensive_finding",
    "cannot_rule_out counted as crossed": "cannot_rule_out_counted_as_crossed",
    "understated level": "determination_understates_its_level",
    "superseded determination": "superseded_determination",
    "missing CEO signature": "missing_ceo_signature",
    "one person with both roles": "one_person_holding_both_roles_counts_once",
    "role granted after the decision": "role_granted_only_after_the_decision",
    "scope outside attested scopes": "deployment_scope_outside_the_attested_scopes",
    "expired attestation": "expired_attestation",
    "withdrawn later, invalid_from before the decision": "withdrawn_later_with_invalid_from_before_the_decision",
    "withdrawn later, invalid_from after the decision": "withdrawn_later_with_invalid_from_after_the_decision",
    "key compromised since before the decision": "key_compromised_since_before_the_decision",
    "not-yet-specified ASL-4": "not_yet_specified_asl4_standard",
    "Board and LTBT notified after the decision": "board_and_ltbt_notified_after_the_decision",
    "organisation-wide attestation": "organisation_wide_attestation",
    "citing evidence recorded after it": "citing_evidence_recorded_after_it",
}

__all__ = ["ALL_SCOPES", "ISSUE_4_CASES", "SCENARIOS"]
