"""`rsp-ledger.policy/v2` (docs/rules.md "Policy v2"): the validity table of the v2 fields, the
v2 accessors, and that v1 documents are judged exactly as before v2 existed.

Each v2 validity check appears failing (with the problem it must report) and holding.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import MalformedPolicyError
from domain.policy import PolicyDocument, PolicyDocumentV2, policy_problems
from domain.statements import parse_statement

from .test_policy import VALID as V1

V2: dict[str, Any] = {
    **copy.deepcopy(V1),
    "schema": "rsp-ledger.policy/v2",
    "approvals": {**V1["approvals"], "risk_report_published": ["ceo"]},
    "duties": [
        {
            "id": "risk-report.cadence",
            "kind": "periodic",
            "statement": "risk_report_published",
            "max_interval_days": 183,
        },
        {
            "id": "discussion",
            "title": "a discussion within 30 days",
            "kind": "triggered",
            "trigger": "model_in_scope",
            "when": {"deployment": "internal"},
            "statement": "model_discussion_published",
            "within_days": 30,
        },
        {
            "id": "review",
            "kind": "review_window",
            "regarding": "risk_report_published",
            "when": {"highly_capable": True, "significantly_redacted": True},
            "notified": ["board", "ltbt"],
            "statement": "external_review_requested",
            "within_days": 7,
        },
    ],
    "approvals_if": {
        "risk_report_published": [{"when": {"marginal_risk_analysis": True}, "roles": ["board"]}]
    },
    "safety_case_before": {"CBRN-3": ["external"], "AI-RD-4": ["external", "internal"]},
}

Edit = Callable[[dict[str, Any]], None]


def edited(edit: Edit) -> dict[str, Any]:
    doc = copy.deepcopy(V2)
    edit(doc)
    return doc


def _drop_v2(doc: dict[str, Any]) -> None:
    for name in ("duties", "approvals_if", "safety_case_before"):
        del doc[name]


def _duty(i: int, **fields: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        doc["duties"][i].update(fields)

    return edit


def _drop_from_duty(i: int, name: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        del doc["duties"][i][name]

    return edit


INVALID: list[tuple[str, Edit, str]] = [
    ("v1 fields only", lambda d: _drop_v2(d), "duties: required field is missing"),
    ("unknown field", lambda d: d.update(extends="x"), "extends: unknown field"),
    ("unknown duty kind", _duty(0, kind="weekly"), "duties[0].kind: expected one of 'periodic', 'triggered', 'review_window', found 'weekly'"),
    ("duty without kind", _drop_from_duty(0, "kind"), "duties[0].kind: required field is missing"),
    ("unknown field in a duty", _duty(0, within_days=3), "duties[0].within_days: unknown field"),
    ("duty window zero", _duty(0, max_interval_days=0), "duties[0].max_interval_days: Input should be greater than 0"),
    ("duty window infinite", _duty(1, within_days=float("inf")), "duties[1].within_days"),
    ("duty ids twice", _duty(1, id="risk-report.cadence"), "duties (ids): expected distinct entries, found 'risk-report.cadence' 2 times"),
    ("duty id not an identifier", _duty(0, id="a b"), "duties[0].id"),
    ("null title", _duty(1, title=None), "title may be absent but not null"),
    ("null condition", _duty(1, when=None), "when may be absent but not null"),
    ("unknown discharging type", _duty(0, statement="risk_report"), "duties[0].statement: 'risk_report' is not a statement type"),
    ("unknown trigger type", _duty(1, trigger="in_scope"), "duties[1].trigger: 'in_scope' is not a statement type"),
    ("trigger without a model", _duty(1, trigger="risk_report_published", when={}), "duties[1].trigger: 'risk_report_published' statements concern no model"),
    ("discharged by its trigger", _duty(1, statement="model_in_scope"), "a duty cannot be discharged by what starts it"),
    ("condition on an unknown field", _duty(1, when={"scope": "internal"}), "duties[1].when.scope: not a field of model_in_scope that a condition can test (testable: deployment)"),
    ("condition with a foreign value", _duty(1, when={"deployment": "public"}), "duties[1].when.deployment: expected one of 'internal', 'external', found 'public'"),
    ("condition with the wrong JSON type", _duty(2, when={"highly_capable": "yes"}), "duties[2].when.highly_capable: expected one of true, false, found 'yes'"),
    ("review discharged by a type that cites nothing", _duty(2, statement="model_in_scope"), "duties[2].statement: 'model_in_scope' statements cite nothing"),
    ("review of an unknown type", _duty(2, regarding="report"), "duties[2].regarding: 'report' is not a statement type"),
    ("review notifying nobody", _duty(2, notified=[]), "duties[2].notified: List should have at least 1 item"),
    ("review notifying a body twice", _duty(2, notified=["board", "board"]), "duties[2].notified: expected distinct entries, found 'board' 2 times"),
    ("conditional approval of an unknown type", lambda d: d["approvals_if"].update(report=[]), "approvals_if.report: 'report' is not a statement type"),
    ("conditional approval without a condition", lambda d: d["approvals_if"]["risk_report_published"][0].update(when={}), "approvals_if.risk_report_published[0].when: Dictionary should have at least 1 item"),
    ("conditional approval on an unknown field", lambda d: d["approvals_if"]["risk_report_published"][0].update(when={"urgent": True}), "approvals_if.risk_report_published[0].when.urgent: not a field of risk_report_published"),
    ("safety case for an unknown threshold", lambda d: d["safety_case_before"].update({"X-1": ["external"]}), "safety_case_before.X-1: 'X-1' is not a threshold id"),
    ("safety case for an unknown scope", lambda d: d["safety_case_before"].update({"CBRN-3": ["moon"]}), "safety_case_before.CBRN-3: scope 'moon' is not in scopes"),
    ("safety case scope twice", lambda d: d["safety_case_before"].update({"CBRN-3": ["external", "external"]}), "safety_case_before.CBRN-3: expected distinct entries, found 'external' 2 times"),
    ("approvals of an unknown type", lambda d: d["approvals"].update(report=["ceo"]), "approvals.report: 'report' is not a statement type"),
    ("a v1 rule still applies", lambda d: d.update(levels=["ASL-2", "ASL-2"]), "levels: expected distinct entries, found 'ASL-2' 2 times"),
]  # fmt: skip

VALID_VARIANTS: list[tuple[str, Edit]] = [
    ("as written", lambda d: None),
    ("no duties, conditions or safety cases", lambda d: d.update(duties=[], approvals_if={}, safety_case_before={})),
    ("a duty without condition", _drop_from_duty(1, "when")),
    ("a review discharged by a notification", _duty(2, statement="governance_notified")),
    ("conditional roles with no approvals entry", lambda d: d["approvals"].pop("risk_report_published")),
    ("a window beyond the calendar", _duty(0, max_interval_days=1e300)),
]  # fmt: skip


@pytest.mark.parametrize(("case", "edit", "problem"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_v2_document_reports_why(case: str, edit: Edit, problem: str) -> None:
    doc = edited(edit)
    problems = policy_problems(doc)
    assert any(problem in p for p in problems), problems
    with pytest.raises(MalformedPolicyError, match="not a valid policy document"):
        PolicyDocument.parse(doc)


@pytest.mark.parametrize(("case", "edit"), VALID_VARIANTS, ids=[c[0] for c in VALID_VARIANTS])
def test_valid_v2_document(case: str, edit: Edit) -> None:
    doc = edited(edit)
    assert policy_problems(doc) == []
    parsed = PolicyDocument.parse(doc)
    assert isinstance(parsed, PolicyDocumentV2)
    assert parsed.to_json() == doc


# -- v1 is judged exactly as before -----------------------------------------------------------


@pytest.mark.parametrize("name", ["duties", "approvals_if", "safety_case_before"])
def test_a_v1_document_may_not_carry_v2_fields(name: str) -> None:
    doc = copy.deepcopy(V1)
    doc[name] = V2[name]
    assert policy_problems(doc) == [f"{name}: unknown field"]


def test_a_v1_document_approves_only_the_statement_types_of_spec_2() -> None:
    doc = copy.deepcopy(V1)
    doc["approvals"]["risk_report_published"] = ["ceo"]
    assert policy_problems(doc) == [
        "approvals.risk_report_published: 'risk_report_published' is not a statement type"
    ]


def test_a_v1_document_has_no_v2_obligations() -> None:
    doc = PolicyDocument.parse(V1)
    assert type(doc) is PolicyDocument
    assert doc.schema_version == 1
    assert doc.duties_imposed() == ()
    assert doc.conditional_approvals("deployment_decision") == ()
    assert doc.safety_case_scopes("CBRN-3") == frozenset()
    assert not doc.requires_safety_cases


def test_the_v1_class_does_not_read_a_v2_document() -> None:
    with pytest.raises(ValueError, match="duties"):
        PolicyDocument.model_validate(V2)
    # Even with no v2 field, each class reads its own schema only.
    with pytest.raises(ValueError, match=re.escape("expected schema 'rsp-ledger.policy/v1'")):
        PolicyDocument.model_validate({**V1, "schema": "rsp-ledger.policy/v2"})


# -- what the rules read ---------------------------------------------------------------------


def _report(**flags: bool) -> Any:
    return parse_statement(
        {
            "type": "risk_report_published",
            "id": "rr-1",
            "issued_at": "2026-03-01T00:00:00Z",
            "issuer": "ceo",
            "coverage_date": "2026-02-28T00:00:00Z",
            "models": ["m1"],
            "marginal_risk_analysis": flags.get("marginal", False),
            "highly_capable": False,
            "significantly_redacted": False,
        }
    )


def test_required_roles_add_conditional_approvals() -> None:
    doc = PolicyDocument.parse(V2)
    assert doc.schema_version == 2
    assert doc.required_roles(_report()) == ("ceo",)
    assert doc.required_roles(_report(marginal=True)) == ("ceo", "board")
    no_base = PolicyDocument.parse(edited(lambda d: d["approvals"].pop("risk_report_published")))
    assert no_base.required_roles(_report()) is None
    assert no_base.required_roles(_report(marginal=True)) == ("board",)


def test_duties_and_safety_cases_are_read() -> None:
    doc = PolicyDocument.parse(V2)
    assert [d.kind for d in doc.duties_imposed()] == ["periodic", "triggered", "review_window"]
    assert [d.window_days for d in doc.duties_imposed()] == [183, 30, 7]
    assert doc.safety_case_scopes("AI-RD-4") == {"external", "internal"}
    assert doc.safety_case_scopes("CBRN-4") == frozenset()
    assert doc.requires_safety_cases
    beyond = PolicyDocument.parse(edited(_duty(0, max_interval_days=1e300)))
    assert beyond.duties_imposed()[0].window is None
