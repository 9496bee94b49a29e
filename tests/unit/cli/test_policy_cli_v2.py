"""`rsp-ledger policy validate|show|diff` on `rsp-ledger.policy/v2` documents: the shipped RSP
3.0 and Frontier Safety Framework 3.0, and an amendment from v1 to v2. A v1 document's summary
says nothing of v2."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from cli.policy import describe, policy
from domain.policy import PolicyDocument
from tests.unit.domain.test_policy import VALID

POLICIES = Path(__file__).resolve().parents[3] / "policies"
RSP22 = str(POLICIES / "anthropic-rsp-2.2.yaml")
RSP30 = str(POLICIES / "anthropic-rsp-3.0.yaml")
FSF30 = str(POLICIES / "google-deepmind-fsf-3.0.yaml")


def run(*args: str) -> Result:
    return CliRunner().invoke(policy, list(args))


def test_validate_a_v2_document() -> None:
    r = run("validate", "--json", RSP30)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {
        "file": RSP30,
        "policy": "anthropic-rsp@3.0",
        "valid": True,
        "problems": [],
    }


def test_show_lists_duties_conditional_approvals_and_safety_cases() -> None:
    r = run("show", RSP30)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "duties:      3" in lines
    assert "  risk-report.cadence: a risk_report_published at most every 183 days" in lines
    assert (
        "  in-scope-internal-model.discussion: a model_discussion_published about the same model "
        "within 30 days of a model_in_scope (deployment is 'internal')"
    ) in lines
    assert "  risk_report_published: + board + ltbt when marginal_risk_analysis is true" in lines
    fsf = run("show", FSF30).output.splitlines()
    assert "  ML-RD-automation-1: to external, internal-large-scale" in fsf
    assert "  framework.annual-update: a policy_adopted at most every 365 days" in fsf


def test_a_v1_summary_has_no_v2_lines() -> None:
    lines = describe(PolicyDocument.parse(VALID))
    assert not [
        line for line in lines if line.startswith(("duties", "safety case", "approvals when"))
    ]


def test_diff_from_22_to_30_names_the_new_schema_and_duties() -> None:
    r = run("diff", "--json", RSP22, RSP30)
    assert r.exit_code == 0, r.output
    changes = json.loads(r.output)["changes"]
    by_area = {(c["area"], c["item"]): c for c in changes}
    assert by_area[("policy", "schema")]["new"] == "rsp-ledger.policy/v2"
    assert by_area[("duties", "risk-report.cadence")]["change"] == "added"
    assert by_area[("approvals_if", "risk_report_published")]["change"] == "added"
    assert by_area[("levels", "level")]["old"] == "ASL-4"
    text = run("diff", RSP22, RSP30).output
    assert (
        "+ approvals_if: risk_report_published: + board + ltbt when marginal_risk_analysis is true"
        in text
    )
    assert (
        "+ duties: risk-report.external-review: an external_review_requested citing a "
        "risk_report_published (highly_capable is true and significantly_redacted is true) within "
        "7 days of notifying board, ltbt"
    ) in text


def test_diff_of_a_duty_window(tmp_path: Path) -> None:
    doc = yaml.safe_load(Path(RSP30).read_text(encoding="utf-8"))
    doc["version"] = "3.0-tighter"
    doc["duties"][0]["max_interval_days"] = 92
    doc["safety_case_before"] = {"automated-rd": ["internal"]}
    new = tmp_path / "tighter.json"
    new.write_text(json.dumps(doc), encoding="utf-8")
    changes = json.loads(run("diff", "--json", RSP30, str(new)).output)["changes"]
    duty = [c for c in changes if c["area"] == "duties"]
    assert [(c["item"], c["change"]) for c in duty] == [("risk-report.cadence", "changed")]
    assert (duty[0]["old"]["max_interval_days"], duty[0]["new"]["max_interval_days"]) == (183, 92)
    cases = [c for c in changes if c["area"] == "safety_case_before"]
    assert [(c["item"], c["change"], c["new"]) for c in cases] == [
        ("automated-rd", "added", "internal")
    ]
