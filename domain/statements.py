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
from typing import Annotated, Any, Literal

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
    | NoncomplianceReported,
    Field(discriminator="type"),
]

STATEMENT_TYPES: tuple[str, ...] = (
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
        case _:
            return ()


__all__ = [
    "GOVERNANCE_TYPES",
    "STATEMENT_TYPES",
    "AdminKey",
    "AttestationWithdrawn",
    "CapabilityDetermination",
    "CapabilityFinding",
    "ComputeMeasured",
    "DeploymentDecision",
    "GovernanceNotified",
    "KeyAdded",
    "KeyRevoked",
    "LedgerGenesis",
    "ModelRegistered",
    "NoncomplianceReported",
    "PolicyAdopted",
    "PrincipalRegistered",
    "RequiredLevels",
    "RolesSet",
    "SafeguardAttestation",
    "SafeguardsDetermination",
    "Statement",
    "StatementBase",
    "cited_ids",
    "parse_statement",
    "statement_model",
]
