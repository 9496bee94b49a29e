"""The policy documents shipped in `policies/` (issue 4): valid under SPEC §4, and faithful.

Each YAML file must convert to exactly the JSON policy object of SPEC §4, with provenance only in
comments. Beyond validity, these tests pin the facts of the public texts that the encoding rests
on, so that an edit which changes a threshold, a control, an approval or a window fails here and
has to be argued for in `docs/policies/`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.policy import PolicyDocument, policy_problems

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
DOCS = ROOT / "docs" / "policies"
SHIPPED = ("anthropic-rsp-2.1", "anthropic-rsp-2.2", "openai-preparedness-v2")

# SPEC §1: levels, scopes, roles, control ids and threshold ids.
IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# SPEC §4: "it has exactly these fields".
SPEC_FIELDS = {
    "schema", "id", "version", "title", "levels", "scopes", "standards", "thresholds",
    "assessment", "safeguards", "approvals", "notify_before_deployment",
}  # fmt: skip
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
    assert set(obj) <= SPEC_FIELDS
    assert SPEC_FIELDS - set(obj) <= {"title"}  # SPEC §4: only `title` is optional
    # YAML must not smuggle in dates, sets or other non-JSON values: a JSON round trip is exact.
    assert json.loads(json.dumps(obj, allow_nan=False)) == obj
    assert obj["schema"] == "rsp-ledger.policy/v1"
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
    bad = [i for i in idents if not IDENT.match(i)]
    assert bad == []


@pytest.mark.parametrize("name", SHIPPED)
def test_provenance_is_in_the_header_and_no_hash_is_invented(name: str) -> None:
    block = header(name)
    text = "\n".join(block)
    assert re.search(r"^#\s+source:\s+https://\S+\.pdf$", text, re.M)
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
