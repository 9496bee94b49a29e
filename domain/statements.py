"""Typed statements of SPEC §2.

Foreign JSON becomes one of these frozen models at the boundary (`parse_statement`), and nothing
inward handles raw dicts. The models are strict: unknown fields, bad identifiers, bad times and
wrong JSON types are rejected. Optional common fields (`details_digest`, `note`) may be absent but
not `null`: a statement either commits to details or it does not.

The signed bytes are never rebuilt from these models; the envelope keeps them (verify/dsse.py).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from domain.errors import MalformedStatementError
from domain.ids import Digest, Ident, KeyId, Origin, StatementId, Timestamp


def _check_public_key(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"expected standard base64 of a 32-byte Ed25519 key: {e}") from e
    if len(raw) != 32 or base64.b64encode(raw).decode() != value:
        raise ValueError(
            f"expected standard base64 (with padding) of 32 raw bytes, found {len(raw)} bytes"
        )
    return value


PublicKeyB64 = Annotated[str, AfterValidator(_check_public_key)]
PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonEmptyText = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
ReviewerName = Annotated[str, StringConstraints(min_length=1, max_length=256)]

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)
_NOT_NULL_IF_PRESENT = ("details_digest", "note", "compromised_since")


class _Model(BaseModel):
    model_config = _STRICT


class StatementBase(_Model):
    """Fields of every statement (SPEC §2)."""

    id: StatementId
    issued_at: Timestamp
    issuer: Ident
    details_digest: Digest | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _absent_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _NOT_NULL_IF_PRESENT:
                if name in data and data[name] is None:
                    raise ValueError(f"{name} may be absent but not null")
        return data


class AdminKey(_Model):
    principal: Ident
    public_key: PublicKeyB64


class LedgerGenesis(StatementBase):
    type: Literal["ledger_genesis"]
    origin: Origin
    time_source: Literal["system", "asserted"]
    admins: Annotated[list[AdminKey], Field(min_length=1)]


class PrincipalRegistered(StatementBase):
    type: Literal["principal_registered"]
    principal: Ident
    roles: list[Ident]
    public_keys: Annotated[list[PublicKeyB64], Field(min_length=1)]


class RolesSet(StatementBase):
    type: Literal["roles_set"]
    principal: Ident
    roles: list[Ident]


class KeyAdded(StatementBase):
    type: Literal["key_added"]
    principal: Ident
    public_key: PublicKeyB64


class KeyRevoked(StatementBase):
    type: Literal["key_revoked"]
    key_id: KeyId
    reason: Literal["rotated", "retired", "compromised"]
    compromised_since: Timestamp | None = None

    @model_validator(mode="after")
    def _compromise_has_time(self) -> KeyRevoked:
        # SPEC §2: compromised_since is present iff the reason is `compromised`.
        if (self.reason == "compromised") != (self.compromised_since is not None):
            raise ValueError("compromised_since must be present exactly when reason is compromised")
        return self


class PolicyAdopted(StatementBase):
    type: Literal["policy_adopted"]
    # Any JSON object: an invalid document is still recorded, then judged by amendment.valid.
    policy: dict[str, Any]
    effective_at: Timestamp


class ModelRegistered(StatementBase):
    type: Literal["model_registered"]
    model: Ident
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    parent: Ident | None
    effective_compute: PositiveNumber


class ComputeMeasured(StatementBase):
    type: Literal["compute_measured"]
    model: Ident
    effective_compute: PositiveNumber


class CapabilityFinding(StatementBase):
    type: Literal["capability_finding"]
    model: Ident
    threshold: Ident
    assessment: Literal["preliminary", "comprehensive"]
    outcome: Literal["ruled_out", "early_warning", "cannot_rule_out", "crossed"]
    effective_compute: PositiveNumber
    evaluations: list[Annotated[str, StringConstraints(max_length=2000)]]


class RequiredLevels(_Model):
    deployment: Ident
    security: Ident


class CapabilityDetermination(StatementBase):
    type: Literal["capability_determination"]
    model: Ident
    findings: Annotated[list[StatementId], Field(min_length=1)]
    required: RequiredLevels


class SafeguardAttestation(StatementBase):
    type: Literal["safeguard_attestation"]
    standard: Ident
    part: Literal["deployment", "security"]
    controls: Annotated[list[Ident], Field(min_length=1)]
    model: Ident | None
    scopes: list[Ident]
    valid_until: Timestamp

    @model_validator(mode="after")
    def _security_has_no_scopes(self) -> SafeguardAttestation:
        if self.part == "security" and self.scopes:
            raise ValueError("scopes must be [] for the security part")
        return self


class SafeguardsDetermination(StatementBase):
    type: Literal["safeguards_determination"]
    standard: Ident
    model: Ident | None
    attestations: Annotated[list[StatementId], Field(min_length=1)]
    valid_until: Timestamp


class AttestationWithdrawn(StatementBase):
    type: Literal["attestation_withdrawn"]
    statement: StatementId
    invalid_from: Timestamp
    reason: Annotated[str, StringConstraints(max_length=2000)]


class GovernanceNotified(StatementBase):
    type: Literal["governance_notified"]
    regarding: StatementId
    bodies: Annotated[list[Ident], Field(min_length=1)]


class DeploymentDecision(StatementBase):
    type: Literal["deployment_decision"]
    model: Ident
    action: Literal["deploy", "undeploy"]
    scope: Ident
    determination: StatementId
    safeguards: list[StatementId]


class NoncomplianceReported(StatementBase):
    type: Literal["noncompliance_reported"]
    regarding: StatementId | None
    summary: Annotated[str, StringConstraints(max_length=2000)]


# -- statement types beyond SPEC §2 (docs/rules.md "Policy v2"): duties over time --------------


class RiskReportPublished(StatementBase):
    """A Risk Report, approved by its signers and published (RSP 3.0 §3).

    `coverage_date` is the time as of which the report assesses its models; `models` are the
    models it covers. The three flags are the facts the policy's conditions read: whether the
    decision to move forward rests on a marginal risk analysis (RSP 3.0 §3.4 item 5), whether the
    report covers highly capable models, and whether its public version is significantly
    redacted (RSP 3.0 §3.6).
    """

    type: Literal["risk_report_published"]
    coverage_date: Timestamp
    models: list[Ident]
    marginal_risk_analysis: bool
    highly_capable: bool
    significantly_redacted: bool


class ExternalReviewRequested(StatementBase):
    """A Risk Report was shared with external reviewers for review (RSP 3.0 §3.6.2)."""

    type: Literal["external_review_requested"]
    report: StatementId
    reviewers: Annotated[list[ReviewerName], Field(min_length=1)]


class ModelInScope(StatementBase):
    """A model was determined to be in scope of the risk reporting (RSP 3.0 §3.1)."""

    type: Literal["model_in_scope"]
    model: Ident
    deployment: Literal["internal", "external"]


class ModelDiscussionPublished(StatementBase):
    """A discussion of how a model changes the analysis of a Risk Report was published (RSP 3.0
    §3.1, "in a System Card or elsewhere"); `risk_report` names the report, if any."""

    type: Literal["model_discussion_published"]
    model: Ident
    risk_report: StatementId | None


class SafetyCaseApproved(StatementBase):
    """A governance function found a model's safety case adequate for the named critical
    capability levels (thresholds) and deployment scopes (FSF 3.0 §2.1.2 item 2, §3.1.2 item 2)."""

    type: Literal["safety_case_approved"]
    model: Ident
    thresholds: Annotated[list[Ident], Field(min_length=1)]
    scopes: Annotated[list[Ident], Field(min_length=1)]


Statement = Annotated[
    LedgerGenesis
    | PrincipalRegistered
    | RolesSet
    | KeyAdded
    | KeyRevoked
    | PolicyAdopted
    | ModelRegistered
    | ComputeMeasured
    | CapabilityFinding
    | CapabilityDetermination
    | SafeguardAttestation
    | SafeguardsDetermination
    | AttestationWithdrawn
    | GovernanceNotified
    | DeploymentDecision
    | NoncomplianceReported
    | RiskReportPublished
    | ExternalReviewRequested
    | ModelInScope
    | ModelDiscussionPublished
    | SafetyCaseApproved,
    Field(discriminator="type"),
]

# The statement types of SPEC §2, in the order of its table. A `rsp-ledger.policy/v1` document
# may name only these in `approvals` (SPEC §4), whatever else this ledger has learned since.
V1_STATEMENT_TYPES: tuple[str, ...] = (
    "ledger_genesis",
    "principal_registered",
    "roles_set",
    "key_added",
    "key_revoked",
    "policy_adopted",
    "model_registered",
    "compute_measured",
    "capability_finding",
    "capability_determination",
    "safeguard_attestation",
    "safeguards_determination",
    "attestation_withdrawn",
    "governance_notified",
    "deployment_decision",
    "noncompliance_reported",
)

# Every statement type this ledger reads: SPEC §2's, then those of policy v2 (docs/rules.md).
STATEMENT_TYPES: tuple[str, ...] = (
    *V1_STATEMENT_TYPES,
    "risk_report_published",
    "external_review_requested",
    "model_in_scope",
    "model_discussion_published",
    "safety_case_approved",
)

# Statements that govern the ledger itself (SPEC §2, acceptance).
GOVERNANCE_TYPES: frozenset[str] = frozenset(
    {"ledger_genesis", "principal_registered", "roles_set", "key_added", "key_revoked"}
)

_ADAPTER: TypeAdapter[Statement] = TypeAdapter(Statement)


def _describe(e: ValidationError, kind: str) -> str:
    err = e.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    if loc and loc[0] == kind:  # the discriminated union's tag
        loc = loc[1:]
    where = ".".join(loc) or "statement"
    more = f" (and {len(e.errors()) - 1} more)" if len(e.errors()) > 1 else ""
    if err["type"] == "extra_forbidden":
        return f"unexpected field {where!r} (extra fields are refused){more}"
    if err["type"] == "missing":
        return f"missing required field {where!r}{more}"
    found = err.get("input")
    found_text = "" if isinstance(found, dict | list) else f", found {str(found)[:60]!r}"
    return f"{where}: {err['msg']}{found_text}{more}"


def parse_statement(obj: object) -> Statement:
    """A JSON object becomes a typed statement, or `MalformedStatementError` says why not."""
    if not isinstance(obj, dict):
        raise MalformedStatementError(
            f"expected a statement as a JSON object, found {type(obj).__name__}"
        )
    kind = obj.get("type")
    if kind not in STATEMENT_TYPES:
        raise MalformedStatementError(
            f"type: expected one of {', '.join(STATEMENT_TYPES)}, found {str(kind)[:60]!r}"
        )
    try:
        return _ADAPTER.validate_python(obj)
    except ValidationError as e:
        raise MalformedStatementError(f"{kind} statement: {_describe(e, kind)}") from e


def statement_model(statement: Statement) -> str | None:
    """The model a statement concerns, or None (SPEC §8 `model`)."""
    model = getattr(statement, "model", None)
    return model if isinstance(model, str) else None


def cited_ids(statement: Statement) -> tuple[str, ...]:
    """Every statement id this statement cites, in the order it cites them."""
    match statement:
        case CapabilityDetermination():
            return tuple(statement.findings)
        case SafeguardsDetermination():
            return tuple(statement.attestations)
        case DeploymentDecision():
            return (statement.determination, *statement.safeguards)
        case AttestationWithdrawn():
            return (statement.statement,)
        case GovernanceNotified():
            return (statement.regarding,)
        case NoncomplianceReported() if statement.regarding is not None:
            return (statement.regarding,)
        case ExternalReviewRequested():
            return (statement.report,)
        case ModelDiscussionPublished() if statement.risk_report is not None:
            return (statement.risk_report,)
        case _:
            return ()


# The types whose statements can cite another statement (`cited_ids` may be non-empty).
CITING_TYPES: frozenset[str] = frozenset(
    {
        "capability_determination",
        "safeguards_determination",
        "deployment_decision",
        "attestation_withdrawn",
        "governance_notified",
        "noncompliance_reported",
        "external_review_requested",
        "model_discussion_published",
    }
)

_MODELS: dict[str, type[StatementBase]] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls for cls in StatementBase.__subclasses__()
}


def condition_values(statement_type: str) -> dict[str, tuple[bool | str, ...]]:
    """The fields of a statement type that a policy condition may test, with the values each may
    take: the booleans and the fields limited to a few strings (a `Literal`), except `type`."""
    cls = _MODELS.get(statement_type)
    if cls is None:
        return {}
    found: dict[str, tuple[bool | str, ...]] = {}
    for name, info in cls.model_fields.items():
        annotation = info.annotation
        if name == "type":
            continue
        if annotation is bool:
            found[name] = (True, False)
        elif get_origin(annotation) is Literal:
            found[name] = tuple(get_args(annotation))
    return found


def has_field(statement_type: str, name: str) -> bool:
    """True when statements of `statement_type` have a field `name`."""
    cls = _MODELS.get(statement_type)
    return cls is not None and name in cls.model_fields


def matches(statement: Statement, when: Mapping[str, bool | str]) -> bool:
    """True when every field named in `when` has exactly that value in `statement`."""
    return all(
        type(getattr(statement, name, None)) is type(value) and getattr(statement, name) == value
        for name, value in when.items()
    )


__all__ = [
    "CITING_TYPES",
    "GOVERNANCE_TYPES",
    "STATEMENT_TYPES",
    "V1_STATEMENT_TYPES",
    "AdminKey",
    "AttestationWithdrawn",
    "CapabilityDetermination",
    "CapabilityFinding",
    "ComputeMeasured",
    "DeploymentDecision",
    "ExternalReviewRequested",
    "GovernanceNotified",
    "KeyAdded",
    "KeyRevoked",
    "LedgerGenesis",
    "ModelDiscussionPublished",
    "ModelInScope",
    "ModelRegistered",
    "NoncomplianceReported",
    "PolicyAdopted",
    "PrincipalRegistered",
    "RequiredLevels",
    "RiskReportPublished",
    "RolesSet",
    "SafeguardAttestation",
    "SafeguardsDetermination",
    "SafetyCaseApproved",
    "Statement",
    "StatementBase",
    "cited_ids",
    "condition_values",
    "has_field",
    "matches",
    "parse_statement",
    "statement_model",
]
