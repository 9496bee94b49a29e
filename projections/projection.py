"""The per-model ASL state read model (issue 5): kept in the ledger's database, following the log.

`StateProjection(engine, source)` reads the log through an `EntrySource` and keeps the tables of
`projections.schema` up to date:

- `catch_up()` applies the entries after its position. It indexes the new entries, works out
  which homes' rows they change (`relevance.affected_homes`), replays only those homes' part of the
  log (`relevance.replay_homes`) through a `domain.state.StateTracker` — the same compliance engine
  as the verifier — and replaces those homes' rows, in one transaction with a compare-and-set of
  the tracking row. A crash before the commit leaves the old rows and the old position: the next
  catch-up (on the next read, or the next start) does the work again. A runner that loses the
  compare-and-set to another writes nothing (no entry is ever applied twice) and starts over from
  the new position.
- `rebuild()` drops the tables and builds them from the whole log, in one transaction; on a big
  log the replay runs in worker processes, each with its share of the models
  (`projections.parallel`), and writes the same rows.
- `status(...)` reads the tables; `status_as_of(...)` replays the log up to a past time — the
  model's part of it only, when a model is named — and never reads stored state.
- following the log live is `projections.follower`'s: a warm follower that holds the state in
  memory and writes only what each new entry changes.

Invariants:
- the rows of every home are exactly what a replay of the whole log up to the tracked position
  gives for that home (tests/integration/test_projections.py checks this against fresh rebuilds
  and the compliance engine, over random histories);
- the tracking row, the index rows and the state rows change together or not at all.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Index,
    Table,
    delete,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from domain.compliance.kept import DEFAULT_WINDOW
from domain.ids import format_time, parse_time
from domain.log import LogRecord
from domain.state import (
    ORG,
    Position,
    StateTracker,
    TimelineEvent,
)

from . import parallel, reading
from . import schema as S
from .bulk import bulk_load, chunks
from .errors import ProjectionError, TrackingConflictError
from .relevance import (
    Groups,
    IndexedEntry,
    affected_homes,
    cited_targets,
    index_entry,
    replay_homes,
)
from .replayed import IndexColumns, Replayed
from .rows import (
    SAFEGUARDS_COLUMNS,
    TIMELINE_COLUMNS,
    VERDICT_COLUMNS,
    Rows,
    all_safeguards_values,
    all_verdict_values,
    dumps,
    rows_of,
    timeline_values,
)
from .source import EntrySource, record_of

PROJECTION_NAME = "asl-state"
# Bump when the rows' meaning changes: a projection of another version is rebuilt on catch-up.
PROJECTION_VERSION = 1
PAGE = 2000
# Timeline events a rebuild holds before it writes them to its staging table.
STAGE_EVENTS = 20_000
TIMELINE_STAGING = "rsp_proj_timeline_staging"
# Where a replay in worker processes stages the log's index as worker 0 sends it.
ENTRIES_STAGING = "rsp_proj_entries_staging"
MAX_CONFLICT_RETRIES = 20
CREATE_RETRIES = 40


@dataclass(frozen=True, slots=True)
class Tracked:
    """The tracking row: eventsourcing's `Tracking(application_name, notification_id)`, the
    notification id being the seq of the last entry applied."""

    last_seq: int
    last_recorded_at: datetime | None
    version: int
    token: str

    @property
    def position(self) -> Position:
        return Position(self.last_seq, self.last_recorded_at)


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What one catch-up did: entries [first_seq, last_seq] applied, by which kind of replay."""

    mode: str  # "none", "incremental" or "full"
    first_seq: int
    last_seq: int
    replayed: int  # entries read through the engine
    homes: int | None  # homes whose rows were replaced (None: all)
    conflicts: int = 0

    @property
    def applied(self) -> int:
        return max(0, self.last_seq - self.first_seq + 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "applied": self.applied,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "replayed": self.replayed,
            "homes": self.homes,
            "conflicts": self.conflicts,
        }


@dataclass(frozen=True, slots=True)
class Lag:
    name: str
    version: int | None
    log_size: int
    position: int  # last seq applied, −1 when nothing is

    @property
    def lag(self) -> int:
        return self.log_size - 1 - self.position

    def to_json(self) -> dict[str, Any]:
        return {
            "projection": self.name,
            "version": self.version,
            "expected_version": PROJECTION_VERSION,
            "log_size": self.log_size,
            "position": self.position,
            "lag": self.lag,
            "caught_up": self.lag == 0 and self.version == PROJECTION_VERSION,
        }


class StateProjection:
    """The per-model ASL state of one ledger, in that ledger's database."""

    def __init__(
        self,
        engine: Engine,
        source: EntrySource,
        *,
        name: str = PROJECTION_NAME,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        """`window`: how many of the latest records a replay keeps whole (older ones compact,
        so that a rebuild of a million entries stays small; tests set 0 to compact all)."""
        self.engine = engine
        self.source = source
        self.name = name
        self.window = window
        # Checked once per object: a runner that outlives a manual DROP TABLE fails loudly.
        self._created = False
        # How the last full replay ran (how many processes; why not several).
        self.last_replay = parallel.Replay(workers=1)

    # -- tables and tracking -----------------------------------------------------------------
    def create(self) -> None:
        """Create the tables, and the indexes of existing tables, that are missing (an index
        added since the tables were made needs no rebuild). Several runners may start at once:
        creating a table is a write that SQLite cannot wait for inside a read transaction, and
        two PostgreSQL sessions may race on the catalogue, so a failed attempt is retried once
        the other runner is done (and then finds the tables there)."""
        if self._created:
            return
        for attempt in range(CREATE_RETRIES):
            tables, indexes = self._missing()
            if not tables and not indexes:
                self._created = True
                return
            try:
                with self.engine.begin() as conn:
                    S.metadata.create_all(conn, tables=tables, checkfirst=True)
                    for index in indexes:
                        index.create(conn, checkfirst=True)
                self._created = True
                return
            except DBAPIError:
                if attempt == CREATE_RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _missing(self) -> tuple[list[Table], list[Index]]:
        """The projection's tables that do not exist, and the indexes missing from those that do."""
        found = inspect(self.engine)
        names = set(found.get_table_names())
        tables = [t for t in S.metadata.sorted_tables if t.name not in names]
        indexes: list[Index] = []
        for t in S.metadata.sorted_tables:
            if t.name in names and t.indexes:
                have = {i["name"] for i in found.get_indexes(t.name)}
                indexes.extend(i for i in t.indexes if i.name not in have)
        return tables, indexes

    def _tracked(self, conn: Connection) -> Tracked | None:
        t = S.tracking
        row = conn.execute(
            select(t.c.last_seq, t.c.last_recorded_at, t.c.version, t.c.token).where(
                t.c.name == self.name
            )
        ).one_or_none()
        if row is None:
            return None
        last = row[1]
        return Tracked(int(row[0]), parse_time(last) if last else None, int(row[2]), str(row[3]))

    def tracked(self) -> Tracked | None:
        self.create()
        with self.engine.connect() as conn:
            return self._tracked(conn)

    def _advance(
        self,
        conn: Connection,
        expect: Tracked | None,
        last_seq: int,
        last_recorded_at: datetime | None,
        *,
        force: bool = False,
    ) -> None:
        """Compare-and-set the tracking row; the first statement of every write transaction."""
        t = S.tracking
        values = {
            "version": PROJECTION_VERSION,
            "last_seq": last_seq,
            "last_recorded_at": format_time(last_recorded_at) if last_recorded_at else None,
            "token": uuid.uuid4().hex,
        }
        if force:
            conn.execute(delete(t).where(t.c.name == self.name))
            conn.execute(insert(t).values(name=self.name, **values))
            return
        if expect is None:
            try:
                conn.execute(insert(t).values(name=self.name, **values))
            except IntegrityError as e:
                raise TrackingConflictError(
                    f"projection {self.name!r}: another runner created its tracking row first"
                ) from e
            return
        result = conn.execute(
            update(t)
            .where(
                t.c.name == self.name,
                t.c.last_seq == expect.last_seq,
                t.c.token == expect.token,
            )
            .values(**values)
        )
        if result.rowcount != 1:
            raise TrackingConflictError(
                f"projection {self.name!r}: expected to apply entries after seq "
                f"{expect.last_seq}, but another runner applied entries first"
            )

    def lag(self) -> Lag:
        tracked = self.tracked()
        return Lag(
            self.name,
            tracked.version if tracked else None,
            self.source.size(),
            tracked.last_seq if tracked else -1,
        )

    # -- reading the log ---------------------------------------------------------------------
    def _records(self, start: int, stop: int) -> Iterator[LogRecord]:
        seq = start
        for page_start in range(start, stop, PAGE):
            for leaf in self.source.leaves(page_start, min(stop, page_start + PAGE)):
                yield record_of(leaf, seq)
                seq += 1
        if seq != stop:
            raise ProjectionError(
                f"the log gave entries {start}…{seq - 1}, expected up to {stop - 1}"
            )

    def _records_at(self, seqs: Sequence[int]) -> Iterator[LogRecord]:
        for chunk in chunks(seqs, PAGE):
            leaves = list(self.source.leaves_at(chunk))
            if len(leaves) != len(chunk):
                raise ProjectionError(
                    f"the log gave {len(leaves)} of {len(chunk)} entries asked for"
                )
            for seq, leaf in zip(chunk, leaves, strict=True):
                yield record_of(leaf, seq)

    def record_at(self, seq: int) -> LogRecord:
        """The entry at `seq`, whole: a tracker reads an old finding or attestation back through
        this when a new determination cites it (domain/state/tracker.py)."""
        (record,) = self._records_at([seq])
        return record

    def tracker(self, *, timeline_for: Container[str] | None = None) -> StateTracker:
        """A fresh tracker that reads old cited records back from this log."""
        return StateTracker(timeline_for=timeline_for, whole=self.record_at, window=self.window)

    def _replay_seqs(self, conn: Connection, homes: set[str], upto: int) -> list[int]:
        e = S.entries
        seqs: set[int] = set()
        home_list = sorted(homes)
        for chunk in chunks(home_list):
            seqs.update(
                int(s)
                for (s,) in conn.execute(
                    select(e.c.seq).where(e.c.home.in_(chunk), e.c.seq <= upto)
                )
            )
        seqs.update(
            int(s)
            for (s,) in conn.execute(
                select(e.c.seq).where(e.c.type == "model_registered", e.c.seq <= upto)
            )
        )
        return sorted(seqs)

    def _groups(self, conn: Connection) -> Groups:
        g = S.groups
        return Groups((str(h), str(r)) for h, r in conn.execute(select(g.c.home, g.c.grp)))

    # -- catching up -------------------------------------------------------------------------
    def catch_up(self, *, max_entries: int | None = None) -> CatchUp:
        """Apply the entries after the tracked position; retried when another runner wins."""
        self.create()
        conflicts = 0
        while True:
            try:
                result = self._catch_up_once(max_entries)
            except TrackingConflictError:
                conflicts += 1
                if conflicts >= MAX_CONFLICT_RETRIES:
                    raise
                continue
            if conflicts:
                result = CatchUp(
                    result.mode,
                    result.first_seq,
                    result.last_seq,
                    result.replayed,
                    result.homes,
                    conflicts,
                )
            return result

    def _catch_up_once(self, max_entries: int | None) -> CatchUp:
        with self.engine.connect() as conn:
            tracked = self._tracked(conn)
        if tracked is None or tracked.version != PROJECTION_VERSION:
            return self._replace_all(tracked, drop=False)
        size = self.source.size()
        start = tracked.last_seq + 1
        if start >= size:
            return CatchUp("none", start, tracked.last_seq, 0, 0)
        stop = size if max_entries is None else min(size, start + max_entries)
        new = list(self._records(start, stop))
        with self.engine.connect() as conn:
            groups = self._groups(conn)
            homes = self._homes_of(conn, cited_targets(new))
            indexed = [(r, index_entry(r, homes, groups)) for r in new]
            affected = affected_homes(indexed, groups)
            if affected is None:
                replay: list[int] = []
            else:
                replay = self._replay_seqs(conn, replay_homes(affected, groups), start - 1)
        if affected is None:
            return self._replace_all(tracked, drop=False, stop=stop)
        tracker = self.tracker(timeline_for=affected)
        replayed = 0
        with bulk_load():
            for record in self._records_at(replay):
                tracker.add(record)
                replayed += 1
            for record in new:
                tracker.add(record)
            if tracker.has_duties:
                # Time moved on: a duty may now be missed by any model, whose verdicts show it.
                # (In one process: the workers would find the same duties and stop.)
                return self._replace_all(tracked, drop=False, stop=stop, workers=1)
            rows = rows_of(tracker, affected)
        last = new[-1]
        with self.engine.begin() as conn:
            self._advance(conn, tracked, last.seq, last.recorded_at)
            self._insert(conn, S.entries, [e.row() for _, e in indexed])
            changed = groups.rows(groups.changed)
            if changed:
                g = S.groups
                for chunk in chunks([r["home"] for r in changed]):
                    conn.execute(delete(g).where(g.c.home.in_(chunk)))
                self._insert(conn, g, changed)
            self._replace_homes(conn, affected, rows)
        return CatchUp("incremental", start, last.seq, replayed + len(new), len(affected))

    def _homes_of(self, conn: Connection, statement_ids: Iterable[str]) -> dict[str, str]:
        e = S.entries
        found: dict[str, str] = {}
        for chunk in chunks(sorted(statement_ids)):
            found.update(
                (str(sid), str(home))
                for sid, home in conn.execute(
                    select(e.c.statement_id, e.c.home).where(e.c.statement_id.in_(chunk))
                )
            )
        return found

    @staticmethod
    def _insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert many rows with the driver's executemany: a rebuild writes millions, and
        building each row's parameters through SQLAlchemy costs more than the insert."""
        if not rows:
            return
        columns = list(rows[0])
        StateProjection._insert_values(
            conn, table, columns, (tuple(r[c] for c in columns) for r in rows)
        )

    @staticmethod
    def _insert_values(
        conn: Connection,
        table: Table | str,
        columns: Sequence[str],
        values: Iterable[tuple[Any, ...]],
    ) -> None:
        """Insert rows given as tuples of `columns`, 5,000 at a time: a rebuild's million index
        rows are never all built at once."""
        names = ", ".join(columns)
        marks = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * len(columns))
        name = table if isinstance(table, str) else table.name
        sql = f"INSERT INTO {name} ({names}) VALUES ({marks})"
        batch: list[tuple[Any, ...]] = []
        for v in values:
            batch.append(v)
            if len(batch) == 5000:
                conn.exec_driver_sql(sql, batch)
                batch = []
        if batch:
            conn.exec_driver_sql(sql, batch)

    def _replace_homes(self, conn: Connection, homes: set[str], rows: Rows) -> None:
        keys = sorted(homes)
        for chunk in chunks(keys):
            conn.execute(delete(S.models).where(S.models.c.model.in_(chunk)))
            conn.execute(delete(S.safeguards).where(S.safeguards.c.home.in_(chunk)))
            conn.execute(delete(S.verdicts).where(S.verdicts.c.home.in_(chunk)))
            conn.execute(delete(S.timeline).where(S.timeline.c.key.in_(chunk)))
        if ORG in homes:
            conn.execute(delete(S.org))
        self._insert_rows(conn, rows)

    def _insert_rows(self, conn: Connection, rows: Rows) -> None:
        self._insert(conn, S.models, rows.models)
        self._insert(conn, S.org, rows.org)
        self._insert(conn, S.safeguards, rows.safeguards)
        self._insert(conn, S.verdicts, rows.verdicts)
        self._insert(conn, S.timeline, rows.timeline)

    # -- rebuilding --------------------------------------------------------------------------
    def rebuild(self, *, workers: int | None = None) -> CatchUp:
        """Drop the tables and build them again from the whole log.

        `workers`: how many processes replay the log (`projections.parallel`); None chooses by
        the log's size and the cores this process may use, 1 replays in this process."""
        self._created = False  # whatever happened to them, look again
        self.create()
        with self.engine.connect() as conn:
            tracked = self._tracked(conn)
        return self._replace_all(tracked, drop=True, workers=workers)

    def _replace_all(
        self,
        tracked: Tracked | None,
        *,
        drop: bool,
        stop: int | None = None,
        workers: int | None = None,
    ) -> CatchUp:
        end = self.source.size() if stop is None else stop
        count = parallel.workers_for(end) if workers is None else workers
        self.last_replay = parallel.Replay(workers=1)
        # The collector stays paused while the rows are written too: they are made one at a
        # time (verdicts, safeguards), never all held at once. The timeline (an event per
        # entry, with its text) goes to a temporary table of this connection as the replay
        # makes it, STAGE_EVENTS at a time: a temporary table is the session's own (SQLite
        # keeps it out of the ledger's file and its write lock; two runners never see each
        # other's), and is copied into the projection's in the one write transaction.
        with bulk_load(), self.engine.connect() as conn:
            replayed: Replayed | None = None
            if count > 1:
                self._stage_timeline(conn)
                replayed = parallel.replay(self, conn, end, count)
            if replayed is None:
                # One process (or a history the shards cannot replay exactly, whose staged
                # rows are dropped: `last_replay` says why).
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {ENTRIES_STAGING}")
                self._stage_timeline(conn)
                replayed = self._replay_here(conn, end)
            try:
                self._write_all(conn, tracked, drop, end, replayed)
            finally:
                replayed.close()
        first = tracked.last_seq + 1 if tracked is not None and not drop else 0
        return CatchUp("full", first, end - 1, end, None)

    def _replay_here(self, conn: Connection, end: int) -> Replayed:
        """Replay entries [0, end) through one tracker in this process."""
        # The timeline events are not kept by the tracker but staged as they come.
        tracker = self.tracker(timeline_for=())
        groups = Groups()
        homes: dict[str, str] = {}
        index = IndexColumns()
        last: LogRecord | None = None
        pending: list[TimelineEvent] = []
        for record in self._records(0, end):
            index.add(index_entry(record, homes, groups))
            pending.extend(tracker.add(record).events)
            last = record
            if len(pending) >= STAGE_EVENTS:
                self._stage_timeline(conn, map(timeline_values, pending))
                pending = []
        self._stage_timeline(conn, map(timeline_values, pending))
        del homes, pending
        return Replayed(
            at=last.recorded_at if last else None,
            index=index,
            groups=groups.rows(groups.changed),
            rows=rows_of(tracker, None, verdicts=False, timeline=False, safeguards=False),
            safeguards=all_safeguards_values(tracker),
            verdicts=all_verdict_values(tracker),
        )

    def _write_all(
        self,
        conn: Connection,
        tracked: Tracked | None,
        drop: bool,
        end: int,
        replayed: Replayed,
    ) -> None:
        """Replace every row with a replay's, in one transaction, and drop the staging table."""
        with conn.begin():
            if drop:
                S.metadata.drop_all(conn)
                S.metadata.create_all(conn)
                self._advance(conn, None, end - 1, replayed.at, force=True)
            else:
                self._advance(conn, tracked, end - 1, replayed.at)
                for table in S.DATA_TABLES:
                    conn.execute(delete(table))
            index = replayed.index
            if index is not None:
                self._insert_values(conn, S.entries, IndexedEntry._fields, index.values())
                index.clear()
            else:
                names = ", ".join(IndexedEntry._fields)
                conn.exec_driver_sql(
                    f"INSERT INTO {S.entries.name} ({names}) "
                    f"SELECT {names} FROM {ENTRIES_STAGING} ORDER BY seq"
                )
            # The staged timeline before the rows that are made as they are written (in
            # worker processes, they make them meanwhile).
            names = ", ".join(TIMELINE_COLUMNS)
            conn.exec_driver_sql(
                f"INSERT INTO {S.timeline.name} ({names}) "
                f"SELECT {names} FROM {TIMELINE_STAGING} ORDER BY key, seq"
            )
            self._insert(conn, S.groups, replayed.groups)
            self._insert_rows(conn, replayed.rows)
            self._insert_values(conn, S.safeguards, SAFEGUARDS_COLUMNS, replayed.safeguards)
            self._insert_values(conn, S.verdicts, VERDICT_COLUMNS, replayed.verdicts)
        conn.exec_driver_sql(f"DROP TABLE {TIMELINE_STAGING}")
        if index is None:
            conn.exec_driver_sql(f"DROP TABLE {ENTRIES_STAGING}")
        conn.commit()

    def _stage_index(
        self, conn: Connection, values: Iterable[tuple[Any, ...]] | None = None
    ) -> None:
        """As `_stage_timeline`, for rows of the log's index (`IndexedEntry._fields`)."""
        if values is None:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {ENTRIES_STAGING}")
            conn.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {ENTRIES_STAGING} (seq BIGINT, recorded_us BIGINT, "
                "statement_id VARCHAR(128), type VARCHAR(64), home VARCHAR(128))"
            )
        else:
            self._insert_values(conn, ENTRIES_STAGING, IndexedEntry._fields, values)
        conn.commit()

    def _stage_timeline(
        self, conn: Connection, values: Iterable[tuple[Any, ...]] | None = None
    ) -> None:
        """Without `values`: (re)create this connection's empty staging table. With them (rows
        of `TIMELINE_COLUMNS`): append them to it, in a transaction of their own."""
        if values is None:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TIMELINE_STAGING}")
            conn.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {TIMELINE_STAGING} (key VARCHAR(128), seq BIGINT, "
                "recorded_at VARCHAR(40), type VARCHAR(64), statement VARCHAR(128), "
                "policy TEXT, change TEXT)"
            )
        else:
            self._insert_values(conn, TIMELINE_STAGING, TIMELINE_COLUMNS, values)
        conn.commit()

    # -- reading (projections/reading.py) ---------------------------------------------------
    def status(self, t: datetime, model: str | None = None) -> dict[str, Any]:
        """The status document at time t, from the tables (after catching up)."""
        return reading.status(self, t, model)

    def status_as_of(self, at: datetime, model: str | None = None) -> dict[str, Any]:
        """The status document as the log stood at `at`, replayed from the log itself."""
        return reading.status_as_of(self, at, model)

    def timeline(self, model: str) -> dict[str, Any]:
        """Every entry that changed the model's state, with the policy in force at each."""
        return reading.timeline(self, model)

    def table_dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every data row, sorted (tests compare an incremental projection with a rebuild)."""
        return reading.table_dump(self)


__all__ = [
    "PROJECTION_NAME",
    "PROJECTION_VERSION",
    "CatchUp",
    "Lag",
    "StateProjection",
    "Tracked",
    "dumps",
]
