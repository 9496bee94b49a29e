"""A rebuild on real PostgreSQL gives the same rows as one on SQLite.

A rebuild stages the timeline in a temporary table of its connection, and copies it into the
projection's table in its write transaction (projections/projection.py). PostgreSQL's temporary
tables behave otherwise than SQLite's (a schema of the session, not a file), so the same history
is rebuilt on both, twice on PostgreSQL (the staging table of the first is gone), with the
whole-record window at 0 so that every old citation is read back from the log as well; and in
worker processes (`projections.parallel`), whose parent stages the log's index too, and whose
workers must never use the parent's PostgreSQL connections.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from projections import parallel
from projections.projection import ENTRIES_STAGING, TIMELINE_STAGING, StateProjection
from tests.scenarios.histories import SCENARIOS
from tests.unit.projections.logs import source_of, sqlite_engine


@pytest.mark.postgres
@pytest.mark.parametrize("workers", [1, 2])
def test_a_rebuild_on_postgresql_equals_one_on_sqlite(pg_url: str, workers: int) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "asl3_deployment_compliant")
    records = scenario.records()
    pg = create_engine(pg_url)
    with tempfile.TemporaryDirectory() as d:
        lite = sqlite_engine(Path(d) / "ledger.db")
        try:
            on_sqlite = StateProjection(lite, source_of(records), window=0)
            on_sqlite.rebuild()
            on_pg = StateProjection(pg, source_of(records), window=0)
            on_pg.rebuild(workers=workers)
            on_pg.rebuild(workers=workers)
            assert on_pg.last_replay == parallel.Replay(workers=workers)
            expected = on_sqlite.table_dump()
            assert expected["rsp_proj_timeline"]
            assert on_pg.table_dump() == expected
            t = records[-1].recorded_at
            assert on_pg.status(t) == on_sqlite.status(t)
            with pg.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM pg_tables WHERE tablename IN (:t, :e)"),
                    {"t": TIMELINE_STAGING, "e": ENTRIES_STAGING},
                ).scalar_one()
            assert left == 0
        finally:
            lite.dispose()
            pg.dispose()
