"""projections.StateProjection over in-memory logs and real SQLite files.

The central property (issue 5, "One source of truth"): for random valid histories, applied in
random batches, the incrementally maintained tables equal a fresh rebuild row for row, and what
they say equals what the compliance engine computes from scratch — the verdicts, the levels
required by each model's latest determination, and the current deployments per scope. The status
read from the tables equals the status replayed from the log; the status as of any past time
equals that of a projection built from the log as it then stood.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, update

from domain.compliance import judge
from domain.compliance.kept import DEFAULT_WINDOW
from domain.log import LogRecord
from domain.statements import CapabilityDetermination, DeploymentDecision
from projections import schema
from projections.errors import ProjectionError, TrackingConflictError
from projections.projection import PROJECTION_NAME, StateProjection
from projections.source import ListSource
from tests.scenarios.histories import SCENARIOS
from tests.scenarios.histories_v2 import V2_SCENARIOS
from tests.scenarios.kit import Scenario, asl3_evidence, at, deploy, setup

from .logs import leaf_of, source_of, sqlite_engine
from .random_logs import actions, play


@contextmanager
def database() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as d:
        engine = sqlite_engine(Path(d) / "ledger.db")
        try:
            yield engine
        finally:
            engine.dispose()


def verdicts_in(doc: dict[str, Any]) -> dict[str, Any]:
    out = {v["statement"]: v for v in doc["organisation"]["verdicts"]}
    for m in doc["models"]:
        out.update((v["statement"], v) for v in m["verdicts"])
    return out


def engine_levels(records: list[LogRecord]) -> dict[str, dict[str, str]]:
    """The required levels of each model's latest capability determination, naively."""
    out: dict[str, dict[str, str]] = {}
    for r in records:
        if isinstance(r.statement, CapabilityDetermination):
            req = r.statement.required
            out[r.statement.model] = {"deployment": req.deployment, "security": req.security}
    return out


def engine_deployments(records: list[LogRecord]) -> dict[str, dict[str, str]]:
    """Each model's deployments per scope and the decision behind each, naively."""
    out: dict[str, dict[str, str]] = {}
    for r in records:
        st = r.statement
        if isinstance(st, DeploymentDecision):
            scopes = out.setdefault(st.model, {})
            if st.action == "deploy":
                scopes[st.scope] = st.id
            else:
                scopes.pop(st.scope, None)
    return {m: s for m, s in out.items() if s}


def check_against_engine(doc: dict[str, Any], records: list[LogRecord]) -> None:
    assert verdicts_in(doc) == {v.statement: v.to_json() for v in judge(records)}
    levels = {
        m["model"]: m["determination"]["required"] for m in doc["models"] if m["determination"]
    }
    assert levels == engine_levels(records)
    deployments = {
        m["model"]: {d["scope"]: d["decision"] for d in m["deployments"]}
        for m in doc["models"]
        if m["deployments"]
    }
    assert deployments == engine_deployments(records)


def incremental(
    engine: Engine, records: list[LogRecord], batches: list[int], *, window: int = DEFAULT_WINDOW
) -> StateProjection:
    """The projection caught up after each batch of `batches` entries, in turn."""
    source = ListSource()
    projection = StateProjection(engine, source, window=window)
    i = 0
    step = 0
    while i < len(records):
        n = batches[step % len(batches)]
        for r in records[i : i + n]:
            source.append(leaf_of(r))
        projection.catch_up()
        i += n
        step += 1
    return projection


@settings(max_examples=40, deadline=None)
@given(acts=actions(40), batches=st.lists(st.integers(1, 6), min_size=1, max_size=8))
def test_incremental_equals_rebuild_equals_the_engine(acts: Any, batches: list[int]) -> None:
    records = play(acts)
    with database() as inc_db, database() as full_db:
        inc = incremental(inc_db, records, batches)
        full = StateProjection(full_db, source_of(records))
        full.rebuild()
        assert inc.table_dump() == full.table_dump()
        t = records[-1].recorded_at
        doc = inc.status(t)
        assert doc == full.status(t) == full.status_as_of(t)
        check_against_engine(doc, records)


@settings(max_examples=25, deadline=None)
@given(acts=actions(40), cut=st.floats(0, 1))
def test_status_as_of_a_past_time_is_the_log_as_it_then_stood(acts: Any, cut: float) -> None:
    records = play(acts)
    at_ = records[int(cut * (len(records) - 1))].recorded_at + timedelta(hours=1)
    prefix = [r for r in records if r.recorded_at <= at_]
    with database() as now_db, database() as then_db:
        now = StateProjection(now_db, source_of(records))
        then = StateProjection(then_db, source_of(prefix))
        then.rebuild()
        assert now.status_as_of(at_) == then.status(at_)
        for m in then.status(at_)["models"]:
            assert now.status_as_of(at_, m["model"]) == then.status(at_, m["model"])
        check_against_engine(now.status_as_of(at_), prefix)


@pytest.mark.parametrize("scenario", SCENARIOS + V2_SCENARIOS, ids=lambda s: s.name)
def test_every_scenario_one_entry_at_a_time(scenario: Scenario) -> None:
    # The policy v2 histories include duties missed as time passes: a verdict then changes
    # with no entry about its statement, and the projection must still match a rebuild.
    records = scenario.records()
    with database() as inc_db, database() as full_db:
        inc = incremental(inc_db, records, [1])
        full = StateProjection(full_db, source_of(records))
        full.rebuild()
        assert inc.table_dump() == full.table_dump()
        t = records[-1].recorded_at
        doc = inc.status(t)
        assert doc == full.status_as_of(t)
        check_against_engine(doc, records)
        for m in doc["models"]:
            assert inc.timeline(m["model"]) == full.timeline(m["model"])


def deployed() -> list[LogRecord]:
    return Scenario(
        "deployed", [*setup(), *asl3_evidence(), deploy(15, "dec-1", "det-1", ["sd-1"])]
    ).records()


def test_catch_up_on_read_after_appends_with_no_runner() -> None:
    records = deployed()
    with database() as db:
        source = ListSource(leaf_of(r) for r in records[:-1])
        projection = StateProjection(db, source)
        projection.catch_up()
        source.append(leaf_of(records[-1]))
        assert projection.lag().lag == 1
        doc = projection.status(at(16), "m1")  # reading catches up
        assert [d["decision"] for d in doc["models"][0]["deployments"]] == ["dec-1"]
        assert projection.lag().lag == 0


def test_a_crash_inside_the_write_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    records = deployed()
    with database() as db, database() as full_db:
        source = ListSource(leaf_of(r) for r in records[:-2])
        projection = StateProjection(db, source)
        projection.catch_up()
        before = projection.table_dump()
        position = projection.lag().position
        for r in records[-2:]:
            source.append(leaf_of(r))

        def crash(*_: Any) -> None:
            raise KeyboardInterrupt("killed between the tracking update and the rows")

        monkeypatch.setattr(StateProjection, "_replace_homes", crash)
        with pytest.raises(KeyboardInterrupt):
            projection.catch_up()
        # Nothing of the interrupted transaction is visible: old rows, old position.
        assert projection.table_dump() == before
        assert projection.lag().position == position
        monkeypatch.undo()
        result = projection.catch_up()
        assert (result.first_seq, result.last_seq) == (position + 1, len(records) - 1)
        full = StateProjection(full_db, source_of(records))
        full.rebuild()
        assert projection.table_dump() == full.table_dump()


def test_two_runners_never_apply_an_entry_twice() -> None:
    records = deployed()
    with database() as db, database() as full_db:
        source = ListSource(leaf_of(r) for r in records[:10])
        first = StateProjection(db, source)
        second = StateProjection(db, source)
        first.catch_up()
        for r in records[10:]:
            source.append(leaf_of(r))
        applied: list[tuple[int, int]] = []

        class Racing(StateProjection):
            raced = False

            def _records_at(self, seqs: Any) -> Any:
                # After this runner read its position, the other one applies the same entries.
                if not Racing.raced:
                    Racing.raced = True
                    r = second.catch_up()
                    applied.append((r.first_seq, r.last_seq))
                return super()._records_at(seqs)

        racing = Racing(db, source)
        result = racing.catch_up()
        assert result.conflicts == 1
        assert result.mode == "none"  # it lost, then found nothing left to do
        assert applied == [(10, len(records) - 1)]
        full = StateProjection(full_db, source_of(records))
        full.rebuild()
        assert first.table_dump() == full.table_dump()


def test_a_stale_compare_and_set_is_refused() -> None:
    with database() as db:
        source = ListSource(leaf_of(r) for r in deployed())
        projection = StateProjection(db, source)
        projection.catch_up()
        tracked = projection.tracked()
        assert tracked is not None
        with db.begin() as conn:
            projection._advance(conn, tracked, tracked.last_seq + 1, None)
        with pytest.raises(TrackingConflictError, match="another runner"), db.begin() as conn:
            projection._advance(conn, tracked, tracked.last_seq + 1, None)


def test_another_version_of_the_projection_is_rebuilt() -> None:
    records = deployed()
    with database() as db, database() as full_db:
        projection = StateProjection(db, source_of(records))
        projection.catch_up()
        with db.begin() as conn:
            conn.execute(update(schema.tracking).values(version=0, last_seq=3))
            conn.execute(schema.timeline.delete())
        assert projection.lag().to_json()["caught_up"] is False
        assert projection.catch_up().mode == "full"
        full = StateProjection(full_db, source_of(records))
        full.rebuild()
        assert projection.table_dump() == full.table_dump()


def test_drop_and_rebuild_gives_the_same_status() -> None:
    records = deployed()
    with database() as db:
        projection = StateProjection(db, source_of(records))
        first = projection.status(at(16))
        schema.metadata.drop_all(db)
        assert projection.rebuild().mode == "full"
        assert projection.status(at(16)) == first
        assert projection.tracked() is not None
        assert projection.tracked().last_seq == len(records) - 1  # type: ignore[union-attr]
        assert projection.name == PROJECTION_NAME


def test_lag_and_unknown_model_and_time_before_the_log() -> None:
    records = deployed()
    with database() as db:
        projection = StateProjection(db, source_of(records))
        lag = projection.lag()
        assert (lag.position, lag.log_size, lag.lag) == (-1, len(records), len(records))
        with pytest.raises(ProjectionError, match="no model 'nope'"):
            projection.status(at(16), "nope")
        with pytest.raises(ProjectionError, match="no model 'nope'"):
            projection.timeline("nope")
        with pytest.raises(ProjectionError, match="no entry is recorded at or before"):
            projection.status_as_of(at(-100))
        with pytest.raises(ProjectionError, match="as of"):
            projection.status_as_of(at(0), "m1")  # registered on day 1


def test_timeline_lists_each_change_with_the_policy_in_force() -> None:
    with database() as db:
        projection = StateProjection(db, source_of(deployed()))
        events = projection.timeline("m1")["events"]
        kinds = [(e["type"], e["scope"], e["policy"]) for e in events]
        assert kinds[0] == ("model_registered", "model", "test-rsp@1")
        assert ("safeguards_determination", "model", "test-rsp@1") in kinds
        last = events[-1]
        assert last["statement"] == "dec-1"
        assert last["verdict"] == "compliant"
        assert last["change"] == "deployed to external under determination 'det-1'"
