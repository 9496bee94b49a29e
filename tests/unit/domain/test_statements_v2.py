"""The statement types of policy v2 (docs/rules.md "Statement types beyond SPEC §2"): strict like
those of SPEC §2, with what the duties read of them (citations, models, conditions)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import MalformedStatementError
from domain.statements import (
    STATEMENT_TYPES,
    V1_STATEMENT_TYPES,
    ExternalReviewRequested,
    ModelDiscussionPublished,
    ModelInScope,
    RiskReportPublished,
    SafetyCaseApproved,
    cited_ids,
    condition_values,
    matches,
    parse_statement,
    statement_model,
)

COMMON = {"issued_at": "2026-03-01T00:00:00Z", "issuer": "ceo"}
EXAMPLES: dict[str, dict[str, Any]] = {
    "risk_report_published": {
        "coverage_date": "2026-02-28T00:00:00Z",
        "models": ["m1", "m2"],
        "marginal_risk_analysis": False,
        "highly_capable": True,
        "significantly_redacted": True,
    },
    "external_review_requested": {"report": "rr-1", "reviewers": ["Reviewer Org"]},
    "model_in_scope": {"model": "m2", "deployment": "internal"},
    "model_discussion_published": {"model": "m2", "risk_report": "rr-1"},
    "safety_case_approved": {"model": "m1", "thresholds": ["CBRN-uplift-1"], "scopes": ["external"]},
}  # fmt: skip


def statement(kind: str, **changes: Any) -> dict[str, Any]:
    return {"type": kind, "id": f"{kind}-1", **COMMON, **EXAMPLES[kind], **changes}


def test_v1_types_are_spec_2_and_come_first() -> None:
    assert len(V1_STATEMENT_TYPES) == 16
    assert STATEMENT_TYPES[:16] == V1_STATEMENT_TYPES
    assert set(STATEMENT_TYPES[16:]) == set(EXAMPLES)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_new_type_parses(kind: str) -> None:
    st = parse_statement(statement(kind))
    assert st.type == kind


@pytest.mark.parametrize(
    ("kind", "changes", "problem"),
    [
        ("risk_report_published", {"marginal_risk_analysis": "yes"}, "marginal_risk_analysis"),
        ("risk_report_published", {"coverage_date": "2026-02-28"}, "coverage_date"),
        ("risk_report_published", {"extra": 1}, "unexpected field 'extra'"),
        ("external_review_requested", {"reviewers": []}, "reviewers"),
        ("external_review_requested", {"reviewers": [""]}, "reviewers"),
        ("model_in_scope", {"deployment": "public"}, "deployment"),
        ("model_discussion_published", {"model": "a b"}, "model"),
        ("safety_case_approved", {"thresholds": []}, "thresholds"),
        ("safety_case_approved", {"scopes": []}, "scopes"),
    ],
)
def test_each_new_type_is_strict(kind: str, changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(MalformedStatementError, match=problem):
        parse_statement(statement(kind, **changes))


def test_what_the_duties_read() -> None:
    review = parse_statement(statement("external_review_requested"))
    assert isinstance(review, ExternalReviewRequested)
    assert cited_ids(review) == ("rr-1",)
    discussion = parse_statement(statement("model_discussion_published"))
    assert isinstance(discussion, ModelDiscussionPublished)
    assert cited_ids(discussion) == ("rr-1",)
    assert statement_model(discussion) == "m2"
    alone = parse_statement(statement("model_discussion_published", risk_report=None))
    assert cited_ids(alone) == ()
    report = parse_statement(statement("risk_report_published"))
    assert isinstance(report, RiskReportPublished)
    assert statement_model(report) is None  # it covers several models, and concerns none
    scope = parse_statement(statement("model_in_scope"))
    assert isinstance(scope, ModelInScope)
    case = parse_statement(statement("safety_case_approved"))
    assert isinstance(case, SafetyCaseApproved)
    assert statement_model(case) == "m1"


def test_conditions_test_booleans_and_literals_only() -> None:
    assert condition_values("risk_report_published") == {
        "marginal_risk_analysis": (True, False),
        "highly_capable": (True, False),
        "significantly_redacted": (True, False),
    }
    assert condition_values("model_in_scope") == {"deployment": ("internal", "external")}
    assert condition_values("safety_case_approved") == {}
    assert condition_values("no_such_type") == {}
    report = parse_statement(statement("risk_report_published"))
    assert matches(report, {"highly_capable": True, "significantly_redacted": True})
    assert not matches(report, {"marginal_risk_analysis": True})
    assert matches(report, {})
