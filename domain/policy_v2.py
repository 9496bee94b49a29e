"""The parts of a `rsp-ledger.policy/v2` document beyond SPEC §4 (docs/rules.md "Policy v2").

A v2 document is a v1 document (SPEC §4, every field and every validity bullet) plus three
required fields:

- `duties`: what the organisation must do over time, each one of three kinds:
  - `periodic`: a `statement` of the given type at most `max_interval_days` after the previous
    one (the first one, after the policy takes effect) — "a Risk Report every 3–6 months";
  - `triggered`: within `within_days` of a `trigger` statement about a model (that matches
    `when`), a `statement` about the same model — "within 30 days of a model coming into scope";
  - `review_window`: within `within_days` of notifying any of the `notified` bodies of a
    `regarding` statement (that matches `when`), a `statement` citing it — "external reviewers
    receive the report within 7 days of the Board";
- `approvals_if`: roles needed *in addition to* `approvals[type]` when a statement's fields
  match `when` — "explicit approval by the Board and the LTBT when a marginal risk analysis
  plays a major role";
- `safety_case_before`: per threshold, the scopes a model that crossed it may be deployed to only
  after a governance function approved its safety case (FSF 3.0 §2.1.2 item 2).

This module holds the typed pieces and the validity checks of those three fields, read
defensively from raw JSON as `domain.policy` reads v1 fields; `domain.policy` assembles the
document. It never imports `domain.policy` (which imports it).

Invariants:
- a condition (`when`) names only fields of its statement type that take one of a few values
  (booleans and `Literal` strings), each with one of those values;
- a triggered duty links trigger and discharge by model, so both types have a `model` field; a
  review window's discharge cites the reviewed statement, so its type is one that can cite;
- windows are finite, positive numbers of days; one too long for the calendar never ends.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.ids import Ident
from domain.statements import CITING_TYPES, STATEMENT_TYPES, condition_values, has_field

POLICY_SCHEMA_V2 = "rsp-ledger.policy/v2"
V2_FIELDS: tuple[str, ...] = ("duties", "approvals_if", "safety_case_before")
DUTY_KINDS: tuple[str, ...] = ("periodic", "triggered", "review_window")

PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Condition = dict[str, bool | str]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def _absent_not_null(data: Any, names: tuple[str, ...]) -> Any:
    # As in SPEC §4: an optional field is absent or has a value; `null` is neither.
    if isinstance(data, dict):
        for name in names:
            if name in data and data[name] is None:
                raise ValueError(f"{name} may be absent but not null")
    return data


def window_of_days(n: float) -> timedelta | None:
    """`n` days, or None when that is beyond the calendar (such a window never ends)."""
    try:
        return timedelta(days=n)
    except OverflowError:
        return None


class _DutyBase(_Model):
    id: Ident
    title: str | None = None
    # The statement type that discharges the duty.
    statement: str

    @model_validator(mode="before")
    @classmethod
    def _optional_fields(cls, data: Any) -> Any:
        return _absent_not_null(data, ("title", "when"))


class PeriodicDuty(_DutyBase):
    """A `statement` at most `max_interval_days` after the previous one, or after the policy
    took effect for the first one."""

    kind: Literal["periodic"]
    max_interval_days: PositiveNumber

    @property
    def window(self) -> timedelta | None:
        return window_of_days(self.max_interval_days)

    @property
    def window_days(self) -> float:
        return self.max_interval_days


class TriggeredDuty(_DutyBase):
    """Within `within_days` of a `trigger` statement about a model that matches `when`, a
    `statement` about the same model."""

    kind: Literal["triggered"]
    trigger: str
    when: Condition | None = None
    within_days: PositiveNumber

    @property
    def window(self) -> timedelta | None:
        return window_of_days(self.within_days)

    @property
    def window_days(self) -> float:
        return self.within_days


class ReviewWindowDuty(_DutyBase):
    """Within `within_days` of a `governance_notified` naming any of `notified` about a
    `regarding` statement that matches `when`, a `statement` citing that statement."""

    kind: Literal["review_window"]
    regarding: str
    when: Condition | None = None
    notified: Annotated[list[Ident], Field(min_length=1)]
    within_days: PositiveNumber

    @property
    def window(self) -> timedelta | None:
        return window_of_days(self.within_days)

    @property
    def window_days(self) -> float:
        return self.within_days


Duty = Annotated[PeriodicDuty | TriggeredDuty | ReviewWindowDuty, Field(discriminator="kind")]


class ConditionalApproval(_Model):
    """Roles needed in addition to `approvals[type]` when the statement matches `when`."""

    when: Annotated[Condition, Field(min_length=1)]
    roles: list[Ident]


def describe_condition(when: Condition | None) -> str:
    """`marginal_risk_analysis is true`, `deployment is 'internal'`, joined by `and`."""
    if not when:
        return "always"
    return " and ".join(
        f"{name} is {'true' if value is True else 'false' if value is False else repr(value)}"
        for name, value in when.items()
    )


# -- validity (the rule amendment.valid, for the v2 fields) ----------------------------------------


def v2_meaning_problems(doc: dict[str, Any], scopes: set[str] | None) -> list[str]:
    """The validity checks of the v2 fields that a schema cannot express; parts that are
    structurally wrong are reported by the schema and skipped here."""
    problems: list[str] = []
    duties = doc.get("duties")
    if isinstance(duties, list):
        ids = [d.get("id") for d in duties if isinstance(d, dict)]
        problems.extend(_duplicates("duties (ids)", ids))
        for i, duty in enumerate(duties):
            if isinstance(duty, dict):
                problems.extend(_duty_problems(f"duties[{i}]", duty))

    approvals_if = doc.get("approvals_if")
    if isinstance(approvals_if, dict):
        for kind, entries in approvals_if.items():
            if kind not in STATEMENT_TYPES:
                problems.append(f"approvals_if.{kind}: {kind!r} is not a statement type")
                continue
            if isinstance(entries, list):
                for j, entry in enumerate(entries):
                    if isinstance(entry, dict):
                        problems.extend(
                            _condition_problems(f"approvals_if.{kind}[{j}].when", kind, entry)
                        )

    safety = doc.get("safety_case_before")
    thresholds = doc.get("thresholds")
    if isinstance(safety, dict) and isinstance(thresholds, list):
        known = {t.get("id") for t in thresholds if isinstance(t, dict)}
        for threshold, listed in safety.items():
            if threshold not in known:
                problems.append(
                    f"safety_case_before.{threshold}: {threshold!r} is not a threshold id"
                )
            if not isinstance(listed, list):
                continue
            problems.extend(_duplicates(f"safety_case_before.{threshold}", listed))
            if scopes is not None:
                for scope in listed:
                    if isinstance(scope, str) and scope not in scopes:
                        problems.append(
                            f"safety_case_before.{threshold}: scope {scope!r} is not in scopes"
                        )
    return problems


def _duty_problems(where: str, duty: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    kind = duty.get("kind")
    statement = duty.get("statement")
    if isinstance(statement, str) and statement not in STATEMENT_TYPES:
        problems.append(f"{where}.statement: {statement!r} is not a statement type")
        statement = None
    if kind == "triggered":
        trigger = duty.get("trigger")
        if isinstance(trigger, str) and trigger not in STATEMENT_TYPES:
            problems.append(f"{where}.trigger: {trigger!r} is not a statement type")
            return problems
        if isinstance(trigger, str):
            if trigger == statement:
                problems.append(
                    f"{where}: trigger and statement are both {trigger!r}; a duty cannot be "
                    f"discharged by what starts it"
                )
            # Trigger and discharge are linked by model: both must concern one.
            for name, kind_name in (("trigger", trigger), ("statement", statement)):
                if isinstance(kind_name, str) and not has_field(kind_name, "model"):
                    problems.append(
                        f"{where}.{name}: {kind_name!r} statements concern no model, so they "
                        f"cannot be linked to a triggered duty"
                    )
            problems.extend(_condition_problems(f"{where}.when", trigger, duty))
    elif kind == "review_window":
        regarding = duty.get("regarding")
        if isinstance(regarding, str) and regarding not in STATEMENT_TYPES:
            problems.append(f"{where}.regarding: {regarding!r} is not a statement type")
            return problems
        if isinstance(statement, str) and statement not in CITING_TYPES:
            problems.append(
                f"{where}.statement: {statement!r} statements cite nothing, so they cannot "
                f"name the statement under review"
            )
        problems.extend(_duplicates(f"{where}.notified", duty.get("notified")))
        if isinstance(regarding, str):
            problems.extend(_condition_problems(f"{where}.when", regarding, duty))
    return problems


def _condition_problems(where: str, statement_type: str, holder: dict[str, Any]) -> list[str]:
    when = holder.get("when")
    if not isinstance(when, dict):
        return []
    allowed = condition_values(statement_type)
    problems: list[str] = []
    for name, value in when.items():
        values = allowed.get(name)
        if values is None:
            testable = ", ".join(allowed) or "none"
            problems.append(
                f"{where}.{name}: not a field of {statement_type} that a condition can test "
                f"(testable: {testable})"
            )
        elif not any(type(value) is type(v) and value == v for v in values):
            problems.append(
                f"{where}.{name}: expected one of {', '.join(_json(v) for v in values)}, "
                f"found {_json(value)}"
            )
    return problems


def _json(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return repr(value)


def _duplicates(where: str, values: object) -> list[str]:
    if not isinstance(values, list):
        return []
    counts = Counter(v for v in values if isinstance(v, str))
    return [
        f"{where}: expected distinct entries, found {value!r} {n} times"
        for value, n in counts.items()
        if n > 1
    ]


__all__ = [
    "DUTY_KINDS",
    "POLICY_SCHEMA_V2",
    "V2_FIELDS",
    "ConditionalApproval",
    "Duty",
    "PeriodicDuty",
    "ReviewWindowDuty",
    "TriggeredDuty",
    "describe_condition",
    "v2_meaning_problems",
    "window_of_days",
]
