"""Engines for the one configuration knob: a SQLAlchemy URL (SQLite embedded, PostgreSQL served).

Invariants:
- writers serialise: a writer transaction takes the head row under a lock before it reads the
  size, so two writers never both extend the same tree. SQLite: `BEGIN IMMEDIATE` (execution
  option `WRITE`). PostgreSQL: `SELECT … FOR UPDATE` on the head row, in READ COMMITTED, so that
  every statement after the lock sees what the previous writer committed;
- `seq` never comes from a database sequence (PostgreSQL's skip numbers after a rollback);
- schema creation is serialised across processes and hosts (`lock_schema`);
- a database that cannot be reached, or a lock that cannot be had in time, is a
  `DatabaseUnavailableError` with a one-line message, never a driver traceback.

SQLite: WAL, `synchronous=FULL` (an acknowledged entry survives power loss), a busy timeout.
PostgreSQL (`postgresql+psycopg://`, or `postgresql://`, which means the same here): a connection
pool per process, READ COMMITTED whatever the server's default, bounded lock waits, and an idle
transaction that a crashed client left open is ended by the server rather than holding the head.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, create_engine, event, text
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.exc import OperationalError as SQLOperationalError
from sqlalchemy.pool import NullPool

from ledger.errors import LedgerStateError, UsageError

WRITE = {"rsp_write": True}
SQLITE_BUSY_TIMEOUT_S = 60.0

# PostgreSQL session settings. A writer waits at most LOCK_TIMEOUT for the head; a transaction
# left idle (a client that died between statements) is ended after IDLE_IN_TRANSACTION.
PG_LOCK_TIMEOUT_MS = 30_000
PG_IDLE_IN_TRANSACTION_MS = 120_000
PG_CONNECT_TIMEOUT_S = 10
PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 10
PG_POOL_TIMEOUT_S = 30.0
# A pooled connection idle for longer is pinged before use (see `_ping_when_idle`).
PG_PING_AFTER_IDLE_S = 1.0
# pg_advisory_xact_lock key that serialises schema creation: "rspl" in ASCII.
SCHEMA_LOCK_KEY = 0x7273706C
# SQLSTATEs that mean "not now" rather than "wrong": lock_not_available, query_canceled,
# admin_shutdown, crash_shutdown, cannot_connect_now, idle_in_transaction_session_timeout.
_PG_UNAVAILABLE_STATES = frozenset({"55P03", "57014", "57P01", "57P02", "57P03", "25P03"})


class DatabaseUnavailableError(LedgerStateError):
    """The database cannot be reached, or the ledger's lock could not be had in time. Nothing was
    recorded by the failed call; it is safe to retry (resubmission is a no-op)."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_postgresql(url: str) -> bool:
    return url.startswith("postgresql")


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise UsageError(f"--ledger: expected a SQLAlchemy URL or http(s)://, found {url!r}") from e
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise UsageError("--ledger: expected a SQLite file path, found an in-memory database")
        engine = create_engine(
            parsed,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            poolclass=NullPool,
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        engine = create_engine(
            _psycopg_url(parsed),
            # The head lock relies on READ COMMITTED: after `FOR UPDATE` returns, each later
            # statement sees the rows the previous writer committed (REPEATABLE READ would raise
            # a serialization failure instead).
            isolation_level="READ COMMITTED",
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_MAX_OVERFLOW,
            pool_timeout=PG_POOL_TIMEOUT_S,
            connect_args={
                "connect_timeout": PG_CONNECT_TIMEOUT_S,
                "application_name": "rsp-ledger",
                "options": f"-c lock_timeout={PG_LOCK_TIMEOUT_MS} "
                f"-c idle_in_transaction_session_timeout={PG_IDLE_IN_TRANSACTION_MS}",
            },
        )
        _configure_errors(engine)
        _ping_when_idle(engine)
        return engine
    raise UsageError(
        f"--ledger: expected a sqlite:/// or postgresql+psycopg:// URL, found {parsed.drivername}"
    )


def _psycopg_url(parsed: URL) -> URL:
    if parsed.drivername in ("postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise UsageError(
        f"--ledger: expected a postgresql+psycopg:// URL (psycopg 3), found {parsed.drivername}"
    )


def lock_schema(conn: Connection) -> None:
    """Serialise schema creation with every other process and host, until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock (concurrent `CREATE TABLE`s of one name would
    otherwise collide in the catalog). SQLite: the caller's `BEGIN IMMEDIATE` already excludes
    every other writer.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})


def _configure_errors(engine: Engine) -> None:
    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: ExceptionContext) -> None:
        if ctx.is_pre_ping or not isinstance(ctx.sqlalchemy_exception, SQLOperationalError):
            return  # pre-ping reconnects by itself; everything else keeps its own type
        state = getattr(ctx.original_exception, "sqlstate", None)
        if ctx.is_disconnect or ctx.connection is None or state in _PG_UNAVAILABLE_STATES:
            where = engine.url.render_as_string(hide_password=True)
            first_line = str(ctx.original_exception).strip().splitlines()[:1]
            raise DatabaseUnavailableError(
                f"database {where} unavailable: {first_line[0] if first_line else state}"
            ) from ctx.original_exception


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling, but only for a connection that has sat idle.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: one more round trip on each of a busy
    service's transactions. A connection checked in less than PG_PING_AFTER_IDLE_S ago was
    working then; one idle for longer (a server restart, an idle timeout, a failover) is
    pinged, and a dead one is replaced before the caller sees it.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["rsp_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("rsp_idle_since")
        if since is None or time.monotonic() - since < PG_PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as e:  # any failure of the ping: the pool reconnects and retries
            raise DisconnectionError(f"idle connection failed its ping: {e}") from e


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred only).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("rsp_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def bound_value(conn: Connection, column: Column[Any], value: Any) -> Any:
    """`value` as SQLAlchemy would hand it to the driver for `column` (for `insert_rows`)."""
    dialect = conn.dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return value if process is None else process(value)


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Many rows into one table through the driver's `executemany`.

    What `conn.execute(table.insert(), dicts)` does, without SQLAlchemy's per-row parameter
    handling, which costs more than the insert itself for the tens of thousands of rows of a
    batch import (issue 2). The values must already be what the driver takes: only columns
    whose type has no bind processor, or values passed through `bound_value`.
    """
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    quote = conn.dialect.identifier_preparer
    sql = (
        f"INSERT INTO {quote.format_table(table)} "
        f"({', '.join(quote.quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    conn.exec_driver_sql(sql, [tuple(r) for r in rows])
