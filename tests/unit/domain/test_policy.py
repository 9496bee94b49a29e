"""Policy documents of SPEC §4: the validity table (the rule `amendment.valid`) and the helpers
the compliance rules read.

Each validity bullet of SPEC §4 appears at least once failing (with the problem it must report)
and once holding.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.errors import MalformedPolicyError
from domain.policy import PolicyDocument, label_of, policy_problems

VALID: dict[str, Any] = {
    "schema": "rsp-ledger.policy/v1",
    "id": "anthropic-rsp",
    "version": "2.2",
    "title": "Responsible Scaling Policy",
    "levels": ["ASL-2", "ASL-3", "ASL-4"],
    "scopes": ["internal", "trusted", "external"],
    "standards": {
        "ASL-3": {
            "deployment": ["threat-modeling", "defense-in-depth", "red-teaming"],
            "security": ["threat-modeling", "security-frameworks", "audits"],
        },
        "ASL-4": {"deployment": [], "security": []},
    },
    "thresholds": [
        {"id": "CBRN-3", "title": "...", "requires": {"deployment": "ASL-3", "security": "ASL-3"}},
        {"id": "AI-RD-4", "title": "...", "requires": {"security": "ASL-3"}},
    ],
    "assessment": {
        "max_age_days": 183,
        "effective_compute_multiple": 4.0,
        "cannot_rule_out_counts_as_crossed": True,
        "early_warning_requires_comprehensive": True,
    },
    "safeguards": {"max_validity_days": 365},
    "approvals": {
        "capability_determination": ["ceo", "responsible-scaling-officer"],
        "deployment_decision": ["ceo", "responsible-scaling-officer"],
        "policy_adopted": ["board"],
    },
    "notify_before_deployment": ["board", "ltbt"],
}

Edit = Callable[[dict[str, Any]], None]


def edited(edit: Edit) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    edit(doc)
    return doc


def _set(path: str, value: Any) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = doc
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return edit


def _drop(path: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = doc
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        del target[last]

    return edit


# (case, edit, a problem that must be reported) — each SPEC §4 validity bullet failing.
INVALID: list[tuple[str, Edit, str]] = [
    # it has exactly these fields; title is optional and every other field is required
    ("unknown field", _set("extends", "x"), "extends: unknown field"),
    ("unknown field in assessment", _set("assessment/max_age", 1), "assessment.max_age: unknown field"),
    ("unknown field in a threshold", _set("thresholds/0/note", "x"), "thresholds[0].note: unknown field"),
    ("unknown part in a standard", _set("standards/ASL-3/model", []), "standards.ASL-3.model: unknown field"),
    ("unknown part in requires", _set("thresholds/0/requires/model", "ASL-3"), "thresholds[0].requires.model: unknown field"),
    ("missing levels", _drop("levels"), "levels: required field is missing"),
    ("missing scopes", _drop("scopes"), "scopes: required field is missing"),
    ("missing approvals", _drop("approvals"), "approvals: required field is missing"),
    ("missing notify", _drop("notify_before_deployment"), "notify_before_deployment: required field is missing"),
    ("missing max_age_days", _drop("assessment/max_age_days"), "assessment.max_age_days: required field is missing"),
    ("missing threshold requires", _drop("thresholds/1/requires"), "thresholds[1].requires: required field is missing"),
    ("null title", _set("title", None), "title may be absent but not null"),
    ("null requires part", _set("thresholds/1/requires/deployment", None), "deployment may be absent but not null"),
    ("wrong schema", _set("schema", "rsp-ledger.policy/v3"), "schema: expected 'rsp-ledger.policy/v1'"),
    # levels is non-empty, distinct and ascending
    ("no levels", _set("levels", []), "levels: expected at least one level"),
    ("a level twice", _set("levels", ["ASL-2", "ASL-3", "ASL-3", "ASL-4"]), "levels: expected distinct entries, found 'ASL-3' 2 times"),
    # id and version are non-empty strings
    ("empty id", _set("id", ""), "id: String should have at least 1 character"),
    ("empty version", _set("version", ""), "version: String should have at least 1 character"),
    ("numeric version", _set("version", 2.2), "version: Input should be a valid string, found 2.2"),
    # scopes, threshold ids, each standard's control ids and notify are each distinct
    ("a scope twice", _set("scopes", ["internal", "internal"]), "scopes: expected distinct entries, found 'internal' 2 times"),
    ("a threshold id twice", _set("thresholds/1/id", "CBRN-3"), "thresholds (ids): expected distinct entries, found 'CBRN-3' 2 times"),
    ("a control twice", _set("standards/ASL-3/security", ["audits", "audits"]), "standards.ASL-3.security: expected distinct entries, found 'audits' 2 times"),
    ("a body twice", _set("notify_before_deployment", ["board", "board"]), "notify_before_deployment: expected distinct entries, found 'board' 2 times"),
    # every key of standards is a level, with both parts
    ("standard of an unknown level", _set("standards/ASL-5", {"deployment": [], "security": []}), "standards.ASL-5: level 'ASL-5' is not in levels"),
    ("standard without security", _drop("standards/ASL-3/security"), "standards.ASL-3.security: required field is missing"),
    # every level in a threshold's requires is a level
    ("requires an unknown level", _set("thresholds/1/requires/security", "ASL-5"), "thresholds[1].requires.security: level 'ASL-5' is not in levels"),
    # every key of approvals is a statement type, and its value a list of roles
    ("approval for an unknown type", _set("approvals/deployment", ["ceo"]), "approvals.deployment: 'deployment' is not a statement type"),
    ("approval not a list", _set("approvals/policy_adopted", "board"), "approvals.policy_adopted: Input should be a valid list"),
    ("approval role not an identifier", _set("approvals/policy_adopted", ["the board"]), "approvals.policy_adopted[0]: String should match pattern"),
    # numbers are positive, and the booleans are real booleans
    ("zero max_age_days", _set("assessment/max_age_days", 0), "assessment.max_age_days: Input should be greater than 0, found 0"),
    ("negative multiple", _set("assessment/effective_compute_multiple", -4), "assessment.effective_compute_multiple: Input should be greater than 0"),
    ("zero validity", _set("safeguards/max_validity_days", 0.0), "safeguards.max_validity_days: Input should be greater than 0"),
    ("a boolean as a number", _set("safeguards/max_validity_days", True), "safeguards.max_validity_days: Input should be a valid number, found a boolean"),
    ("a string as a number", _set("assessment/max_age_days", "183"), "assessment.max_age_days: Input should be a valid number"),
    ("infinite number", _set("assessment/max_age_days", float("inf")), "assessment.max_age_days: Input should be a finite number"),
    ("1 as a boolean", _set("assessment/cannot_rule_out_counts_as_crossed", 1), "assessment.cannot_rule_out_counts_as_crossed: Input should be a valid boolean, found 1"),
    ("'true' as a boolean", _set("assessment/early_warning_requires_comprehensive", "true"), "assessment.early_warning_requires_comprehensive: Input should be a valid boolean"),
    # identifiers of SPEC §1
    ("level not an identifier", _set("levels", ["ASL 2"]), "levels[0]: String should match pattern"),
    ("control not an identifier", _set("standards/ASL-3/deployment", ["-x"]), "standards.ASL-3.deployment[0]: String should match pattern"),
]  # fmt: skip


# Documents that hold, each showing a bullet's other side.
VALID_VARIANTS: list[tuple[str, Edit]] = [
    ("as given", lambda d: None),
    ("no title", _drop("title")),
    ("no threshold title", _drop("thresholds/0/title")),
    ("a threshold requiring nothing", _set("thresholds/1/requires", {})),
    ("one level only", lambda d: d.update(levels=["ASL-2"], standards={}, thresholds=[])),
    ("no standards at all", _set("standards", {})),
    ("no thresholds, scopes or notification", lambda d: d.update(thresholds=[], scopes=[], notify_before_deployment=[])),
    ("empty approvals", _set("approvals", {})),
    ("an empty approval list", _set("approvals/deployment_decision", [])),
    ("a role listed twice", _set("approvals/deployment_decision", ["ceo", "ceo"])),
    ("any statement type approved", _set("approvals/capability_finding", ["evaluator"])),
    ("fractional numbers", lambda d: d["assessment"].update(max_age_days=0.5, effective_compute_multiple=1.5)),
    ("false booleans", lambda d: d["assessment"].update(cannot_rule_out_counts_as_crossed=False, early_warning_requires_comprehensive=False)),
    ("a standard for the baseline", _set("standards/ASL-2", {"deployment": ["x"], "security": []})),
    ("non-ASL level names", lambda d: d.update(levels=["low", "high", "critical"], standards={}, thresholds=[{"id": "bio", "requires": {"deployment": "high"}}])),
]  # fmt: skip


@pytest.mark.parametrize(("case", "edit", "problem"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_document_reports_why(case: str, edit: Edit, problem: str) -> None:
    doc = edited(edit)
    problems = policy_problems(doc)
    assert any(problem in p for p in problems), problems
    with pytest.raises(MalformedPolicyError, match="not a valid policy document"):
        PolicyDocument.parse(doc)


@pytest.mark.parametrize(("case", "edit"), VALID_VARIANTS, ids=[c[0] for c in VALID_VARIANTS])
def test_valid_document(case: str, edit: Edit) -> None:
    doc = edited(edit)
    assert policy_problems(doc) == []
    parsed = PolicyDocument.parse(doc)
    # What is signed is the JSON object; the typed document reads back to exactly it.
    assert parsed.to_json() == doc


@pytest.mark.parametrize("obj", [None, [], "policy", 3, True])
def test_a_policy_is_a_json_object(obj: object) -> None:
    assert policy_problems(obj) == [f"policy: expected a JSON object, found {_kind(obj)}"]


def _kind(obj: object) -> str:
    return {
        type(None): "null",
        list: "an array",
        str: "a string",
        int: "a number",
        bool: "a boolean",
    }[type(obj)]


def test_every_problem_is_reported_at_once() -> None:
    doc = edited(lambda d: d.update(levels=["ASL-2", "ASL-2"], scopes=["a", "a"], extra=1))
    problems = policy_problems(doc)
    assert "extra: unknown field" in problems
    assert "levels: expected distinct entries, found 'ASL-2' 2 times" in problems
    assert "scopes: expected distinct entries, found 'a' 2 times" in problems
    # Levels that are missing are judged against the levels that are there.
    assert "standards.ASL-3: level 'ASL-3' is not in levels" in problems


def test_the_model_cannot_be_built_invalid_by_another_door() -> None:
    with pytest.raises(
        ValidationError, match=re.escape("standards.ASL-5: level 'ASL-5' is not in levels")
    ):
        PolicyDocument.model_validate(
            edited(_set("standards/ASL-5", {"deployment": [], "security": []}))
        )


def test_document_is_frozen() -> None:
    doc = PolicyDocument.parse(VALID)
    with pytest.raises(ValidationError):
        doc.version = "9"  # type: ignore[misc]


def test_label_and_baseline() -> None:
    doc = PolicyDocument.parse(VALID)
    assert doc.label == "anthropic-rsp@2.2"
    assert doc.baseline == "ASL-2"
    assert label_of(VALID) == "anthropic-rsp@2.2"
    assert label_of({"id": "x"}) is None
    assert label_of([]) is None


def test_levels_are_ordered_as_listed() -> None:
    doc = PolicyDocument.parse(VALID)
    assert [doc.level_rank(x) for x in ("ASL-2", "ASL-3", "ASL-4", "ASL-5")] == [0, 1, 2, None]
    assert doc.at_least("ASL-4", "ASL-3")
    assert doc.at_least("ASL-3", "ASL-3")
    assert not doc.at_least("ASL-2", "ASL-3")
    assert not doc.at_least("ASL-5", "ASL-2")  # not a level: never "at least" anything
    assert [doc.above_baseline(x) for x in ("ASL-2", "ASL-3", "ASL-5")] == [False, True, True]


def test_safeguards_needed_and_specified() -> None:
    doc = PolicyDocument.parse(VALID)
    # SPEC §4: a level needs safeguards if standards names it or any lower level.
    assert [doc.needs_safeguards(x) for x in ("ASL-2", "ASL-3", "ASL-4")] == [False, True, True]
    assert doc.needs_safeguards("ASL-5")  # unknown counts as above the baseline
    assert doc.is_specified("ASL-3", "deployment")
    assert not doc.is_specified("ASL-4", "security")  # empty list: not yet specified
    assert not doc.is_specified("ASL-2", "security")  # absent
    assert doc.controls("ASL-3", "security") == ("threat-modeling", "security-frameworks", "audits")
    assert doc.controls("ASL-2", "deployment") == ()


def test_a_level_above_a_named_standard_needs_safeguards_even_unnamed() -> None:
    doc = PolicyDocument.parse(edited(_drop("standards/ASL-4")))
    assert doc.needs_safeguards("ASL-4")
    assert not doc.is_specified("ASL-4", "deployment")


def test_approval_roles() -> None:
    doc = PolicyDocument.parse(VALID)
    assert doc.approval_roles("policy_adopted") == ("board",)
    assert doc.approval_roles("safeguards_determination") is None


def test_huge_windows_do_not_overflow() -> None:
    doc = PolicyDocument.parse(edited(_set("assessment/max_age_days", 1e300)))
    assert doc.max_age is None
    assert PolicyDocument.parse(VALID).max_age is not None


# -- robustness: amendment.valid judges any JSON object without raising --------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    def mutate(path_index: int, value: Any) -> dict[str, Any]:
        doc = copy.deepcopy(VALID)
        fields = sorted(doc)
        doc[fields[path_index % len(fields)]] = value
        return doc

    return st.builds(mutate, st.integers(min_value=0), JSON)


@given(st.one_of(JSON, _mutations()))
@settings(max_examples=300, deadline=None)
def test_any_json_gets_a_judgement_and_valid_means_parseable(obj: Any) -> None:
    problems = policy_problems(obj)
    assert all(isinstance(p, str) and p for p in problems)
    if problems:
        with pytest.raises(MalformedPolicyError):
            PolicyDocument.parse(obj)
    else:
        assert PolicyDocument.parse(obj).to_json() == obj
