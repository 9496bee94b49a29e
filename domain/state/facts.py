"""What the log says about one model, and about the organisation, at one position of the log.

Facts are time-independent: they hold the records the compliance rules read (a determination and
the findings it validly cites, safeguards determinations and their attestations, withdrawals,
notifications) and nothing computed from a clock. Whether a determination is fresh, which
safeguards are in force and what is owed are answered at a time t by `domain.state.status`, with
the engine's own rule functions, so that the answer for "now" and for any past time comes from the
same code.

Invariants:
- facts at position n are a function of entries 0 … n only, and of nothing else (no clock, no
  order of arrival): an incremental projection and a fresh rebuild hold equal facts;
- each safeguards determination is its own `SafeguardsFacts`, with its `expires`, so that a
  reader can load only those that may still be in force at t;
- `to_json()` / `from_json()` round-trip exactly; records keep the statement's own fields (the
  JSON of its schema, re-validated by `parse_statement` when read back);
- lists are in seq order, so the JSON form of equal facts is byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.compliance.history import Compute, Withdrawal
from domain.ids import format_time, parse_time
from domain.log import LogRecord
from domain.registry import KeyRecord, PrincipalRecord
from domain.statements import (
    CapabilityDetermination,
    DeploymentDecision,
    ModelRegistered,
    PolicyAdopted,
    SafeguardAttestation,
    SafeguardsDetermination,
    parse_statement,
)

# The key of everything organisation-wide (SPEC §1 ids never start with '*').
ORG = "*"


def record_to_json(record: LogRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "recorded_at": format_time(record.recorded_at),
        "signer_key_ids": list(record.signer_key_ids),
        "statement": record.statement.model_dump(mode="json", exclude_unset=True),
    }


def record_from_json(obj: Mapping[str, Any]) -> LogRecord:
    return LogRecord(
        int(obj["seq"]),
        parse_time(obj["recorded_at"]),
        parse_statement(obj["statement"]),
        tuple(obj["signer_key_ids"]),
    )


def _time_or_none(t: datetime | None) -> str | None:
    return format_time(t) if t is not None else None


@dataclass(frozen=True, slots=True)
class DeterminationFacts:
    """The latest capability determination of a model, as the rules read it."""

    record: LogRecord
    # SPEC §5 "Bad citations": only the findings that pass evidence.cited's checks.
    findings: tuple[LogRecord, ...]
    # Bodies notified regarding it by entries recorded after it (SPEC §5 governance.notified).
    notified: tuple[str, ...]

    @property
    def statement(self) -> CapabilityDetermination:
        st = self.record.statement
        assert isinstance(st, CapabilityDetermination)
        return st


@dataclass(frozen=True, slots=True)
class SafeguardsFacts:
    """A safeguards determination, the attestations it validly cites, and their withdrawals."""

    record: LogRecord
    attestations: tuple[LogRecord, ...]
    # target id → withdrawals of the determination or of one of its attestations, in seq order
    withdrawals: tuple[tuple[str, tuple[Withdrawal, ...]], ...] = ()

    @property
    def statement(self) -> SafeguardsDetermination:
        st = self.record.statement
        assert isinstance(st, SafeguardsDetermination)
        return st

    @property
    def home(self) -> str:
        return self.statement.model or ORG

    @property
    def expires(self) -> datetime:
        """The earliest `valid_until` of the determination and its attestations: no decision at
        or after it can pass SPEC §5 safeguards.current on this determination."""
        times = [self.statement.valid_until]
        times += [
            a.statement.valid_until
            for a in self.attestations
            if isinstance(a.statement, SafeguardAttestation)
        ]
        return min(times)

    def to_json(self) -> dict[str, Any]:
        return {
            "record": record_to_json(self.record),
            "attestations": [record_to_json(a) for a in self.attestations],
            "withdrawals": _withdrawals_json(self.withdrawals),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SafeguardsFacts:
        return cls(
            record_from_json(obj["record"]),
            tuple(record_from_json(a) for a in obj["attestations"]),
            _withdrawals_from(obj["withdrawals"]),
        )


@dataclass(frozen=True, slots=True)
class ModelFacts:
    model: str
    # seq of the first entry about this model (registration or not)
    first_seq: int
    registration: LogRecord | None
    # SPEC §5 determination.fresh (a): the greatest effective compute recorded for the model
    greatest_compute: Compute | None
    determination: DeterminationFacts | None
    # scope → the deploy decision under which the model is deployed there now
    deployments: tuple[tuple[str, LogRecord], ...]

    @property
    def name(self) -> str | None:
        st = self.registration.statement if self.registration else None
        return st.name if isinstance(st, ModelRegistered) else None

    def deployment_decisions(self) -> dict[str, DeploymentDecision]:
        out: dict[str, DeploymentDecision] = {}
        for scope, record in self.deployments:
            assert isinstance(record.statement, DeploymentDecision)
            out[scope] = record.statement
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "first_seq": self.first_seq,
            "registration": record_to_json(self.registration) if self.registration else None,
            "greatest_compute": _compute_json(self.greatest_compute),
            "determination": _determination_json(self.determination),
            "deployments": [[scope, record_to_json(r)] for scope, r in self.deployments],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ModelFacts:
        reg = obj["registration"]
        return cls(
            model=str(obj["model"]),
            first_seq=int(obj["first_seq"]),
            registration=record_from_json(reg) if reg is not None else None,
            greatest_compute=_compute_from(obj["greatest_compute"]),
            determination=_determination_from(obj["determination"]),
            deployments=tuple((str(s), record_from_json(r)) for s, r in obj["deployments"]),
        )


@dataclass(frozen=True, slots=True)
class Adoption:
    """A `policy_adopted` entry, and whether it came into force (SPEC §4)."""

    record: LogRecord
    came_into_force: bool

    @property
    def statement(self) -> PolicyAdopted:
        st = self.record.statement
        assert isinstance(st, PolicyAdopted)
        return st

    @property
    def effective(self) -> datetime:
        # SPEC §4: effective time = max(effective_at, recorded_at).
        return max(self.statement.effective_at, self.record.recorded_at)


@dataclass(frozen=True, slots=True)
class OrgFacts:
    """Organisation-wide facts at a position of the log."""

    adoptions: tuple[Adoption, ...]
    principals: tuple[PrincipalRecord, ...]
    keys: tuple[KeyRecord, ...]
    # model → (registration seq, parent) of every registered model, for lineage
    registrations: tuple[tuple[str, int, str | None], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "adoptions": [
                {"record": record_to_json(a.record), "came_into_force": a.came_into_force}
                for a in self.adoptions
            ],
            "principals": [
                {
                    "principal": p.principal,
                    "roles": sorted(p.roles),
                    "registered_seq": p.registered_seq,
                    "key_ids": list(p.key_ids),
                }
                for p in self.principals
            ],
            "keys": [
                {
                    "key_id": k.key_id,
                    "principal": k.principal,
                    "public_key": k.public_key,
                    "added_seq": k.added_seq,
                    "revoked_seq": k.revoked_seq,
                    "revoked_reason": k.revoked_reason,
                    "compromised_since": _time_or_none(k.compromised_since),
                }
                for k in self.keys
            ],
            "registrations": [list(r) for r in self.registrations],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> OrgFacts:
        return cls(
            adoptions=tuple(
                Adoption(record_from_json(a["record"]), bool(a["came_into_force"]))
                for a in obj["adoptions"]
            ),
            principals=tuple(
                PrincipalRecord(
                    str(p["principal"]),
                    frozenset(p["roles"]),
                    int(p["registered_seq"]),
                    tuple(p["key_ids"]),
                )
                for p in obj["principals"]
            ),
            keys=tuple(
                KeyRecord(
                    str(k["key_id"]),
                    str(k["principal"]),
                    str(k["public_key"]),
                    int(k["added_seq"]),
                    k["revoked_seq"],
                    k["revoked_reason"],
                    parse_time(k["compromised_since"]) if k["compromised_since"] else None,
                )
                for k in obj["keys"]
            ),
            registrations=tuple(
                (str(m), int(seq), None if parent is None else str(parent))
                for m, seq, parent in obj["registrations"]
            ),
        )


# -- JSON helpers ---------------------------------------------------------------------------------


def _compute_json(c: Compute | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"effective_compute": c.effective_compute, "statement": c.statement}


def _compute_from(obj: Mapping[str, Any] | None) -> Compute | None:
    if obj is None:
        return None
    return Compute(float(obj["effective_compute"]), str(obj["statement"]))


def _determination_json(d: DeterminationFacts | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "record": record_to_json(d.record),
        "findings": [record_to_json(f) for f in d.findings],
        "notified": list(d.notified),
    }


def _determination_from(obj: Mapping[str, Any] | None) -> DeterminationFacts | None:
    if obj is None:
        return None
    return DeterminationFacts(
        record_from_json(obj["record"]),
        tuple(record_from_json(f) for f in obj["findings"]),
        tuple(obj["notified"]),
    )


def _withdrawals_json(
    withdrawals: tuple[tuple[str, tuple[Withdrawal, ...]], ...],
) -> list[list[Any]]:
    return [
        [
            target,
            [
                {
                    "invalid_from": format_time(w.invalid_from),
                    "statement": w.statement,
                    "seq": w.seq,
                }
                for w in ws
            ],
        ]
        for target, ws in withdrawals
    ]


def _withdrawals_from(obj: list[list[Any]]) -> tuple[tuple[str, tuple[Withdrawal, ...]], ...]:
    return tuple(
        (
            str(target),
            tuple(
                Withdrawal(parse_time(w["invalid_from"]), str(w["statement"]), int(w["seq"]))
                for w in ws
            ),
        )
        for target, ws in obj
    )
