"""The ledger: accepts envelopes, orders them into entries, keeps the tree and checkpoints.

Invariants (SPEC §2, §3):
- `seq` runs 0, 1, 2… with no gaps: the next seq is read from the head row under the writers' lock
  (SQLite `BEGIN IMMEDIATE`, PostgreSQL `FOR UPDATE`), never from a database sequence;
- an append is one transaction: the entry (an eventsourcing stored event), its tree nodes, its
  statement index row, registry changes, details, the new head and the signed checkpoint commit
  together or not at all;
- `recorded_at` never decreases with `seq`;
- acceptance is decided by the same `Registry` rules the offline verifier replays.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, and_, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from domain.errors import AcceptanceError, VerificationError
from domain.ids import format_time, parse_time
from domain.registry import Registry, key_id_of
from domain.statements import (
    LedgerGenesis,
    cited_ids,
    statement_model,
)
from ledger import _registry_rows as registry_rows
from ledger import schema
from ledger._registry_rows import RegistryChanges
from ledger.db import WRITE, bound_value, insert_rows, is_sqlite, lock_schema, make_engine
from ledger.errors import (
    EnvelopeRefusedError,
    KeyFileError,
    LedgerStateError,
    NotFoundError,
    StatementConflictError,
    TimeError,
    UsageError,
)
from ledger.signatures import (
    PARALLEL_THRESHOLD,
    PendingChecks,
    SignatureStream,
    introduced_keys,
    start_checks,
)
from ledger.tree import (
    NodeKey,
    ProofRequestError,
    consistency_proof,
    inclusion_proof,
    nodes_completed_by_appends,
    root_at,
    verify_root_at,
)
from verify.details import Detail, DetailError, verify_detail
from verify.dsse import Envelope
from verify.entry import Entry, entry_bytes, parse_entry
from verify.keys import Signer, decode_public_key
from verify.merkle import EMPTY_ROOT, leaf_hash
from verify.note import (
    MAX_SIGNATURES,
    Checkpoint,
    Vkey,
    format_vkey,
    parse_checkpoint_body,
    parse_note,
    sign_checkpoint,
)
from verify.witness import select_cosignatures

if TYPE_CHECKING:
    from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder

MAX_WRITE_RETRIES = 20
# rsp_meta key: the tree size after the last batch that changed principals, roles or keys.
REGISTRY_VERSION = "registry_version"


@dataclass(frozen=True, slots=True)
class RecordedEntry:
    """What `submit` answers: the entry and whether it was already there (resubmission)."""

    seq: int
    recorded_at: datetime
    leaf_hash: bytes
    statement_id: str
    type: str
    existing: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "recorded_at": format_time(self.recorded_at),
            "leaf_hash": self.leaf_hash.hex(),
            "statement": self.statement_id,
            "type": self.type,
            "existing": self.existing,
        }


@dataclass(frozen=True, slots=True)
class Submission:
    envelope: Envelope
    detail: Detail | None = None


@dataclass(slots=True)
class _Batch:
    """State of one write transaction."""

    start_size: int
    size: int
    last_recorded_at: datetime | None
    registry: Registry
    leaves: list[bytes] = field(default_factory=list)
    nodes: dict[NodeKey, bytes] = field(default_factory=dict)
    vkey: str | None = None  # the ledger's current vkey, read under the lock
    note: str | None = None  # the checkpoint signed for `size` (set by `_finish`)
    new_statements: dict[str, tuple[int, str]] = field(default_factory=dict)
    # (seq, type) of recorded statements this batch names, read in one query up front.
    known: dict[str, tuple[int, str]] = field(default_factory=dict)
    looked_up: frozenset[str] = frozenset()
    events: list[tuple[int, str, bytes]] = field(default_factory=list)  # version, topic, state
    statement_rows: list[tuple[str, int, str, str | None]] = field(default_factory=list)
    detail_rows: list[dict[str, Any]] = field(default_factory=list)
    changes: RegistryChanges = field(default_factory=RegistryChanges)


def _named_ids(submissions: Sequence[Submission]) -> list[str]:
    """Every statement id a batch submits or cites (for one up-front lookup)."""
    ids: dict[str, None] = {}
    for sub in submissions:
        ids[sub.envelope.statement.id] = None
        for cited in cited_ids(sub.envelope.statement):
            ids[cited] = None
    return list(ids)


class _SqlNodeSource:
    """The stored perfect-subtree nodes (ledger/tree.py `NodeSource`) read in one query."""

    def __init__(
        self, conn: Connection, size: int, cache: dict[NodeKey, bytes] | None = None
    ) -> None:
        self._conn = conn
        self._size = size
        # Nodes read or written in this transaction: the right edge is read once per batch.
        self._cache = cache

    @property
    def tree_size(self) -> int:
        return self._size

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        if self._cache is not None:
            found = {k: self._cache[k] for k in keys if k in self._cache}
            missing = [k for k in keys if k not in found]
            if missing:
                fetched = self._read(missing)
                self._cache.update(fetched)
                found.update(fetched)
            return found
        return self._read(keys)

    def _read(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        return read_nodes(self._conn, keys)


def read_nodes(conn: Connection, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
    """The stored tree nodes of `keys`, in one query."""
    if not keys:
        return {}
    t = schema.tree_nodes
    by_level: dict[int, list[int]] = {}
    for level, idx in keys:
        by_level.setdefault(level, []).append(idx)
    # One equality-and-IN term per level: both engines answer it from the primary key
    # (SQLite does not use the index for a row-value IN list, and scans the table).
    where = or_(*(and_(t.c.level == lv, t.c.idx.in_(ix)) for lv, ix in by_level.items()))
    rows = conn.execute(select(t.c.level, t.c.idx, t.c.hash).where(where)).all()
    return {(int(lv), int(ix)): bytes(h) for lv, ix, h in rows}


@contextmanager
def gc_paused(pause: bool = True) -> Iterator[None]:
    """No cyclic garbage collection while a large batch is written.

    A batch import holds tens of thousands of parsed envelopes; every full collection walks all
    of them again, and together those walks cost as much as writing the entries. A batch makes
    no reference cycles worth collecting before it ends, so collection waits until then.
    """
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Ledger:
    """One ledger in one SQL database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str, *, signer: Signer | None = None) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self._signer = signer
        self._meta: dict[str, str] | None = None
        self._registry_cache: tuple[str, Registry] | None = None
        self._has_cosignatures_table = False
        # Public keys by key id, as read from rsp_keys: a key id is the hash of its key, so a
        # pair never goes stale (whether the key may sign is the registry's call, under the lock).
        self._public_keys: dict[str, bytes] = {}
        # (size, note) of the last checkpoint this process signed in a committed transaction.
        self._committed_note: tuple[int, str] | None = None

    @cached_property
    def recorder(self) -> SQLAlchemyApplicationRecorder:
        """eventsourcing's recorder of the entries, made on first use: importing
        eventsourcing-sqlalchemy (with sqlalchemy.orm and sqlalchemy_utils) costs a tenth of a
        second that commands answering from the projections or the head never need."""
        from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
        from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
        from sqlalchemy.orm import sessionmaker

        datastore = SQLAlchemyDatastore(session_maker=sessionmaker(bind=self.engine))
        return SQLAlchemyApplicationRecorder(datastore, events_table_name=schema.EVENTS_TABLE)

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exists(self) -> bool:
        return bool(inspect(self.engine).has_table("rsp_meta")) and self._read_meta() != {}

    def create_schema(self) -> None:
        """Idempotent: creates what is missing, checks the version of what is there.

        One transaction under the schema lock, so that processes and hosts creating it at once
        neither collide nor see a half-made schema (DDL is transactional on both engines).
        """
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            lock_schema(conn)
            for table in self.recorder.tables:
                table.create(conn, checkfirst=True)
            schema.metadata.create_all(conn, checkfirst=True)
            version = conn.execute(
                select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
            ).scalar()
            if version is None:
                conn.execute(
                    schema.meta.insert(),
                    [{"key": "schema_version", "value": str(schema.SCHEMA_VERSION)}],
                )
            elif int(version) != schema.SCHEMA_VERSION:
                raise LedgerStateError(
                    f"ledger schema version {version}, this rsp-ledger expects "
                    f"{schema.SCHEMA_VERSION}"
                )

    def _read_meta(self) -> dict[str, str]:
        if self._meta is None or "origin" not in self._meta:
            try:
                with self.engine.connect() as conn:
                    rows = conn.execute(select(schema.meta.c.key, schema.meta.c.value)).all()
            except (OperationalError, ProgrammingError):
                return {}  # no rsp_meta table: SQLite says OperationalError, PostgreSQL Programming
            self._meta = {k: v for k, v in rows}
        return self._meta

    def _require_initialised(self) -> dict[str, str]:
        meta = self._read_meta()
        if "origin" not in meta:
            raise LedgerStateError(
                f"no ledger at {self.display_url}: expected an initialised ledger "
                "(run `rsp-ledger init`)"
            )
        if int(meta["schema_version"]) != schema.SCHEMA_VERSION:
            raise LedgerStateError(
                f"ledger schema version {meta['schema_version']}, this rsp-ledger expects "
                f"{schema.SCHEMA_VERSION}"
            )
        return meta

    @property
    def display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def origin(self) -> str:
        return self._require_initialised()["origin"]

    @property
    def time_source(self) -> str:
        return self._require_initialised()["time_source"]

    @property
    def vkey(self) -> str:
        return self._require_initialised()["vkey"]

    def _current_signer(self, conn: Connection, origin: str, vkey: str | None = None) -> Signer:
        """The signer, checked in the caller's transaction against the ledger's current vkey: a
        process still holding a key retired by `ledger-key rotate` must not sign for the log."""
        signer = self._require_signer()
        current = vkey
        if current is None:
            current = conn.execute(
                select(schema.meta.c.value).where(schema.meta.c.key == "vkey")
            ).scalar()
        if current is not None and format_vkey(origin, signer.public_raw) != current:
            raise KeyFileError(
                f"the ledger key in use is not the ledger's current key {current}: "
                "it was rotated; use the new key file"
            )
        return signer

    def _require_signer(self) -> Signer:
        if self._signer is None:
            raise UsageError(
                "this command signs checkpoints: expected the ledger key "
                "(--ledger-key-file or $RSP_LEDGER_KEY_FILE)"
            )
        return self._signer

    # -- writing ----------------------------------------------------------------------------
    def initialize(
        self,
        genesis: Envelope,
        *,
        recorded_at: datetime | None = None,
        detail: Detail | None = None,
    ) -> RecordedEntry:
        """Create the ledger from a genesis envelope (entry 0)."""
        statement = genesis.statement
        if not isinstance(statement, LedgerGenesis):
            raise EnvelopeRefusedError(
                f"expected a ledger_genesis envelope, found {statement.type}",
                check="acceptance.genesis",
            )
        signer = self._require_signer()
        if self.exists() and "origin" in self._read_meta():
            raise LedgerStateError(
                f"{self.display_url} already holds a ledger (origin {self.origin}); "
                "a second genesis is refused"
            )
        if statement.time_source == "system" and recorded_at is not None:
            raise TimeError("--recorded-at is refused: the genesis says time_source system")
        if statement.time_source == "asserted" and recorded_at is None:
            raise UsageError("--recorded-at is required: the genesis says time_source asserted")
        self.create_schema()
        vkey = format_vkey(statement.origin, signer.public_raw)
        with self._write() as conn:
            if conn.execute(select(schema.head.c.size)).scalar() is not None:
                raise LedgerStateError("the ledger already has a genesis; a second one is refused")
            conn.execute(
                schema.head.insert(),
                [{"id": 1, "size": 0, "root": EMPTY_ROOT, "last_recorded_at": None}],
            )
            conn.execute(
                schema.meta.insert(),
                [
                    {"key": "origin", "value": statement.origin},
                    {"key": "time_source", "value": statement.time_source},
                    {"key": "vkey", "value": vkey},
                ],
            )
            self._meta = None
            batch = _Batch(0, 0, None, Registry())
            recorded = self._append(conn, batch, Submission(genesis, detail), recorded_at)
            self._finish(conn, batch, statement.origin)
        return recorded

    def submit(
        self,
        envelope: Envelope,
        *,
        detail: Detail | None = None,
        recorded_at: datetime | None = None,
    ) -> RecordedEntry:
        """Record one envelope, or refuse it and record nothing."""
        return self.submit_batch([Submission(envelope, detail)], recorded_at=recorded_at)[0]

    def submit_batch(
        self,
        submissions: Sequence[Submission],
        *,
        recorded_at: datetime | None = None,
        workers: int | None = None,
        checks: PendingChecks | None = None,
        on_appended: Callable[[list[RecordedEntry]], None] | None = None,
    ) -> list[RecordedEntry]:
        """Record all of the envelopes in order, in one transaction, or none of them.

        Signatures are verified in parallel for a large batch while the sequential acceptance
        rules run against the log as it stands under the lock. `checks` are ones already started
        for exactly these envelopes, in order (a `signature_stream` fed while the batch was
        parsed). `on_appended`, if given, is called with the would-be entries once they are
        written, before the signatures are awaited and the transaction commits: work that
        overlaps the checks (`submit --check` judges the entries there). It must not act on them
        unless `submit_batch` returns; if it raises, nothing is recorded.
        """
        meta = self._require_initialised()
        self._require_signer()
        self._check_time_source(meta, recorded_at)
        # Signatures are checked in worker processes while this process orders and writes the
        # entries; the outcome is read before the transaction commits (nothing commits unchecked).
        if checks is None:
            known_keys = self._public_keys_for(submissions)
            checks = start_checks([s.envelope for s in submissions], known_keys, workers=workers)
        elif checks.count != len(submissions):
            raise ValueError(
                f"checks for {checks.count} envelopes given with {len(submissions)} submissions"
            )
        with gc_paused(len(submissions) >= PARALLEL_THRESHOLD):
            try:
                for attempt in range(MAX_WRITE_RETRIES):
                    try:
                        return self._submit_locked(
                            submissions, recorded_at, meta["origin"], checks, on_appended
                        )
                    except IntegrityError as e:
                        # Another writer took the seq first (only without a head lock); retry.
                        if attempt == MAX_WRITE_RETRIES - 1:
                            raise LedgerStateError(
                                f"could not append after {attempt + 1} tries: {e}"
                            ) from e
            finally:
                checks.close()
        raise AssertionError("unreachable")

    @staticmethod
    def _raise_signature_failures(checks: PendingChecks, batch_size: int) -> None:
        for i, failure in enumerate(checks.wait()):
            if failure is not None:
                where = f"line {i + 1}: " if batch_size > 1 else ""
                raise EnvelopeRefusedError(
                    where + failure, check="acceptance.signature", line=i + 1
                )

    def _submit_locked(
        self,
        submissions: Sequence[Submission],
        recorded_at: datetime | None,
        origin: str,
        checks: PendingChecks,
        on_appended: Callable[[list[RecordedEntry]], None] | None = None,
    ) -> list[RecordedEntry]:
        out: list[RecordedEntry] = []
        with self._write() as conn:
            batch = self._open_batch(conn)
            named = _named_ids(submissions)
            batch.known = self._statement_rows(conn, named)
            batch.looked_up = frozenset(named)
            for i, sub in enumerate(submissions):
                try:
                    existing = self._existing(conn, batch, sub)
                    if existing is not None:
                        out.append(existing)
                        continue
                    out.append(self._append(conn, batch, sub, recorded_at))
                except EnvelopeRefusedError as e:
                    if len(submissions) > 1:
                        e.line = i + 1
                        raise EnvelopeRefusedError(
                            f"line {i + 1}: {e}", check=e.check, line=i + 1
                        ) from e
                    raise
            # The rows go in while the workers may still be checking; the ledger signs the new
            # checkpoint, and the transaction commits, only once every signature verified.
            if batch.new_statements:
                self._write_rows(conn, batch)
            if on_appended is not None:
                on_appended(out)
            self._raise_signature_failures(checks, len(submissions))
            if batch.new_statements:
                self._seal(conn, batch, origin)
        if batch.note is not None:  # committed
            self._committed_note = (batch.size, batch.note)
        return out

    def _check_time_source(self, meta: dict[str, str], recorded_at: datetime | None) -> None:
        if meta["time_source"] == "system" and recorded_at is not None:
            raise TimeError(
                "--recorded-at is refused: this ledger takes recorded_at from the system clock"
            )
        if meta["time_source"] == "asserted" and recorded_at is None:
            raise UsageError("--recorded-at is required: this ledger's time source is asserted")

    def signature_stream(self, *, workers: int | None = None) -> SignatureStream:
        """Signature checks to feed with a large batch while it is still being parsed (then pass
        `stream.checks` to `submit_batch`); it knows every key registered so far."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.keys.c.key_id, schema.keys.c.public_key)).all()
        known = self._public_keys
        for kid, pk in rows:
            if kid not in known:
                known[kid] = decode_public_key(pk)
        return SignatureStream(known, workers=workers)

    def _public_keys_for(self, submissions: Sequence[Submission]) -> dict[str, bytes]:
        """Public keys by key id: registered ones, plus any introduced by the batch itself.

        A key id is the hash of its public key, so a key found anywhere is the right key; whether
        it may sign at that seq is decided later, in order, by the registry.
        """
        wanted = {s.keyid for sub in submissions for s in sub.envelope.signatures}
        found: dict[str, bytes] = {}
        for sub in submissions:
            for pk in introduced_keys(sub.envelope.statement):
                found[key_id_of(pk)] = decode_public_key(pk)
        known = self._public_keys
        found.update((k, known[k]) for k in wanted if k not in found and k in known)
        missing = [k for k in wanted if k not in found]
        if missing:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(schema.keys.c.key_id, schema.keys.c.public_key).where(
                        schema.keys.c.key_id.in_(missing)
                    )
                ).all()
            for kid, pk in rows:
                found[kid] = known[kid] = decode_public_key(pk)
        return found

    def committed_checkpoint(self, size: int) -> str | None:
        """The checkpoint of `size` if it is the last one this process signed and committed (the
        service's receipts read it here instead of from the database)."""
        last = self._committed_note
        return last[1] if last is not None and last[0] == size else None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE), committed if the block ends normally."""
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            yield conn

    def _open_batch(self, conn: Connection) -> _Batch:
        row = conn.execute(
            select(schema.head.c.size, schema.head.c.root, schema.head.c.last_recorded_at)
            .where(schema.head.c.id == 1)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise LedgerStateError("the ledger has no head row: expected an initialised ledger")
        size, root, last = int(row[0]), bytes(row[1]), row[2]
        meta: dict[str, str] = {
            str(k): str(v)
            for k, v in conn.execute(
                select(schema.meta.c.key, schema.meta.c.value).where(
                    schema.meta.c.key.in_(("vkey", REGISTRY_VERSION))
                )
            )
        }
        batch = _Batch(
            size, size, parse_time(last) if last else None, Registry(), vkey=meta.get("vkey")
        )
        # Never extend (and sign over) a tree whose stored nodes no longer give the signed root.
        verify_root_at(_SqlNodeSource(conn, size, batch.nodes), size, root)
        batch.registry = self._registry(conn, meta.get(REGISTRY_VERSION))
        return batch

    def _registry(self, conn: Connection, version: str | None) -> Registry:
        """The registry, from this process's copy when no governance entry changed it since."""
        cached = self._registry_cache
        if version is not None and cached is not None and cached[0] == version:
            reg = cached[1]
        else:
            reg = registry_rows.load(conn)
            self._registry_cache = (version, reg) if version is not None else None
        # A copy: the batch applies its own entries, and may yet roll back.
        return Registry(reg.genesis, dict(reg.principals), dict(reg.keys))

    def _statement_rows(self, conn: Connection, ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        t = schema.statements
        out: dict[str, tuple[int, str]] = {}
        for i in range(0, len(ids), 500):
            rows = conn.execute(
                select(t.c.statement_id, t.c.seq, t.c.type).where(
                    t.c.statement_id.in_(ids[i : i + 500])
                )
            ).all()
            out.update((str(sid), (int(seq), str(kind))) for sid, seq, kind in rows)
        return out

    def _statement_row(self, conn: Connection, statement_id: str) -> tuple[int, str] | None:
        row = conn.execute(
            select(schema.statements.c.seq, schema.statements.c.type).where(
                schema.statements.c.statement_id == statement_id
            )
        ).one_or_none()
        return None if row is None else (int(row[0]), str(row[1]))

    def _existing(self, conn: Connection, batch: _Batch, sub: Submission) -> RecordedEntry | None:
        """SPEC §2 resubmission: the same envelope again is a no-op returning the entry."""
        sid = sub.envelope.statement.id
        known = batch.new_statements.get(sid) or batch.known.get(sid)
        if known is None:
            return None
        seq = known[0]
        stored = self._read_entry(conn, seq) if seq < self._committed_size(batch) else None
        if stored is None:
            raise StatementConflictError(
                f"statement id {sid!r} is already used in this batch", check="acceptance.unique_id"
            )
        if not sub.envelope.same_as(stored.envelope):
            raise StatementConflictError(
                f"statement id {sid!r} is already recorded at seq {seq} with a different envelope",
                check="acceptance.unique_id",
            )
        return RecordedEntry(
            seq,
            stored.recorded_at,
            leaf_hash(stored.leaf),
            sid,
            stored.envelope.statement.type,
            True,
        )

    @staticmethod
    def _committed_size(batch: _Batch) -> int:
        return batch.start_size

    def _recorded_at(self, batch: _Batch, asserted: datetime | None) -> datetime:
        if asserted is not None:
            if batch.last_recorded_at is not None and asserted < batch.last_recorded_at:
                raise TimeError(
                    f"--recorded-at {format_time(asserted)} goes backwards: expected at or after "
                    f"{format_time(batch.last_recorded_at)}"
                )
            return asserted
        now = datetime.now(UTC)
        if batch.last_recorded_at is not None and now < batch.last_recorded_at:
            return batch.last_recorded_at  # SPEC §3: never decreasing, whatever the clocks do
        return now

    def _append(
        self, conn: Connection, batch: _Batch, sub: Submission, asserted: datetime | None
    ) -> RecordedEntry:
        envelope = sub.envelope
        statement = envelope.statement
        seq = batch.size
        recorded_at = self._recorded_at(batch, asserted)

        def statement_type(sid: str) -> str | None:
            found = batch.new_statements.get(sid) or batch.known.get(sid)
            if found is None and sid not in batch.looked_up:
                found = self._statement_row(conn, sid)
            return None if found is None else found[1]

        try:
            batch.registry.check(
                statement,
                envelope.key_ids,
                seq=seq,
                recorded_at=recorded_at,
                statement_type=statement_type,
            )
        except AcceptanceError as e:
            raise EnvelopeRefusedError(str(e), check=e.check) from e
        if sub.detail is not None:
            if sub.detail.statement != statement.id:
                raise EnvelopeRefusedError(
                    f"details are for statement {sub.detail.statement!r}, expected {statement.id!r}",
                    check="acceptance.details",
                )
            try:
                verify_detail(sub.detail, statement.details_digest)
            except DetailError as e:
                raise EnvelopeRefusedError(str(e), check="acceptance.details") from e
        batch.registry.apply(statement, seq)
        batch.changes.note(batch.registry, statement)

        leaf = entry_bytes(seq, recorded_at, envelope)
        lh = leaf_hash(leaf)
        batch.events.append((seq, f"{schema.ENTRY_TOPIC}:{statement.type}", leaf))
        batch.leaves.append(lh)
        batch.statement_rows.append((statement.id, seq, statement.type, statement_model(statement)))
        if sub.detail is not None:
            batch.detail_rows.append(
                {
                    "statement_id": statement.id,
                    "salt": sub.detail.salt,
                    "details": sub.detail.details_jcs,
                }
            )
        batch.new_statements[statement.id] = (seq, statement.type)
        batch.size = seq + 1
        batch.last_recorded_at = recorded_at
        return RecordedEntry(seq, recorded_at, lh, statement.id, statement.type)

    def _insert_entries(self, conn: Connection, events: Sequence[tuple[int, str, bytes]]) -> None:
        """The entries into eventsourcing's events table, as the recorder's `insert_events`
        writes them (then its NOTIFY, so that its subscriptions and `select_notifications` see
        them alike), but by one executemany rather than one ORM object per event, which cost
        more than everything else an entry needs (issue 2).

        The recorder also takes `LOCK TABLE … IN EXCLUSIVE MODE` on PostgreSQL, so that
        notification ids commit in the order they were drawn. The head row's lock, held from
        `_open_batch` to the commit by the only writer of this table, already gives that order,
        so the second lock (one more round trip per transaction) is not taken."""
        table = self._events
        origin = bound_value(conn, table.c.originator_id, schema.LOG_ORIGINATOR)
        insert_rows(
            conn,
            table,
            ("originator_id", "originator_version", "topic", "state"),
            [(origin, version, topic, state) for version, topic, state in events],
        )
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"NOTIFY {self.recorder.channel_name}")

    def _finish(self, conn: Connection, batch: _Batch, origin: str) -> None:
        self._write_rows(conn, batch)
        self._seal(conn, batch, origin)

    def _write_rows(self, conn: Connection, batch: _Batch) -> None:
        """Persist the batch's entries, indexes, registry changes and tree nodes (in the
        caller's transaction)."""
        self._insert_entries(conn, batch.events)
        insert_rows(
            conn, schema.statements, ("statement_id", "seq", "type", "model"), batch.statement_rows
        )
        if batch.detail_rows:
            conn.execute(schema.details.insert(), batch.detail_rows)
        registry_rows.save(conn, batch.registry, batch.changes)
        source = _SqlNodeSource(conn, batch.start_size, batch.nodes)
        nodes = nodes_completed_by_appends(source, batch.start_size, batch.leaves)
        insert_rows(
            conn,
            schema.tree_nodes,
            ("level", "idx", "hash"),
            [(n.level, n.index, n.hash) for n in nodes],
        )
        batch.nodes.update((n.key, n.hash) for n in nodes)

    def _seal(self, conn: Connection, batch: _Batch, origin: str) -> None:
        """The new head and a signed checkpoint for the batch's size, over the rows that
        `_write_rows` put in (in the caller's transaction)."""
        root = root_at(_SqlNodeSource(conn, batch.size, batch.nodes), batch.size)
        if batch.changes:
            # Other writers reload the registry when this changes (see `_registry`).
            conn.execute(schema.meta.delete().where(schema.meta.c.key == REGISTRY_VERSION))
            conn.execute(
                schema.meta.insert(), [{"key": REGISTRY_VERSION, "value": str(batch.size)}]
            )
        conn.execute(
            update(schema.head)
            .where(schema.head.c.id == 1)
            .values(
                size=batch.size,
                root=root,
                last_recorded_at=format_time(batch.last_recorded_at)
                if batch.last_recorded_at
                else None,
            )
        )
        note = sign_checkpoint(
            Checkpoint(origin, batch.size, root),
            origin,
            self._current_signer(conn, origin, batch.vkey),
        )
        conn.execute(
            schema.checkpoints.insert(), [{"size": batch.size, "root": root, "note": note}]
        )
        batch.note = note

    # -- reading ----------------------------------------------------------------------------
    def size(self) -> int:
        self._require_initialised()
        with self.engine.connect() as conn:
            value = conn.execute(select(schema.head.c.size)).scalar()
        return int(value or 0)

    def _read_entry(self, conn: Connection, seq: int) -> Entry | None:
        rows = self._leaf_rows(conn, self._events.c.originator_version == seq)
        return self._parse_stored(seq, rows[0][1]) if rows else None

    @property
    def _events(self) -> Any:
        """eventsourcing's stored-events table, where the entries are (schema.py)."""
        return self.recorder.events_record_cls.__table__

    def _leaf_rows(self, conn: Connection, which: Any) -> list[tuple[int, bytes]]:
        t = self._events
        rows = conn.execute(
            select(t.c.originator_version, t.c.state)
            .where(t.c.originator_id == schema.LOG_ORIGINATOR, which)
            .order_by(t.c.originator_version)
        ).all()
        return [(int(seq), bytes(state)) for seq, state in rows]

    def leaves_between(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        """(seq, exact leaf bytes) of the stored entries in [start, stop), in one read of the
        events table (Core rows, not eventsourcing's objects: `raw_entries` is the recorder's
        path). Only what is there: a caller that needs every seq checks for gaps."""
        with self.engine.connect() as conn:
            return self._leaf_rows(conn, self._events.c.originator_version.between(start, stop - 1))

    def leaves_at(self, seqs: Sequence[int]) -> list[tuple[int, bytes]]:
        """(seq, exact leaf bytes) of the stored entries at `seqs`, in seq order, in one read."""
        with self.engine.connect() as conn:
            return self._leaf_rows(conn, self._events.c.originator_version.in_(list(seqs)))

    @staticmethod
    def _parse_stored(seq: int, leaf: bytes) -> Entry:
        try:
            entry = parse_entry(leaf)
        except VerificationError as e:
            raise LedgerStateError(f"stored entry {seq} is corrupted: {e}") from e
        if entry.seq != seq:
            raise LedgerStateError(f"stored entry at seq {seq} says seq {entry.seq}: corrupted")
        return entry

    def entry(self, seq: int) -> Entry:
        size = self.size()
        if not 0 <= seq < size:
            raise NotFoundError(f"no entry {seq}: expected a seq from 0 to {size - 1}")
        with self.engine.connect() as conn:
            found = self._read_entry(conn, seq)
        if found is None:
            raise LedgerStateError(f"entry {seq} is missing below the head {size}: corrupted")
        return found

    def raw_entries(
        self, start: int = 0, stop: int | None = None, page: int = 1000
    ) -> Iterator[bytes]:
        """Exact leaf bytes of entries [start, stop), streamed page by page."""
        end = self.size() if stop is None else stop
        seq = start
        while seq < end:
            events = self.recorder.select_events(
                schema.LOG_ORIGINATOR, gt=seq - 1, lte=end - 1, limit=min(page, end - seq)
            )
            if not events:
                raise LedgerStateError(f"entry {seq} is missing below the head {end}: corrupted")
            for ev in events:
                if ev.originator_version != seq:
                    raise LedgerStateError(
                        f"entry {seq} is missing (found {ev.originator_version})"
                    )
                yield ev.state
                seq += 1

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        for offset, leaf in enumerate(self.raw_entries(start, stop)):
            yield self._parse_stored(start + offset, leaf)

    def statement_entry(self, statement_id: str) -> Entry:
        self._require_initialised()
        with self.engine.connect() as conn:
            row = self._statement_row(conn, statement_id)
        if row is None:
            raise NotFoundError(f"no statement {statement_id!r} in this ledger")
        return self.entry(row[0])

    def detail(self, statement_id: str) -> Detail | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.details.c.salt, schema.details.c.details).where(
                    schema.details.c.statement_id == statement_id
                )
            ).one_or_none()
        if row is None:
            return None
        details_jcs = bytes(row[1])
        return Detail(statement_id, bytes(row[0]), json.loads(details_jcs), details_jcs)

    def erase_detail(self, statement_id: str) -> bool:
        """Erase a statement's details (SPEC §7, a legal erasure duty, say): the salted details
        live outside the hashed log, so every entry, root and proof stays as it was; exports
        from now on are `redacted`. True when there was a detail to erase."""
        with self.engine.connect() as conn, conn.begin():
            result = conn.execute(
                schema.details.delete().where(schema.details.c.statement_id == statement_id)
            )
        return bool(result.rowcount)

    # -- checkpoints and proofs -------------------------------------------------------------
    def _check_size(self, size: int | None, what: str) -> int:
        current = self.size()
        if size is None:
            return current
        if not 0 < size <= current:
            raise ProofRequestError(
                f"{what}: expected a tree size from 1 to {current} (the ledger's size), found {size}"
            )
        return size

    def checkpoint(self, size: int | None = None) -> str:
        """The signed checkpoint (C2SP signed note) of the tree at `size` (default: the latest).

        Sizes in the middle of a batch have no stored checkpoint yet; one is signed on demand,
        after the stored nodes are checked against the checkpoints around it.
        """
        n = self._check_size(size, "checkpoint")
        with self.engine.connect() as conn:
            note = conn.execute(
                select(schema.checkpoints.c.note).where(schema.checkpoints.c.size == n)
            ).scalar()
        signed = str(note) if note is not None else self._sign_past_checkpoint(n)
        # Witness cosignatures stored for this size are extra signature lines of the same note,
        # so exports and proofs carry them (SPEC §6 `checkpoint`; docs/witnesses.md).
        return signed + "".join(self._cosignature_lines(n))

    def _cosignature_lines(self, size: int) -> list[str]:
        c = schema.cosignatures
        with self.engine.connect() as conn:
            if not self._has_cosignatures_table:
                # A ledger created before the table existed gains it on its first cosignature.
                self._has_cosignatures_table = inspect(conn).has_table(c.name)
                if not self._has_cosignatures_table:
                    return []
            rows = conn.execute(select(c.c.line).where(c.c.size == size).order_by(c.c.witness))
            return [str(line) for (line,) in rows]

    def add_cosignatures(
        self, size: int, cosigned_note: str, witnesses: Sequence[Vkey]
    ) -> tuple[str, ...]:
        """Store the cosignatures that `witnesses` made in `cosigned_note`, a note over the text
        of this ledger's checkpoint at `size`; returns the labels of the witnesses added.

        Every stored line verifies over the checkpoint (`select_cosignatures`); lines of other
        keys are ignored; a witness already stored at this size keeps its first line.
        """
        n = self._check_size(size, "cosignatures")
        base = self.checkpoint(n)  # signs the past checkpoint first if it has none yet
        text = parse_note(base).text
        chosen = select_cosignatures(text, cosigned_note, witnesses)
        self.create_schema()  # adds rsp_cosignatures to a ledger made before it existed
        self._has_cosignatures_table = True
        c = schema.cosignatures
        added: list[str] = []
        with self._write() as conn:
            # Under the head lock, so that two writers cannot both pass the count below.
            conn.execute(select(schema.head.c.id).where(schema.head.c.id == 1).with_for_update())
            stored = {str(w) for (w,) in conn.execute(select(c.c.witness).where(c.c.size == n))}
            room = MAX_SIGNATURES - 1 - len(stored)  # one line is the ledger's own signature
            for sig in chosen:
                if sig.label in stored:
                    continue
                if len(sig.label) > schema.WITNESS_LABEL_MAX:
                    raise UsageError(
                        f"witness {sig.label[:40]}…: expected a key name of at most "
                        f"{schema.WITNESS_LABEL_MAX - 9} characters"
                    )
                if room <= 0:
                    raise LedgerStateError(
                        f"checkpoint {n}: expected at most {MAX_SIGNATURES - 1} cosignatures "
                        f"(signed-note allows {MAX_SIGNATURES} lines), found no room for "
                        f"{sig.label}"
                    )
                conn.execute(c.insert(), [{"size": n, "witness": sig.label, "line": sig.line}])
                stored.add(sig.label)
                added.append(sig.label)
                room -= 1
        return tuple(added)

    def _sign_past_checkpoint(self, size: int) -> str:
        self._require_signer()  # refuse early, before taking the writers' lock
        origin = self.origin
        with self._write() as conn:
            c = schema.checkpoints
            # Under the head lock (PostgreSQL; SQLite's BEGIN IMMEDIATE excludes the others), so
            # that two readers signing the same past size do not both insert it.
            conn.execute(select(schema.head.c.id).where(schema.head.c.id == 1).with_for_update())
            note = conn.execute(select(c.c.note).where(c.c.size == size)).scalar()
            if note is not None:
                return str(note)
            later = conn.execute(
                select(c.c.size, c.c.root).where(c.c.size > size).order_by(c.c.size).limit(1)
            ).one()
            later_size, later_root = int(later[0]), bytes(later[1])
            source = _SqlNodeSource(conn, later_size)
            root = root_at(source, size)
            # The new root must be a prefix of a tree already signed: never sign a corrupted node.
            consistency_proof(source, size, later_size, old_root=root, new_root=later_root)
            earlier = conn.execute(
                select(c.c.size, c.c.root).where(c.c.size < size).order_by(c.c.size.desc()).limit(1)
            ).one_or_none()
            if earlier is not None:
                consistency_proof(
                    source, int(earlier[0]), size, old_root=bytes(earlier[1]), new_root=root
                )
            note = sign_checkpoint(
                Checkpoint(origin, size, root), origin, self._current_signer(conn, origin)
            )
            conn.execute(c.insert(), [{"size": size, "root": root, "note": note}])
        return str(note)

    def signed_root(self, size: int) -> bytes:
        """The root of the checkpoint at `size`, signing one if that size has none yet."""
        return parse_checkpoint_body(parse_note(self.checkpoint(size)).text).root

    def inclusion_proof(self, seq: int, size: int | None = None) -> tuple[list[bytes], str]:
        """(proof, checkpoint note) for entry `seq` in the tree of `size` (default: latest)."""
        n = self._check_size(size, "inclusion proof")
        if not 0 <= seq < n:
            raise ProofRequestError(
                f"inclusion proof: expected a seq from 0 to {n - 1} for a tree of {n}, found {seq}"
            )
        note = self.checkpoint(n)
        root = self.signed_root(n)
        with self.engine.connect() as conn:
            proof = inclusion_proof(_SqlNodeSource(conn, n), seq, n, root=root)
        return proof, note

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        n = self._check_size(new, "consistency proof")
        if not 0 < old <= n:
            raise ProofRequestError(
                f"consistency proof: expected an old size from 1 to {n}, found {old}"
            )
        old_root, new_root = self.signed_root(old), self.signed_root(n)
        with self.engine.connect() as conn:
            return consistency_proof(
                _SqlNodeSource(conn, n), old, n, old_root=old_root, new_root=new_root
            )

    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)
