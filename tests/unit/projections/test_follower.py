"""projections.follower: the warm follower writes exactly the rows a rebuild would, whoever else
applies entries meanwhile."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from projections import schema
from projections.follower import WarmFollower
from projections.projection import StateProjection
from projections.source import ListSource
from tests.scenarios.histories_v2 import V2_SCENARIOS
from tests.scenarios.kit import Scenario

from .logs import leaf_of, source_of
from .random_logs import actions, play
from .test_projection import check_against_engine, database, deployed


@settings(max_examples=30, deadline=None)
@given(
    acts=actions(40),
    batches=st.lists(st.integers(1, 7), min_size=1, max_size=8),
    rivals=st.lists(st.booleans(), min_size=1, max_size=8),
)
def test_warm_follower_equals_rebuild_with_a_rival_runner(
    acts: Any, batches: list[int], rivals: list[bool]
) -> None:
    records = play(acts)
    with database() as db, database() as full_db:
        source = ListSource()
        follower = WarmFollower(StateProjection(db, source))
        rival = StateProjection(db, source)  # a cold runner on the same tables
        i = step = 0
        while i < len(records):
            for r in records[i : i + batches[step % len(batches)]]:
                source.append(leaf_of(r))
            i += batches[step % len(batches)]
            if rivals[step % len(rivals)]:
                rival.catch_up()  # sometimes ahead of the follower
            follower.step()
            step += 1
        assert follower.position == len(records) - 1
        follower.close()
        full = StateProjection(full_db, source_of(records))
        full.rebuild()
        assert follower.projection.table_dump() == full.table_dump()
        check_against_engine(rival.status(records[-1].recorded_at), records)


def test_the_follower_writes_only_what_changed_and_restarts_after_a_rebuild() -> None:
    records = deployed()
    with database() as db, database() as full_db:
        source = ListSource(leaf_of(r) for r in records[:-3])
        projection = StateProjection(db, source)
        follower = WarmFollower(projection)
        assert follower.step().mode == "full"  # cold start: nothing was there
        for r in records[-3:]:
            source.append(leaf_of(r))
        result = follower.step()
        assert (result.mode, result.first_seq, result.last_seq) == (
            "warm",
            len(records) - 3,
            len(records) - 1,
        )
        assert follower.step().mode == "none"
        with db.begin() as conn:
            conn.execute(update(schema.tracking).values(version=0))
        assert follower.step().mode == "full"  # another version: rebuilt, then warm again
        follower.close()
        full = StateProjection(full_db, source_of(records))
        full.rebuild()
        assert projection.table_dump() == full.table_dump()


@pytest.mark.parametrize("scenario", V2_SCENARIOS, ids=lambda s: s.name)
def test_warm_follower_follows_duties_missed_as_time_passes(scenario: Scenario) -> None:
    records = scenario.records()
    with database() as db, database() as full_db:
        source = ListSource(leaf_of(r) for r in records[:5])
        follower = WarmFollower(StateProjection(db, source))
        follower.step()
        for r in records[5:]:
            source.append(leaf_of(r))
            follower.step()
        follower.close()
        full = StateProjection(full_db, source_of(records))
        full.rebuild()
        assert follower.projection.table_dump() == full.table_dump()
        check_against_engine(full.status(records[-1].recorded_at), records)
