"""Who may sign what: principals, their roles and keys, replayed from the log (SPEC §2).

The same state machine serves the ledger when it accepts an envelope and the verifier when it
replays a bundle, so the two can never disagree on acceptance.

Invariants:
- a key id belongs to at most one principal, forever (a revoked key is never re-registered);
- `check` never mutates; `apply` is called only for a record that `check` accepted;
- "before this entry" means a smaller seq: state reflects exactly the records applied so far.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from domain.errors import AcceptanceError
from domain.statements import (
    AttestationWithdrawn,
    KeyAdded,
    KeyRevoked,
    LedgerGenesis,
    PrincipalRegistered,
    RolesSet,
    Statement,
)

LEDGER_ADMIN = "ledger-admin"
ISSUED_AT_SLACK = timedelta(minutes=5)
WITHDRAWABLE_TYPES = frozenset({"safeguard_attestation", "safeguards_determination"})


def key_id_of(public_key_b64: str) -> str:
    """SPEC §1 key id from a statement's base64 public key."""
    return hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    principal: str
    public_key: str  # base64 of the raw 32 bytes, as in the statement that registered it
    added_seq: int
    revoked_seq: int | None = None
    revoked_reason: str | None = None
    compromised_since: datetime | None = None

    @property
    def public_raw(self) -> bytes:
        return base64.b64decode(self.public_key)


@dataclass(frozen=True, slots=True)
class PrincipalRecord:
    principal: str
    roles: frozenset[str]
    registered_seq: int
    key_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class Registry:
    """Principals and keys as of the records applied so far."""

    genesis: LedgerGenesis | None = None
    principals: dict[str, PrincipalRecord] = field(default_factory=dict)
    keys: dict[str, KeyRecord] = field(default_factory=dict)

    # -- queries -----------------------------------------------------------------------------
    def principal_of(self, key_id: str) -> str | None:
        rec = self.keys.get(key_id)
        return rec.principal if rec else None

    def signers(self, key_ids: Iterable[str]) -> frozenset[str]:
        """The principals owning the given keys (SPEC §2 "signers")."""
        return frozenset(p for k in key_ids if (p := self.principal_of(k)) is not None)

    def roles_of(self, principal: str) -> frozenset[str]:
        rec = self.principals.get(principal)
        return rec.roles if rec else frozenset()

    def public_keys(self) -> dict[str, bytes]:
        return {k: rec.public_raw for k, rec in self.keys.items()}

    # -- acceptance --------------------------------------------------------------------------
    def check(
        self,
        statement: Statement,
        key_ids: tuple[str, ...],
        *,
        seq: int,
        recorded_at: datetime,
        statement_type: Callable[[str], str | None],
    ) -> None:
        """Raise `AcceptanceError` unless SPEC §2 accepts this statement as entry `seq`.

        Signatures must already have been verified against the keys their ids name;
        `statement_type(id)` answers for statements recorded before this one.
        """
        if seq == 0 or isinstance(statement, LedgerGenesis):
            self._check_genesis(statement, key_ids, seq)
            return
        if statement.issued_at > recorded_at + ISSUED_AT_SLACK:
            raise AcceptanceError(
                f"issued_at {statement.issued_at.isoformat()} is later than recorded_at + 5 minutes",
                check="acceptance.issued_at",
            )
        if statement_type(statement.id) is not None:
            raise AcceptanceError(
                f"statement id {statement.id!r} is already recorded", check="acceptance.unique_id"
            )
        for kid in key_ids:
            rec = self.keys.get(kid)
            if rec is None:
                raise AcceptanceError(
                    f"signature by key {kid[:16]}…: expected a registered key, found none",
                    check="acceptance.signature",
                )
            if rec.revoked_seq is not None:
                raise AcceptanceError(
                    f"signature by key {kid[:16]}… of {rec.principal}: key was revoked "
                    f"({rec.revoked_reason}) at seq {rec.revoked_seq}",
                    check="acceptance.signature",
                )
        signers = self.signers(key_ids)
        if statement.issuer not in signers:
            raise AcceptanceError(
                f"issuer {statement.issuer!r} must be among the signers, found "
                f"{', '.join(sorted(signers)) or 'none'}",
                check="acceptance.issuer",
            )
        self._check_governance(statement, signers, recorded_at, statement_type)

    def _check_genesis(self, statement: Statement, key_ids: tuple[str, ...], seq: int) -> None:
        if not isinstance(statement, LedgerGenesis):
            raise AcceptanceError(
                f"entry 0 must be ledger_genesis, found {statement.type}",
                check="acceptance.genesis",
            )
        if seq != 0 or self.genesis is not None:
            raise AcceptanceError(
                f"ledger_genesis is allowed only as entry 0, found at seq {seq}",
                check="acceptance.genesis",
            )
        admin_keys = [key_id_of(a.public_key) for a in statement.admins]
        if len(set(admin_keys)) != len(admin_keys):
            raise AcceptanceError("genesis names one admin key twice", check="acceptance.genesis")
        if set(key_ids) != set(admin_keys):
            raise AcceptanceError(
                f"genesis must be signed by exactly its {len(admin_keys)} admin key(s), found "
                f"{len(key_ids)} signature(s) of which {len(set(key_ids) & set(admin_keys))} match",
                check="acceptance.genesis",
            )
        if statement.issuer not in {a.principal for a in statement.admins}:
            raise AcceptanceError(
                f"issuer {statement.issuer!r} must be one of the genesis admins",
                check="acceptance.issuer",
            )

    def _require_admin(self, signers: frozenset[str], what: str) -> None:
        if not any(LEDGER_ADMIN in self.roles_of(p) for p in signers):
            raise AcceptanceError(
                f"{what} needs the signature of a {LEDGER_ADMIN}, found signers "
                f"{', '.join(sorted(signers))} without that role",
                check="acceptance.authorisation",
            )

    def _check_new_key(self, public_key: str) -> None:
        kid = key_id_of(public_key)
        if kid in self.keys:
            raise AcceptanceError(
                f"key {kid[:16]}… is already registered to {self.keys[kid].principal}",
                check="acceptance.governance",
            )

    def _check_governance(
        self,
        statement: Statement,
        signers: frozenset[str],
        recorded_at: datetime,
        statement_type: Callable[[str], str | None],
    ) -> None:
        match statement:
            case PrincipalRegistered():
                self._require_admin(signers, "principal_registered")
                if statement.principal in self.principals:
                    raise AcceptanceError(
                        f"principal {statement.principal!r} is already registered",
                        check="acceptance.governance",
                    )
                if len(set(statement.public_keys)) != len(statement.public_keys):
                    raise AcceptanceError(
                        "principal_registered lists one key twice", check="acceptance.governance"
                    )
                for pk in statement.public_keys:
                    self._check_new_key(pk)
            case RolesSet():
                self._require_admin(signers, "roles_set")
                if statement.principal not in self.principals:
                    raise AcceptanceError(
                        f"roles_set for unknown principal {statement.principal!r}",
                        check="acceptance.governance",
                    )
            case KeyAdded():
                self._require_admin(signers, "key_added")
                if statement.principal not in self.principals:
                    raise AcceptanceError(
                        f"key_added for unknown principal {statement.principal!r}",
                        check="acceptance.governance",
                    )
                self._check_new_key(statement.public_key)
            case KeyRevoked():
                rec = self.keys.get(statement.key_id)
                if rec is None:
                    raise AcceptanceError(
                        f"key_revoked for unknown key {statement.key_id[:16]}…",
                        check="acceptance.governance",
                    )
                if rec.revoked_seq is not None:
                    raise AcceptanceError(
                        f"key {statement.key_id[:16]}… is already revoked (seq {rec.revoked_seq})",
                        check="acceptance.governance",
                    )
                if rec.principal not in signers:
                    self._require_admin(signers, "key_revoked by someone other than its owner")
                if (
                    statement.compromised_since is not None
                    and statement.compromised_since > recorded_at
                ):
                    raise AcceptanceError(
                        "compromised_since must not be later than the entry's recorded_at",
                        check="acceptance.governance",
                    )
            case AttestationWithdrawn():
                target = statement_type(statement.statement)
                if target not in WITHDRAWABLE_TYPES:
                    found = "nothing" if target is None else f"a {target}"
                    raise AcceptanceError(
                        f"attestation_withdrawn must name an earlier attestation or safeguards "
                        f"determination; {statement.statement!r} is {found}",
                        check="acceptance.governance",
                    )
            case _:
                pass

    def apply(self, statement: Statement, seq: int) -> None:
        """Advance the state past an accepted record."""
        match statement:
            case LedgerGenesis():
                self.genesis = statement
                for admin in statement.admins:
                    kid = key_id_of(admin.public_key)
                    self.keys[kid] = KeyRecord(kid, admin.principal, admin.public_key, seq)
                    prev = self.principals.get(admin.principal)
                    kids = (*prev.key_ids, kid) if prev else (kid,)
                    self.principals[admin.principal] = PrincipalRecord(
                        admin.principal, frozenset({LEDGER_ADMIN}), seq, kids
                    )
            case PrincipalRegistered():
                kids = tuple(key_id_of(pk) for pk in statement.public_keys)
                for pk, kid in zip(statement.public_keys, kids, strict=True):
                    self.keys[kid] = KeyRecord(kid, statement.principal, pk, seq)
                self.principals[statement.principal] = PrincipalRecord(
                    statement.principal, frozenset(statement.roles), seq, kids
                )
            case RolesSet():
                prev = self.principals[statement.principal]
                self.principals[statement.principal] = replace(
                    prev, roles=frozenset(statement.roles)
                )
            case KeyAdded():
                kid = key_id_of(statement.public_key)
                self.keys[kid] = KeyRecord(kid, statement.principal, statement.public_key, seq)
                prev = self.principals[statement.principal]
                self.principals[statement.principal] = replace(prev, key_ids=(*prev.key_ids, kid))
            case KeyRevoked():
                prev_key = self.keys[statement.key_id]
                self.keys[statement.key_id] = replace(
                    prev_key,
                    revoked_seq=seq,
                    revoked_reason=statement.reason,
                    compromised_since=statement.compromised_since,
                )
            case _:
                pass
