"""The registry (principals, roles, keys, revocations) as rows of the ledger's own tables.

The log is the truth; these rows are the registry as of the head, written in the same transaction
as the entries that change it, so that a writer need not replay the log to check the next
envelope's signers. `RegistryChanges` collects what a batch touched; `save` writes exactly those
principals and keys again; `load` reads the whole registry back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Connection, Table, select

from domain.ids import format_time, parse_time
from domain.registry import KeyRecord, PrincipalRecord, Registry, key_id_of
from domain.statements import KeyRevoked, LedgerGenesis, Statement
from ledger import schema

_PRINCIPAL_TYPES = ("principal_registered", "roles_set", "key_added")


@dataclass
class RegistryChanges:
    """The principals and keys a batch's statements changed (after `Registry.apply`)."""

    principals: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.principals or self.keys)

    def note(self, registry: Registry, statement: Statement) -> None:
        principal = getattr(statement, "principal", None)
        if isinstance(statement, LedgerGenesis):
            self.principals |= {a.principal for a in statement.admins}
            self.keys |= {key_id_of(a.public_key) for a in statement.admins}
        elif principal is not None and statement.type in _PRINCIPAL_TYPES:
            self.principals.add(principal)
            self.keys |= set(registry.principals[principal].key_ids)
        elif isinstance(statement, KeyRevoked):
            self.keys.add(statement.key_id)


def save(conn: Connection, registry: Registry, changes: RegistryChanges) -> None:
    """Write the changed principals and keys again, as `registry` now has them."""
    for p in sorted(changes.principals):
        rec = registry.principals[p]
        _replace(
            conn,
            schema.principals,
            "principal",
            {
                "principal": p,
                "roles": json.dumps(sorted(rec.roles)),
                "registered_seq": rec.registered_seq,
                "key_ids": json.dumps(list(rec.key_ids)),
            },
        )
    for kid in sorted(changes.keys):
        k = registry.keys[kid]
        _replace(
            conn,
            schema.keys,
            "key_id",
            {
                "key_id": kid,
                "principal": k.principal,
                "public_key": k.public_key,
                "added_seq": k.added_seq,
                "revoked_seq": k.revoked_seq,
                "revoked_reason": k.revoked_reason,
                "compromised_since": format_time(k.compromised_since)
                if k.compromised_since
                else None,
            },
        )


def _replace(conn: Connection, table: Table, key: str, row: dict[str, object]) -> None:
    conn.execute(table.delete().where(table.c[key] == row[key]))
    conn.execute(table.insert(), [row])


def load(conn: Connection) -> Registry:
    """The whole registry as the rows hold it."""
    reg = Registry()
    for r in conn.execute(select(schema.principals)).mappings():
        reg.principals[r["principal"]] = PrincipalRecord(
            r["principal"],
            frozenset(json.loads(r["roles"])),
            int(r["registered_seq"]),
            tuple(json.loads(r["key_ids"])),
        )
    for r in conn.execute(select(schema.keys)).mappings():
        reg.keys[r["key_id"]] = KeyRecord(
            r["key_id"],
            r["principal"],
            r["public_key"],
            int(r["added_seq"]),
            None if r["revoked_seq"] is None else int(r["revoked_seq"]),
            r["revoked_reason"],
            parse_time(r["compromised_since"]) if r["compromised_since"] else None,
        )
    return reg
