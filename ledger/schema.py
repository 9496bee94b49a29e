"""The ledger's tables beside eventsourcing's stored events.

Entries are eventsourcing stored events of one originator (the log), `originator_version` = seq,
`state` = the entry's exact JCS bytes. The unique (originator_id, originator_version) index is the
store's own guard against two entries at one seq. Everything else here is derived from entries and
written in the same transaction (an entry is never visible without its leaf and its indexes),
except `rsp_details`, which holds redactable, erasable material outside the hashed log.

Schema changes: `SCHEMA_VERSION` is stored in `rsp_meta`. A later version adds tables or columns
with defaults and back-fills derived data by replaying entries; no hashed byte is ever rewritten
(docs/storage.md).
"""

from __future__ import annotations

import uuid

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 1
EVENTS_TABLE = "rsp_events"
LOG_ORIGINATOR = uuid.uuid5(uuid.NAMESPACE_URL, "urn:rsp-ledger:log")
ENTRY_TOPIC = "rsp-ledger.entry/v1"

_BigInt = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

meta = Table(
    "rsp_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row (id = 1): the head of the log. Writers lock it (PostgreSQL FOR UPDATE).
head = Table(
    "rsp_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("size", _BigInt, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("last_recorded_at", String(40), nullable=True),
)

# Perfect subtrees of the RFC 9162 tree: node (level, idx) covers leaves [idx·2^level, (idx+1)·2^level).
tree_nodes = Table(
    "rsp_tree_nodes",
    metadata,
    Column("level", Integer, primary_key=True),
    Column("idx", _BigInt, primary_key=True),
    Column("hash", LargeBinary, nullable=False),
)

checkpoints = Table(
    "rsp_checkpoints",
    metadata,
    Column("size", _BigInt, primary_key=True),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
)

# Witness cosignatures (c2sp.org/tlog-cosignature) of the checkpoint at `size`, one per witness
# key (`witness` = name+hex key id). Kept apart from `rsp_checkpoints` so that the note the ledger
# signed is never rewritten; `Ledger.checkpoint` appends `line` to it (docs/witnesses.md).
WITNESS_LABEL_MAX = 300
cosignatures = Table(
    "rsp_cosignatures",
    metadata,
    Column("size", _BigInt, primary_key=True),
    Column("witness", String(WITNESS_LABEL_MAX), primary_key=True),
    Column("line", Text, nullable=False),
)

statements = Table(
    "rsp_statements",
    metadata,
    Column("statement_id", String(128), primary_key=True),
    Column("seq", _BigInt, nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("model", String(128), nullable=True, index=True),
)

principals = Table(
    "rsp_principals",
    metadata,
    Column("principal", String(128), primary_key=True),
    Column("roles", Text, nullable=False),  # JSON list
    Column("registered_seq", _BigInt, nullable=False),
    Column("key_ids", Text, nullable=False),  # JSON list
)

keys = Table(
    "rsp_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("principal", String(128), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("added_seq", _BigInt, nullable=False),
    Column("revoked_seq", _BigInt, nullable=True),
    Column("revoked_reason", String(16), nullable=True),
    Column("compromised_since", String(40), nullable=True),
)

details = Table(
    "rsp_details",
    metadata,
    Column("statement_id", String(128), primary_key=True),
    Column("salt", LargeBinary, nullable=False),
    Column("details", LargeBinary, nullable=False),  # JCS bytes
)
