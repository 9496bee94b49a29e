"""Engines for the one configuration knob: a SQLAlchemy URL (SQLite embedded, PostgreSQL served).

SQLite: WAL, `synchronous=FULL` (an acknowledged entry survives power loss), a busy timeout, and
writer transactions that start with `BEGIN IMMEDIATE` so that two processes never both read the
head and then race to extend it. PostgreSQL: writers serialise on the head row (`FOR UPDATE`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from ledger.errors import UsageError

WRITE = {"rsp_write": True}
SQLITE_BUSY_TIMEOUT_S = 60.0


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise UsageError(f"--ledger: expected a SQLAlchemy URL or http(s)://, found {url!r}") from e
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise UsageError("--ledger: expected a SQLite file path, found an in-memory database")
        engine = create_engine(
            parsed,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            poolclass=NullPool,
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise UsageError(
        f"--ledger: expected a sqlite:/// or postgresql+psycopg:// URL, found {parsed.drivername}"
    )


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
