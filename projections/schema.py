"""The read model's tables, in the ledger's own database (issue 5).

Everything here is derived from the log and can be dropped and rebuilt at any time
(`rsp-ledger projections rebuild`); nothing here is ever read by the verifier.

- `rsp_proj_tracking`: one row per projection: the seq of the last entry applied (eventsourcing's
  `Tracking.notification_id`, the log's own gapless sequence being its notification sequence), the
  projection's version and a token that changes on every write. Every write is a compare-and-set
  on (last_seq, token) in the same transaction as the rows it writes, so an entry is applied once.
- `rsp_proj_entries`: an index of the log — seq, time, statement id, type and *home* (the model an
  entry belongs to, or `*`) — from which a model's part of the log is selected.
- `rsp_proj_groups`: homes whose statements cite each other's (union-find; a home not listed is
  alone). A model's state depends only on the entries of its group and of the `*` group.
- `rsp_proj_models`, `rsp_proj_org`, `rsp_proj_safeguards`: the facts of `domain.state`, as JSON.
- `rsp_proj_verdicts`: the current verdict of every judged statement (SPEC §8's object).
- `rsp_proj_timeline`: the entries that changed each model's (or the organisation's) state.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

_BigInt = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

tracking = Table(
    "rsp_proj_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("last_seq", _BigInt, nullable=False),
    Column("last_recorded_at", String(40), nullable=True),
    Column("token", String(32), nullable=False),
)

entries = Table(
    "rsp_proj_entries",
    metadata,
    Column("seq", _BigInt, primary_key=True, autoincrement=False),
    Column("recorded_us", _BigInt, nullable=False, index=True),
    Column("statement_id", String(128), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("home", String(128), nullable=False),
    Index("ix_rsp_proj_entries_home_seq", "home", "seq"),
    # Every replay reads all registrations (lineage): without this, a scan of the whole index.
    Index("ix_rsp_proj_entries_type_seq", "type", "seq"),
)

groups = Table(
    "rsp_proj_groups",
    metadata,
    Column("home", String(128), primary_key=True),
    Column("grp", String(128), nullable=False, index=True),
)

models = Table(
    "rsp_proj_models",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("facts", Text, nullable=False),
)

org = Table(
    "rsp_proj_org",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("facts", Text, nullable=False),
)

safeguards = Table(
    "rsp_proj_safeguards",
    metadata,
    Column("seq", _BigInt, primary_key=True, autoincrement=False),
    Column("home", String(128), nullable=False),
    Column("expires_us", _BigInt, nullable=False),
    Column("facts", Text, nullable=False),
    Index("ix_rsp_proj_safeguards_home_expires", "home", "expires_us"),
)

verdicts = Table(
    "rsp_proj_verdicts",
    metadata,
    Column("seq", _BigInt, primary_key=True, autoincrement=False),
    Column("statement", String(128), nullable=False, unique=True),
    Column("home", String(128), nullable=False, index=True),
    Column("verdict", String(16), nullable=False),
    Column("body", Text, nullable=False),
)

timeline = Table(
    "rsp_proj_timeline",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("seq", _BigInt, primary_key=True, autoincrement=False),
    Column("recorded_at", String(40), nullable=False),
    Column("type", String(64), nullable=False),
    Column("statement", String(128), nullable=False),
    Column("policy", Text, nullable=True),
    Column("change", Text, nullable=False),
)

# Every table but tracking: what a rebuild replaces, in a safe order for deletes.
DATA_TABLES = (entries, groups, models, org, safeguards, verdicts, timeline)
