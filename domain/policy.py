"""Policy documents of SPEC §4: a framework's thresholds, standards, windows and approvals as data.

`policy_problems(obj)` is the rule `amendment.valid`: it lists every reason a JSON object is not a
valid policy, and an empty list means valid. `PolicyDocument.parse(obj)` turns a valid object into
the typed, frozen document the compliance engine reads, or raises `MalformedPolicyError`.

Two schemas are read. `rsp-ledger.policy/v1` is SPEC §4 exactly, and is judged exactly as before
v2 existed (the same problems, in the same words). `rsp-ledger.policy/v2` is v1 plus duties over
time, conditional approvals and safety cases (`domain.policy_v2`, docs/rules.md "Policy v2"); it
parses to `PolicyDocumentV2`, a `PolicyDocument` whose v2 accessors return what v1 lacks.

Invariants:
- a `PolicyDocument` always satisfies every validity bullet of SPEC §4 (its validator runs the same
  checks as `policy_problems`), so nothing inward re-checks a document;
- `levels` is listed lowest first: its order *is* the ordering of levels, and `levels[0]` is the
  baseline (SPEC §4 "ascending"; levels are names like `ASL-3` or `High`, which have no order of
  their own);
- numbers are finite and positive; booleans are real JSON booleans, never 0/1 or strings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from domain.errors import MalformedPolicyError
from domain.ids import Ident
from domain.policy_v2 import (
    DUTY_KINDS,
    POLICY_SCHEMA_V2,
    ConditionalApproval,
    Duty,
    ReviewWindowDuty,
    TriggeredDuty,
    v2_meaning_problems,
)
from domain.statements import STATEMENT_TYPES, V1_STATEMENT_TYPES, Statement, matches

POLICY_SCHEMA = "rsp-ledger.policy/v1"
POLICY_SCHEMAS: tuple[str, ...] = (POLICY_SCHEMA, POLICY_SCHEMA_V2)
Part = Literal["deployment", "security"]
PARTS: tuple[Part, ...] = ("deployment", "security")
# The role that approves amendments where the policy in force names none (SPEC §4 "Bootstrap").
LEDGER_ADMIN_ROLE = "ledger-admin"

PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonEmptyString = Annotated[str, StringConstraints(min_length=1)]

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)
_STRUCTURE_ONLY = "structure_only"


class _Model(BaseModel):
    model_config = _STRICT


def _reject_null(data: Any, names: tuple[str, ...]) -> Any:
    # An optional field of SPEC §4 is absent or has a value; `null` is neither.
    if isinstance(data, dict):
        for name in names:
            if name in data and data[name] is None:
                raise ValueError(f"{name} may be absent but not null")
    return data


class Standard(_Model):
    """The controls one level's safeguards must include, per part (SPEC §4 `standards`)."""

    deployment: list[Ident]
    security: list[Ident]


class Requires(_Model):
    """The levels a crossed threshold calls for; a part left out calls for nothing."""

    deployment: Ident | None = None
    security: Ident | None = None

    @model_validator(mode="before")
    @classmethod
    def _absent_not_null(cls, data: Any) -> Any:
        return _reject_null(data, PARTS)

    def level(self, part: Part) -> str | None:
        return self.deployment if part == "deployment" else self.security


class Threshold(_Model):
    id: Ident
    title: str | None = None
    requires: Requires

    @model_validator(mode="before")
    @classmethod
    def _absent_not_null(cls, data: Any) -> Any:
        return _reject_null(data, ("title",))


class Assessment(_Model):
    max_age_days: PositiveNumber
    effective_compute_multiple: PositiveNumber
    cannot_rule_out_counts_as_crossed: bool
    early_warning_requires_comprehensive: bool


class SafeguardsWindow(_Model):
    max_validity_days: PositiveNumber


class PolicyDocument(_Model):
    """One version of a framework (SPEC §4), valid by construction.

    A v1 document has no duties, conditional approvals or safety cases: the v2 accessors below
    (`duties_imposed`, `conditional_approvals`, `safety_case_scopes`) answer "none".
    """

    # The schema this class reads; `PolicyDocumentV2` reads the other one.
    SCHEMA: ClassVar[str] = POLICY_SCHEMA

    schema_: Literal["rsp-ledger.policy/v1", "rsp-ledger.policy/v2"] = Field(alias="schema")
    id: NonEmptyString
    version: NonEmptyString
    title: str | None = None
    levels: list[Ident]
    scopes: list[Ident]
    standards: dict[Ident, Standard]
    thresholds: list[Threshold]
    assessment: Assessment
    safeguards: SafeguardsWindow
    approvals: dict[str, list[Ident]]
    notify_before_deployment: list[Ident]

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, populate_by_name=False)

    @model_validator(mode="before")
    @classmethod
    def _absent_not_null(cls, data: Any) -> Any:
        return _reject_null(data, ("title",))

    @model_validator(mode="after")
    def _meaningful(self, info: ValidationInfo) -> PolicyDocument:
        # Each class reads exactly one schema; `parse` and `policy_problems` pick the class.
        if self.schema_ != self.SCHEMA:
            raise ValueError(f"expected schema {self.SCHEMA!r}, found {self.schema_!r}")
        # policy_problems() runs the meaning checks itself, on the raw object, so that it can
        # report them beside structural problems; here they guard every other construction.
        if isinstance(info.context, dict) and info.context.get(_STRUCTURE_ONLY):
            return self
        problems = _meaning_problems(self.to_json())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def parse(cls, obj: object) -> PolicyDocument:
        """A valid policy object becomes a document; otherwise `MalformedPolicyError` says why."""
        problems = policy_problems(obj)
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise MalformedPolicyError(
                "not a valid policy document: " + "; ".join(problems[:3]) + more
            )
        return _document_class(obj).model_validate(obj)

    def to_json(self) -> dict[str, Any]:
        """The document as the JSON object it was read from (optional fields left out if absent)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    # -- what the rules read -----------------------------------------------------------------
    @property
    def label(self) -> str:
        """`id@version`, as verdicts name the policy they were judged under (SPEC §8)."""
        return f"{self.id}@{self.version}"

    @property
    def baseline(self) -> str:
        return self.levels[0]

    @cached_property
    def _ranks(self) -> dict[str, int]:
        return {level: rank for rank, level in enumerate(self.levels)}

    @cached_property
    def _lowest_standard_rank(self) -> int | None:
        ranks = [self._ranks[level] for level in self.standards]
        return min(ranks) if ranks else None

    @cached_property
    def threshold_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.thresholds)

    @cached_property
    def thresholds_by_id(self) -> dict[str, Threshold]:
        return {t.id: t for t in self.thresholds}

    @cached_property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes)

    def level_rank(self, level: str) -> int | None:
        """Position of `level` in `levels` (0 = baseline), or None if it is not a level."""
        return self._ranks.get(level)

    def is_level(self, level: str) -> bool:
        return level in self._ranks

    def at_least(self, level: str, floor: str) -> bool:
        """True when both are levels and `level` is `floor` or above it."""
        rank, floor_rank = self._ranks.get(level), self._ranks.get(floor)
        return rank is not None and floor_rank is not None and rank >= floor_rank

    def above_baseline(self, level: str) -> bool:
        """SPEC §5 "Bad citations": a level that is not a level of P counts as above the baseline."""
        rank = self._ranks.get(level)
        return rank is None or rank > 0

    def needs_safeguards(self, level: str) -> bool:
        """SPEC §4: a level needs safeguards if `standards` names it or any lower level.

        A name that is not a level of this policy counts as above the baseline (SPEC §5), and
        therefore as needing safeguards that nothing can satisfy.
        """
        rank = self._ranks.get(level)
        if rank is None:
            return True
        lowest = self._lowest_standard_rank
        return lowest is not None and rank >= lowest

    def is_specified(self, level: str, part: Part) -> bool:
        """SPEC §4: a part is specified when its standard exists and lists at least one control."""
        standard = self.standards.get(level)
        return standard is not None and bool(getattr(standard, part))

    def controls(self, level: str, part: Part) -> tuple[str, ...]:
        """The controls the standard of `level` requires for `part` (empty if none is named)."""
        standard = self.standards.get(level)
        return tuple(getattr(standard, part)) if standard is not None else ()

    def approval_roles(self, statement_type: str) -> tuple[str, ...] | None:
        """`approvals[statement_type]`, or None when the policy does not name the type."""
        roles = self.approvals.get(statement_type)
        return tuple(roles) if roles is not None else None

    # -- policy v2 (docs/rules.md "Policy v2"); a v1 document has none of these ---------------
    @property
    def schema_version(self) -> int:
        return 2 if self.schema_ == POLICY_SCHEMA_V2 else 1

    def duties_imposed(self) -> tuple[Duty, ...]:
        """The duties over time this policy imposes (none in v1)."""
        return ()

    @property
    def duty_statement_types(self) -> frozenset[str]:
        """The statement types that can start or meet a duty of this policy (none in v1)."""
        return frozenset()

    def conditional_approvals(self, statement_type: str) -> tuple[ConditionalApproval, ...]:
        """`approvals_if[statement_type]` (none in v1)."""
        return ()

    def safety_case_scopes(self, threshold_id: str) -> frozenset[str]:
        """The scopes a model that crossed `threshold_id` may be deployed to only once its safety
        case is approved (`safety_case_before`; none in v1)."""
        return frozenset()

    @property
    def requires_safety_cases(self) -> bool:
        """True when some threshold needs an approved safety case before some deployment."""
        return False

    @property
    def has_conditional_approvals(self) -> bool:
        return False

    def escalations(self, statement: Statement) -> tuple[ConditionalApproval, ...]:
        """The conditional approvals whose condition `statement` meets."""
        if not self.has_conditional_approvals:
            return ()
        return tuple(
            c for c in self.conditional_approvals(statement.type) if matches(statement, c.when)
        )

    def required_roles(self, statement: Statement) -> tuple[str, ...] | None:
        """The roles that must approve `statement` (SPEC §4 "Approvals"): `approvals[type]`, plus
        the roles of every conditional approval it meets; None when neither names it."""
        base = self.approval_roles(statement.type)
        if not self.has_conditional_approvals:
            return base
        extra = [role for c in self.escalations(statement) for role in c.roles]
        if base is None and not extra:
            return None
        return (*(base or ()), *extra)

    @property
    def max_age(self) -> timedelta | None:
        """The assessment window, or None if it is too long to matter (beyond `timedelta`)."""
        return _days(self.assessment.max_age_days)

    @property
    def max_validity(self) -> timedelta | None:
        """The longest a safeguards approval may run, or None if beyond `timedelta`."""
        return _days(self.safeguards.max_validity_days)


def _days(days: float) -> timedelta | None:
    try:
        return timedelta(days=days)
    except OverflowError:
        return None


class PolicyDocumentV2(PolicyDocument):
    """A `rsp-ledger.policy/v2` document: v1 plus duties, conditional approvals and safety cases
    (`domain.policy_v2`). Every v1 accessor means what it means for v1."""

    SCHEMA: ClassVar[str] = POLICY_SCHEMA_V2

    duties: list[Duty]
    approvals_if: dict[str, list[ConditionalApproval]]
    safety_case_before: dict[Ident, list[Ident]]

    def duties_imposed(self) -> tuple[Duty, ...]:
        return self._duties

    @cached_property
    def _duties(self) -> tuple[Duty, ...]:
        return tuple(self.duties)

    @cached_property
    def duty_statement_types(self) -> frozenset[str]:
        types: set[str] = set()
        for duty in self.duties:
            types.add(duty.statement)
            if isinstance(duty, TriggeredDuty):
                types.add(duty.trigger)
            elif isinstance(duty, ReviewWindowDuty):
                types.add("governance_notified")  # a notice opens the window
        return frozenset(types)

    def conditional_approvals(self, statement_type: str) -> tuple[ConditionalApproval, ...]:
        return tuple(self.approvals_if.get(statement_type, ()))

    @property
    def has_conditional_approvals(self) -> bool:
        return bool(self.approvals_if)

    def safety_case_scopes(self, threshold_id: str) -> frozenset[str]:
        return frozenset(self.safety_case_before.get(threshold_id, ()))

    @property
    def requires_safety_cases(self) -> bool:
        return any(self.safety_case_before.values())


def _document_class(obj: object) -> type[PolicyDocument]:
    """The class that reads `obj`: v2 for the v2 schema, else v1 (whose problems, for anything
    that is not v2, are exactly those of SPEC §4)."""
    if isinstance(obj, dict) and obj.get("schema") == POLICY_SCHEMA_V2:
        return PolicyDocumentV2
    return PolicyDocument


# -- validity (SPEC §4, the rule amendment.valid) ------------------------------------------------


def policy_problems(obj: object) -> list[str]:
    """Every reason `obj` is not a valid policy document (SPEC §4); empty when it is valid."""
    if not isinstance(obj, dict):
        return [f"policy: expected a JSON object, found {_json_type(obj)}"]
    problems: list[str] = []
    try:
        _document_class(obj).model_validate(obj, context={_STRUCTURE_ONLY: True})
    except ValidationError as e:
        problems.extend(_describe(err) for err in e.errors(include_url=False))
    problems.extend(_meaning_problems(obj))
    return list(dict.fromkeys(problems))


def label_of(obj: object) -> str | None:
    """`id@version` of a policy object, valid or not, when it has string `id` and `version`.

    A bootstrap amendment is judged under its own document even when that document is invalid
    (SPEC §4, §8); this names it for the verdict as far as it can be named.
    """
    if isinstance(obj, dict):
        pid, version = obj.get("id"), obj.get("version")
        if isinstance(pid, str) and isinstance(version, str) and pid and version:
            return f"{pid}@{version}"
    return None


def _meaning_problems(doc: dict[str, Any]) -> list[str]:
    """The validity bullets of SPEC §4 that a schema cannot express, read defensively from raw
    JSON: parts that are structurally wrong are reported by the schema and skipped here."""
    problems: list[str] = []
    levels_raw = doc.get("levels")
    levels: set[str] | None = None
    if isinstance(levels_raw, list):
        levels = {v for v in levels_raw if isinstance(v, str)}
        # SPEC §4: levels is non-empty, distinct and ascending; the first is the baseline.
        if not levels_raw:
            problems.append("levels: expected at least one level (the first is the baseline)")
        problems.extend(_duplicates("levels", levels_raw))

    problems.extend(_duplicates("scopes", doc.get("scopes")))
    problems.extend(_duplicates("notify_before_deployment", doc.get("notify_before_deployment")))

    standards = doc.get("standards")
    if isinstance(standards, dict):
        for level, standard in standards.items():
            # SPEC §4: every key of standards is a level.
            if levels is not None and isinstance(level, str) and level not in levels:
                problems.append(f"standards.{level}: level {level!r} is not in levels")
            if isinstance(standard, dict):
                for part in PARTS:
                    problems.extend(_duplicates(f"standards.{level}.{part}", standard.get(part)))

    thresholds = doc.get("thresholds")
    if isinstance(thresholds, list):
        ids = [t.get("id") for t in thresholds if isinstance(t, dict)]
        problems.extend(_duplicates("thresholds (ids)", ids))
        for i, threshold in enumerate(thresholds):
            requires = threshold.get("requires") if isinstance(threshold, dict) else None
            if not isinstance(requires, dict) or levels is None:
                continue
            for part in PARTS:
                level = requires.get(part)
                # SPEC §4: every level in a threshold's requires is a level.
                if isinstance(level, str) and level not in levels:
                    problems.append(
                        f"thresholds[{i}].requires.{part}: level {level!r} is not in levels"
                    )

    v2 = doc.get("schema") == POLICY_SCHEMA_V2
    approvals = doc.get("approvals")
    if isinstance(approvals, dict):
        # SPEC §4: every key of approvals is a statement type — of SPEC §2 for a v1 document, so
        # that v1 validity never changes as the ledger learns new types.
        known = STATEMENT_TYPES if v2 else V1_STATEMENT_TYPES
        for key in approvals:
            if key not in known:
                problems.append(f"approvals.{key}: {key!r} is not a statement type")
    if v2:
        scopes_raw = doc.get("scopes")
        scopes = (
            {v for v in scopes_raw if isinstance(v, str)} if isinstance(scopes_raw, list) else None
        )
        problems.extend(v2_meaning_problems(doc, scopes))
    return problems


def _duplicates(where: str, values: object) -> list[str]:
    if not isinstance(values, list):
        return []
    counts = Counter(v for v in values if isinstance(v, str))
    return [
        f"{where}: expected distinct entries, found {value!r} {n} times"
        for value, n in counts.items()
        if n > 1
    ]


def _json_type(value: object) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "an array"
        case dict():
            return "an object"
        case _:
            return type(value).__name__


def _path(loc: Sequence[int | str]) -> str:
    text = ""
    for i, part in enumerate(loc):
        # A duty's kind tags its union member in pydantic's path (`duties[0].periodic.id`); the
        # document has no such level, so it is left out.
        if i >= 2 and loc[i - 2] == "duties" and isinstance(loc[i - 1], int) and part in DUTY_KINDS:
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "[key]":
            text += " (key)"
        else:
            text += f".{part}" if text else str(part)
    return text or "policy"


def _describe(err: Any) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    found = err.get("input")
    if kind == "missing":
        return f"{_path(loc)}: required field is missing"
    if kind == "extra_forbidden":
        return f"{_path(loc)}: unknown field"
    if kind == "literal_error" and loc == ("schema",):
        return f"schema: expected {POLICY_SCHEMA!r}, found {found!r}"
    if kind == "union_tag_invalid":  # a v2 duty of an unknown kind
        ctx = err.get("ctx", {})
        return (
            f"{_path(loc)}.{ctx.get('discriminator', 'kind').strip(chr(39))}: expected one of "
            f"{ctx.get('expected_tags')}, found {ctx.get('tag')!r}"
        )
    if kind == "union_tag_not_found":
        return f"{_path(loc)}.kind: required field is missing"
    if kind == "value_error":
        # Raised by our own validators; the message already says what was expected.
        return f"{_path(loc)}: {str(err['msg']).removeprefix('Value error, ')}"
    if isinstance(found, dict | list) or found is None or isinstance(found, bool):
        found_text = f", found {_json_type(found)}"
    else:
        found_text = (
            f", found {str(found)[:60]!r}" if isinstance(found, str) else f", found {found}"
        )
    return f"{_path(loc)}: {err['msg']}{found_text}"


__all__ = [
    "LEDGER_ADMIN_ROLE",
    "PARTS",
    "POLICY_SCHEMA",
    "POLICY_SCHEMAS",
    "POLICY_SCHEMA_V2",
    "Assessment",
    "Part",
    "PolicyDocument",
    "PolicyDocumentV2",
    "Requires",
    "SafeguardsWindow",
    "Standard",
    "Threshold",
    "label_of",
    "policy_problems",
]
