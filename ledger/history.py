"""Write a signed history into a ledger: principals with their own keys, statements signed by
whoever must sign them. Used by `rsp-ledger demo`, by the tests and by the benchmarks, so that all
three exercise the same path a team's tooling would.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from domain.ids import format_time
from ledger.keyfile import write_private_key
from ledger.store import Ledger, RecordedEntry
from verify.details import Detail, details_digest, make_detail
from verify.dsse import Envelope, add_signature, envelope_for_statement, parse_envelope
from verify.keys import Ed25519Signer, encode_public_key


@dataclass
class Principal:
    name: str
    roles: tuple[str, ...]
    signer: Ed25519Signer

    @property
    def public_key(self) -> str:
        return encode_public_key(self.signer.public_raw)


@dataclass
class HistoryWriter:
    """Builds, signs and submits statements; tracks the asserted clock if the ledger has one."""

    ledger: Ledger
    clock: datetime
    principals: dict[str, Principal] = field(default_factory=dict)
    asserted: bool = True
    _counter: int = 0

    def principal(self, name: str, *roles: str) -> Principal:
        p = Principal(name, tuple(roles), Ed25519Signer.generate())
        self.principals[name] = p
        return p

    def advance(self, **delta: float) -> datetime:
        self.clock += timedelta(**delta)
        return self.clock

    def new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter:04d}"

    def envelope(self, statement: Mapping[str, Any], signers: Iterable[str]) -> Envelope:
        names = list(signers)
        env = parse_envelope(envelope_for_statement(statement, self.principals[names[0]].signer))
        for name in names[1:]:
            env = add_signature(env, self.principals[name].signer)
        return env

    def statement(self, type_: str, issuer: str, **fields: Any) -> dict[str, Any]:
        st: dict[str, Any] = {
            "type": type_,
            "id": fields.pop("id", None) or self.new_id(type_.split("_")[0]),
            "issued_at": format_time(self.clock),
            "issuer": issuer,
        }
        st.update(fields)
        return st

    def submit(
        self,
        type_: str,
        issuer: str,
        *,
        cosigners: Iterable[str] = (),
        details: Any = None,
        **fields: Any,
    ) -> RecordedEntry:
        detail: Detail | None = None
        if details is not None:
            salt = secrets.token_bytes(32)
            sid = fields.get("id") or self.new_id(type_.split("_")[0])
            fields["id"] = sid
            detail = make_detail(sid, salt, details)
            fields["details_digest"] = details_digest(salt, detail.details_jcs)
        st = self.statement(type_, issuer, **fields)
        env = self.envelope(st, [issuer, *cosigners])
        return self.ledger.submit(
            env, detail=detail, recorded_at=self.clock if self.asserted else None
        )

    def genesis_envelope(self, origin: str, admin: str, *, asserted: bool = True) -> Envelope:
        p = self.principals[admin]
        st = self.statement(
            "ledger_genesis",
            admin,
            origin=origin,
            time_source="asserted" if asserted else "system",
            admins=[{"principal": admin, "public_key": p.public_key}],
        )
        return self.envelope(st, [admin])

    def register_all(self, admin: str) -> None:
        """A principal_registered for every principal except the genesis admins."""
        for p in self.principals.values():
            if p.name == admin:
                continue
            self.submit(
                "principal_registered",
                admin,
                principal=p.name,
                roles=list(p.roles),
                public_keys=[p.public_key],
            )
            self.advance(minutes=1)

    def save_keys(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for p in self.principals.values():
            path = folder / f"{p.name}.pem"
            if not path.exists():
                write_private_key(path, p.signer)
        os.chmod(folder, 0o700)
