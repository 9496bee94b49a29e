"""The policy documents shipped in `policies/` (issues 4 and 10): valid, and faithful.

Each YAML file must convert to exactly the JSON policy object of SPEC §4 (or of
`rsp-ledger.policy/v2`, docs/rules.md "Policy v2"), with provenance only in comments. Beyond
validity, these tests pin the facts of the public texts that the encoding rests on, so that an
edit which changes a threshold, a control, an approval, a window or a duty fails here and has to
be argued for in `docs/policies/`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.policy import PolicyDocument, PolicyDocumentV2, policy_problems

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
DOCS = ROOT / "docs" / "policies"
SHIPPED = (
    "anthropic-rsp-2.1",
    "anthropic-rsp-2.2",
    "anthropic-rsp-3.0",
    "google-deepmind-fsf-3.0",
    "openai-preparedness-v2",
)
V2_SHIPPED = ("anthropic-rsp-3.0", "google-deepmind-fsf-3.0")

# SPEC §1: levels, scopes, roles, control ids and threshold ids.
IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# SPEC §4: "it has exactly these fields".
SPEC_FIELDS = {
    "schema", "id", "version", "title", "levels", "scopes", "standards", "thresholds",
    "assessment", "safeguards", "approvals", "notify_before_deployment",
}  # fmt: skip
V2_FIELDS = {"duties", "approvals_if", "safety_case_before"}
DECISIONS = ("capability_determination", "safeguards_determination", "deployment_decision")


def load(name: str) -> dict[str, Any]:
    obj = yaml.safe_load((POLICIES / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(obj, dict)
    return obj


def header(name: str) -> list[str]:
    """The leading comment block of a policy file: its provenance."""
    lines = (POLICIES / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    block = []
    for line in lines:
        if not line.startswith("#"):
            break
        block.append(line)
    return block


@pytest.fixture(scope="module")
def rsp21() -> dict[str, Any]:
    return load("anthropic-rsp-2.1")


@pytest.fixture(scope="module")
def rsp22() -> dict[str, Any]:
    return load("anthropic-rsp-2.2")


@pytest.fixture(scope="module")
def openai() -> dict[str, Any]:
    return load("openai-preparedness-v2")


@pytest.fixture(scope="module")
def rsp30() -> dict[str, Any]:
    return load("anthropic-rsp-3.0")


@pytest.fixture(scope="module")
def fsf30() -> dict[str, Any]:
    return load("google-deepmind-fsf-3.0")


# -- every shipped document ------------------------------------------------------------------------


def test_every_yaml_in_policies_is_covered_here() -> None:
    assert sorted(p.stem for p in POLICIES.glob("*.yaml")) == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_is_a_valid_policy(name: str) -> None:
    obj = load(name)
    assert policy_problems(obj) == []
    doc = PolicyDocument.parse(obj)
    assert doc.to_json() == obj


@pytest.mark.parametrize("name", SHIPPED)
def test_converts_to_plain_json_with_only_spec_fields(name: str) -> None:
    obj = load(name)
    v2 = name in V2_SHIPPED
    fields = SPEC_FIELDS | V2_FIELDS if v2 else SPEC_FIELDS
    assert set(obj) <= fields
    assert fields - set(obj) <= {"title"}  # SPEC §4: only `title` is optional
    # YAML must not smuggle in dates, sets or other non-JSON values: a JSON round trip is exact.
    assert json.loads(json.dumps(obj, allow_nan=False)) == obj
    assert obj["schema"] == ("rsp-ledger.policy/v2" if v2 else "rsp-ledger.policy/v1")
    assert isinstance(PolicyDocument.parse(obj), PolicyDocumentV2) is v2
    assert isinstance(obj["version"], str)


@pytest.mark.parametrize("name", SHIPPED)
def test_identifiers_have_the_form_of_spec_1(name: str) -> None:
    obj = load(name)
    idents = [*obj["levels"], *obj["scopes"], *obj["standards"], *obj["notify_before_deployment"]]
    for standard in obj["standards"].values():
        idents += standard["deployment"] + standard["security"]
    for threshold in obj["thresholds"]:
        idents += [threshold["id"], *threshold["requires"].values()]
    for roles in obj["approvals"].values():
        idents += roles
    for duty in obj.get("duties", []):
        idents += [duty["id"], *duty.get("notified", [])]
    for entries in obj.get("approvals_if", {}).values():
        idents += [role for entry in entries for role in entry["roles"]]
    for threshold_id, scopes in obj.get("safety_case_before", {}).items():
        idents += [threshold_id, *scopes]
    bad = [i for i in idents if not IDENT.match(i)]
    assert bad == []


@pytest.mark.parametrize("name", SHIPPED)
def test_provenance_is_in_the_header_and_no_hash_is_invented(name: str) -> None:
    block = header(name)
    text = "\n".join(block)
    assert re.search(r"^#\s+source:\s+https://\S+$", text, re.M)
    assert re.search(r"^#\s+published:\s+\d{4}-\d{2}-\d{2}", text, re.M)
    sha = re.search(r"^#\s+sha256:\s+(.*)$", text, re.M)
    assert sha is not None
    # We could not fetch the documents' bytes, so the header must say so rather than guess.
    assert sha.group(1) == "unknown (not retrievable offline)"
    assert f"docs/policies/{name}.md" in text


@pytest.mark.parametrize("name", SHIPPED)
def test_each_policy_has_a_mapping_document_indexed_in_the_readme(name: str) -> None:
    assert (DOCS / f"{name}.md").is_file()
    assert f"({name}.md)" in (DOCS / "README.md").read_text(encoding="utf-8")


# -- Anthropic RSP 2.2 -----------------------------------------------------------------------------


def threshold(obj: dict[str, Any], tid: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [t for t in obj["thresholds"] if t["id"] == tid]
    assert len(found) == 1, f"expected one threshold {tid!r}, found {len(found)}"
    return found[0]


def test_rsp22_identity(rsp22: dict[str, Any]) -> None:
    assert (rsp22["id"], rsp22["version"]) == ("anthropic-rsp", "2.2")
    assert rsp22["levels"] == ["ASL-2", "ASL-3", "ASL-4"]


def test_rsp22_thresholds_and_required_standards(rsp22: dict[str, Any]) -> None:
    # RSP §2 table "Capability Thresholds and Required Safeguards".
    assert [t["id"] for t in rsp22["thresholds"]] == ["CBRN-3", "CBRN-4", "AI-RD-4", "AI-RD-5"]
    assert threshold(rsp22, "CBRN-3")["requires"] == {"deployment": "ASL-3", "security": "ASL-3"}
    assert threshold(rsp22, "CBRN-4")["requires"] == {"deployment": "ASL-4", "security": "ASL-4"}
    assert threshold(rsp22, "AI-RD-4")["requires"] == {"security": "ASL-3"}
    assert threshold(rsp22, "AI-RD-5")["requires"] == {"security": "ASL-4"}


def test_rsp22_asl3_criteria_are_controls(rsp22: dict[str, Any]) -> None:
    doc = PolicyDocument.parse(rsp22)
    # RSP §4.1, criteria 1-7.
    assert doc.controls("ASL-3", "deployment") == (
        "threat-modeling", "defense-in-depth", "red-teaming", "rapid-remediation",
        "monitoring", "trusted-users", "third-party-environments",
    )  # fmt: skip
    # RSP §4.2, criteria 1-4 (with 2a-2e) and footnote 11.
    security = doc.controls("ASL-3", "security")
    for criterion in ("threat-modeling", "security-frameworks", "audits",
                      "third-party-environments", "insider-risk.basic"):  # fmt: skip
        assert criterion in security
    assert len([c for c in security if c.startswith("security-frameworks.")]) == 5


def test_rsp22_asl4_is_not_yet_specified(rsp22: dict[str, Any]) -> None:
    doc = PolicyDocument.parse(rsp22)
    assert rsp22["standards"]["ASL-4"] == {"deployment": [], "security": []}
    assert doc.needs_safeguards("ASL-4")
    assert not doc.is_specified("ASL-4", "deployment")
    assert not doc.is_specified("ASL-4", "security")
    # ASL-2 is the baseline, which the RSP does not route through Safeguards Reports.
    assert not doc.needs_safeguards("ASL-2")


def test_rsp22_windows(rsp22: dict[str, Any]) -> None:
    # RSP §3.1: 4x Effective Compute or six months; §4.3 item 5: re-approved at least annually.
    assert rsp22["assessment"] == {
        "max_age_days": 183,
        "effective_compute_multiple": 4.0,
        "cannot_rule_out_counts_as_crossed": True,
        "early_warning_requires_comprehensive": True,
    }
    assert rsp22["safeguards"] == {"max_validity_days": 365}


def test_rsp22_approvals_and_notification(rsp22: dict[str, Any]) -> None:
    # RSP §3.3 and §4.3: the CEO and the RSO make the determinations and deployment decisions.
    for statement_type in DECISIONS:
        assert rsp22["approvals"][statement_type] == ["ceo", "responsible-scaling-officer"]
    # RSP §7.1.7: the Board approves changes proposed by the CEO and the RSO.
    assert "board" in rsp22["approvals"]["policy_adopted"]
    # RSP §3.3 item 4 and §4.3 item 4: the Board and the LTBT are told before moving forward.
    assert set(rsp22["notify_before_deployment"]) == {"board", "ltbt"}


# -- the amendment 2.1 -> 2.2 ----------------------------------------------------------------------


def test_rsp21_identity(rsp21: dict[str, Any]) -> None:
    assert (rsp21["id"], rsp21["version"]) == ("anthropic-rsp", "2.1")
    assert "Effective March 31, 2025" in "\n".join(header("anthropic-rsp-2.1"))
    assert "Effective May 14, 2025" in "\n".join(header("anthropic-rsp-2.2"))


def test_rsp21_and_rsp22_differ_only_where_the_texts_differ(
    rsp21: dict[str, Any], rsp22: dict[str, Any]
) -> None:
    # The 2.2 changelog names one change: sophisticated and state-compromised insiders leave the
    # scope of the ASL-3 Security Standard (§4.2 footnote 11). Everything else is the same.
    def without_asl3_security_and_version(obj: dict[str, Any]) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(obj))
        del copy["version"]
        del copy["standards"]["ASL-3"]["security"]
        return copy

    assert without_asl3_security_and_version(rsp21) == without_asl3_security_and_version(rsp22)

    old = rsp21["standards"]["ASL-3"]["security"]
    new = rsp22["standards"]["ASL-3"]["security"]
    assert set(new) < set(old)
    assert set(old) - set(new) == {"insider-risk.sophisticated-and-state-compromised"}
    # Narrowing the scope drops a control, so a 2.1 attestation still covers 2.2's list.
    assert [c for c in old if c in new] == new


def test_the_amendment_to_22_is_approved_under_21(rsp21: dict[str, Any]) -> None:
    # SPEC §4: an amendment needs approvals.policy_adopted of the policy in force (2.1).
    assert rsp21["approvals"]["policy_adopted"] == ["board", "ceo", "responsible-scaling-officer"]


# -- OpenAI Preparedness Framework v2 --------------------------------------------------------------


def test_openai_is_not_anthropic_shaped(openai: dict[str, Any], rsp22: dict[str, Any]) -> None:
    assert (openai["id"], openai["version"]) == ("openai-preparedness-framework", "2")
    assert openai["levels"] == ["baseline", "high", "critical"]
    assert set(openai["levels"]).isdisjoint(rsp22["levels"])
    assert set(openai["approvals"]["deployment_decision"]).isdisjoint(
        rsp22["approvals"]["deployment_decision"]
    )


def test_openai_high_and_critical_per_tracked_category(openai: dict[str, Any]) -> None:
    # Preparedness Framework v2, Table 1: three Tracked Categories, High and Critical each.
    categories = ("bio-chem", "cyber", "ai-self-improvement")
    assert [t["id"] for t in openai["thresholds"]] == [
        f"{c}.{level}" for c in categories for level in ("high", "critical")
    ]
    for category in categories:
        # "Until we have specified safeguards and security controls that would meet a Critical
        # standard, halt further development."
        critical = threshold(openai, f"{category}.critical")["requires"]
        assert critical == {"deployment": "critical", "security": "critical"}
    both_high = {"deployment": "high", "security": "high"}
    assert threshold(openai, "bio-chem.high")["requires"] == both_high
    assert threshold(openai, "cyber.high")["requires"] == both_high
    # AI Self-improvement High names security controls (Appendix C.3) only.
    assert threshold(openai, "ai-self-improvement.high")["requires"] == {"security": "high"}


def test_openai_standards(openai: dict[str, Any]) -> None:
    doc = PolicyDocument.parse(openai)
    assert not doc.needs_safeguards("baseline")
    assert doc.is_specified("high", "deployment")
    assert "misuse-safeguards" in doc.controls("high", "deployment")
    # Appendix C.3: six groups, sixteen required practices for High capability models.
    security = doc.controls("high", "security")
    assert len(security) == 16
    assert {c.split(".")[0] for c in security} == {
        "threat-modeling", "defense-in-depth", "access-management",
        "secure-development", "operational-security", "auditing",
    }  # fmt: skip
    assert openai["standards"]["critical"] == {"deployment": [], "security": []}


def test_openai_roles_and_readings(openai: dict[str, Any]) -> None:
    # Appendix B: OpenAI Leadership makes all final decisions; the SAG cannot "filibuster".
    for statement_type in (*DECISIONS, "policy_adopted"):
        assert openai["approvals"][statement_type] == ["openai-leadership"]
    # §3.3 and §4.2: the SAG receives the reports before deployment.
    assert openai["notify_before_deployment"] == ["safety-advisory-group"]
    # The framework has no "cannot rule out counts as crossed" rule and no mandatory deep dive.
    assert openai["assessment"]["cannot_rule_out_counts_as_crossed"] is False
    assert openai["assessment"]["early_warning_requires_comprehensive"] is False


# -- Anthropic RSP 3.0 (policy v2) -----------------------------------------------------------------


def duty(obj: dict[str, Any], duty_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [d for d in obj["duties"] if d["id"] == duty_id]
    assert len(found) == 1, f"expected one duty {duty_id!r}, found {len(found)}"
    return found[0]


def test_rsp30_identity_and_provenance(rsp30: dict[str, Any]) -> None:
    assert (rsp30["id"], rsp30["version"]) == ("anthropic-rsp", "3.0")
    text = "\n".join(header("anthropic-rsp-3.0"))
    assert "Effective February 24, 2026" in text
    assert "https://anthropic.com/responsible-scaling-policy/rsp-v3-0" in text
    # The third party's hash is quoted as unverified, never as ours.
    assert "a71bfa08a7fa4b750b2b408b4b9c8681ad50c6b53271c314f591c59c84c38064" in text
    assert "NOT verified by us" in text


def test_rsp30_keeps_asl3_as_present_protections_only(rsp30: dict[str, Any]) -> None:
    # Appendix B: ASLs name present levels of mitigations; no ASL-4 list of controls any more.
    assert rsp30["levels"] == ["ASL-2", "ASL-3"]
    doc = PolicyDocument.parse(rsp30)
    # §1 table, row 1, middle column: the protections the text names.
    assert doc.controls("ASL-3", "deployment") == (
        "classifier-guards", "trusted-user-access-controls", "jailbreak-assessment.red-teaming",
        "jailbreak-assessment.bug-bounties", "jailbreak-assessment.threat-intelligence",
    )  # fmt: skip
    assert doc.controls("ASL-3", "security") == ("noteworthy-security-controls",)
    both = {"deployment": "ASL-3", "security": "ASL-3"}
    assert [t["id"] for t in rsp30["thresholds"]] == [
        "CB-non-novel", "CB-novel", "high-stakes-sabotage", "automated-rd",
    ]  # fmt: skip
    assert threshold(rsp30, "CB-non-novel")["requires"] == both
    assert threshold(rsp30, "CB-novel")["requires"] == both
    assert threshold(rsp30, "high-stakes-sabotage")["requires"] == {}
    assert threshold(rsp30, "automated-rd")["requires"] == {}


def test_rsp30_duties(rsp30: dict[str, Any]) -> None:
    # §3.1 "Timing": a Risk Report every 3-6 months (the upper bound binds).
    assert duty(rsp30, "risk-report.cadence") == {
        "id": "risk-report.cadence",
        "title": "A Risk Report every 3-6 months",
        "kind": "periodic",
        "statement": "risk_report_published",
        "max_interval_days": 183,
    }
    # §3.1: within 30 days of determining that an internally deployed model is in scope.
    trigger = duty(rsp30, "in-scope-internal-model.discussion")
    assert (trigger["kind"], trigger["trigger"], trigger["when"]) == (
        "triggered", "model_in_scope", {"deployment": "internal"},
    )  # fmt: skip
    assert (trigger["statement"], trigger["within_days"]) == ("model_discussion_published", 30)
    # §3.6 and §3.6.2: highly capable and significantly redacted; one week after Board and LTBT.
    review = duty(rsp30, "risk-report.external-review")
    assert review["when"] == {"highly_capable": True, "significantly_redacted": True}
    assert (review["notified"], review["within_days"]) == (["board", "ltbt"], 7)
    assert review["statement"] == "external_review_requested"


def test_rsp30_approvals(rsp30: dict[str, Any]) -> None:
    # §3.4 item 3: the CEO and the RSO approve the Risk Report and downstream decisions.
    for statement_type in (*DECISIONS, "risk_report_published"):
        assert rsp30["approvals"][statement_type] == ["ceo", "responsible-scaling-officer"]
    # §3.4 item 5: explicit Board and LTBT approval when marginal risk analysis is important.
    assert rsp30["approvals_if"] == {
        "risk_report_published": [
            {"when": {"marginal_risk_analysis": True}, "roles": ["board", "ltbt"]}
        ]
    }
    # §4 item 7: proposed by the CEO and the RSO, approved by the Board.
    assert rsp30["approvals"]["policy_adopted"] == ["board", "ceo", "responsible-scaling-officer"]
    # No sharing "before moving forward" and no safety-case gate remain.
    assert rsp30["notify_before_deployment"] == []
    assert rsp30["safety_case_before"] == {}


def test_rsp30_sets_no_assessment_or_revalidation_window(rsp30: dict[str, Any]) -> None:
    doc = PolicyDocument.parse(rsp30)
    assert rsp30["assessment"]["max_age_days"] == 36525
    assert rsp30["assessment"]["effective_compute_multiple"] == 1000000.0
    assert rsp30["safeguards"]["max_validity_days"] == 36525
    assert not doc.assessment.cannot_rule_out_counts_as_crossed


def test_the_switch_to_30_is_approved_under_22(rsp22: dict[str, Any]) -> None:
    # SPEC §4: the amendment to 3.0 needs approvals.policy_adopted of 2.2, the policy in force.
    assert rsp22["approvals"]["policy_adopted"] == ["board", "ceo", "responsible-scaling-officer"]
    assert policy_problems(load("anthropic-rsp-3.0")) == []


# -- Google DeepMind Frontier Safety Framework 3.0 (policy v2) -------------------------------------


def test_fsf30_identity_and_provenance(fsf30: dict[str, Any]) -> None:
    assert (fsf30["id"], fsf30["version"]) == ("google-deepmind-frontier-safety-framework", "3.0")
    text = "\n".join(header("google-deepmind-fsf-3.0"))
    assert "Published: September 22, 2025" in text
    assert "frontier-safety-framework_3.pdf" in text
    assert "87ebf40b747b98468226b2198442b45ff54854975f6e9882d9ece2d009082fe5" in text


def test_fsf30_ccls_with_recommended_security_levels(fsf30: dict[str, Any]) -> None:
    assert fsf30["levels"] == ["baseline", "SL-2", "SL-3", "SL-4"]
    # Tables 2.2.1.a-2.2.3.a and 3.2.1.a; the exploratory misalignment CCLs are not assessed.
    assert {t["id"]: t["requires"] for t in fsf30["thresholds"]} == {
        "CBRN-uplift-1": {"security": "SL-2"},
        "cyber-uplift-1": {"security": "SL-2"},
        "harmful-manipulation-1": {"security": "SL-2"},
        "ML-RD-acceleration-1": {"security": "SL-3"},
        "ML-RD-automation-1": {"security": "SL-4"},
    }
    doc = PolicyDocument.parse(fsf30)
    for level in ("SL-2", "SL-3", "SL-4"):
        assert doc.controls(level, "security") == (f"rand-{level.lower()}-aligned",)
        # Deployment mitigations are a safety case process, not a list of controls.
        assert not doc.is_specified(level, "deployment")


def test_fsf30_safety_cases_and_alert_thresholds(fsf30: dict[str, Any]) -> None:
    doc = PolicyDocument.parse(fsf30)
    # §2.1.2 item 2 (misuse): external deployments; §3.1.2 item 2 (ML R&D): and large-scale
    # internal deployments, each after the governance function approves the safety case.
    for misuse in ("CBRN-uplift-1", "cyber-uplift-1", "harmful-manipulation-1"):
        assert doc.safety_case_scopes(misuse) == {"external"}
    for mlrd in ("ML-RD-acceleration-1", "ML-RD-automation-1"):
        assert doc.safety_case_scopes(mlrd) == {"external", "internal-large-scale"}
    assert fsf30["approvals"]["safety_case_approved"] == ["governance-function"]
    # §1.4: reaching an alert threshold leads to assessing the proximity to the CCL.
    assert fsf30["assessment"]["early_warning_requires_comprehensive"] is True


def test_fsf30_is_updated_at_least_once_a_year(fsf30: dict[str, Any]) -> None:
    # §5.1: "updated at least once a year"; reviewed by the corporate governance bodies.
    assert fsf30["duties"] == [
        {
            "id": "framework.annual-update",
            "title": "The Framework is updated at least once a year",
            "kind": "periodic",
            "statement": "policy_adopted",
            "max_interval_days": 365,
        }
    ]
    assert fsf30["approvals"]["policy_adopted"] == ["corporate-governance"]
