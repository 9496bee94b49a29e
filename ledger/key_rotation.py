"""Rotating the ledger key (issue 9): the outgoing key vouches for the incoming one in a signed
key transition (verify/key_history.py), kept in `rsp_key_history`; checkpoints from then on are
signed by the new key, and every old checkpoint still verifies with the old one.

The transition and the new vkey in `rsp_meta` commit in one transaction under the writers' head
lock, so no entry is appended between "the old key's last size" and "the new key takes over".
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, select, update

from ledger import schema
from ledger.errors import KeyFileError, LedgerStateError
from ledger.store import Ledger
from verify.key_history import history_json, sign_transition
from verify.keys import Signer
from verify.note import format_vkey

_metadata = MetaData()
key_history = Table(
    "rsp_key_history",
    _metadata,
    Column("n", Integer, primary_key=True),
    Column("from_size", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("vkey", Text, nullable=False),
    Column("note", Text, nullable=False),
)


def _ensure_table(ledger: Ledger) -> None:
    key_history.create(ledger.engine, checkfirst=True)


def rotate_ledger_key(ledger: Ledger, old: Signer, new: Signer) -> str:
    """Hand the log over from `old` (the current ledger key) to `new`; returns the transition."""
    origin = ledger.origin
    if format_vkey(origin, old.public_raw) != ledger.vkey:
        raise KeyFileError(
            f"the ledger key file is not the ledger's current key: expected {ledger.vkey}"
        )
    if new.public_raw == old.public_raw:
        raise KeyFileError("the new ledger key is the current one: expected a different key")
    _ensure_table(ledger)
    with ledger._write() as conn:
        row = conn.execute(
            select(schema.head.c.size).where(schema.head.c.id == 1).with_for_update()
        ).one_or_none()
        if row is None:
            raise LedgerStateError("the ledger has no head: expected an initialised ledger")
        size = int(row[0])
        note = sign_transition(origin, size, old, new)
        n = conn.execute(select(key_history.c.n).order_by(key_history.c.n.desc())).scalar()
        new_vkey = format_vkey(origin, new.public_raw)
        conn.execute(
            key_history.insert(),
            [{"n": (n or 0) + 1, "from_size": size, "vkey": new_vkey, "note": note}],
        )
        conn.execute(update(schema.meta).where(schema.meta.c.key == "vkey").values(value=new_vkey))
    ledger._meta = None
    return note


def transitions(ledger: Ledger) -> list[str]:
    _ensure_table(ledger)
    with ledger.engine.connect() as conn:
        return [
            str(r[0]) for r in conn.execute(select(key_history.c.note).order_by(key_history.c.n))
        ]


def key_history_document(ledger: Ledger) -> dict[str, object]:
    return history_json(ledger.origin, transitions(ledger))
