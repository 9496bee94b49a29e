"""Logs for projection tests: `LogRecord`s turned into the exact entry bytes a ledger stores.

Signatures are placeholders (64 zero bytes per key id): a projection reads the store's own
entries and does not re-verify them, so the tests need no private keys and stay fast.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from domain.log import LogRecord
from projections.source import ListSource
from verify.dsse import PAYLOAD_TYPE, parse_envelope
from verify.entry import entry_bytes
from verify.jcs import canonical

FAKE_SIG = base64.b64encode(bytes(64)).decode()


def leaf_of(record: LogRecord) -> bytes:
    statement = record.statement.model_dump(mode="json", exclude_unset=True)
    envelope = parse_envelope(
        {
            "payloadType": PAYLOAD_TYPE,
            "payload": base64.b64encode(canonical(statement)).decode(),
            "signatures": [{"keyid": k, "sig": FAKE_SIG} for k in record.signer_key_ids],
        }
    )
    return entry_bytes(record.seq, record.recorded_at, envelope)


def source_of(records: Iterable[LogRecord]) -> ListSource:
    return ListSource(leaf_of(r) for r in records)


def sqlite_engine(path: Path) -> Engine:
    """A SQLite file, without fsync (the tests' databases need not survive a power cut)."""
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _fast(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA synchronous=OFF")

    return engine
