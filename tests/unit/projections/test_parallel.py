"""A rebuild in worker processes writes exactly the rows of a rebuild in one process.

`projections.parallel` deals the models to worker processes, each replaying its models' part of
the log and the organisation's through the same engine. These tests compare it, table by table
and status document by status document, with the replay in one process: on a history built to
be sharded (several models, organisation-wide safeguards and attestations withdrawn, key
compromises voiding findings, policy amendments), where the workers must actually run; on every
scenario; and on random histories, where a history the shards cannot replay exactly (citations
across models, a policy with duties) must be detected and rebuilt in one process.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from hypothesis import given, settings

from domain.log import LogRecord
from domain.state import ORG
from domain.statements import AttestationWithdrawn, KeyRevoked, PolicyAdopted
from projections import parallel
from projections.errors import StoredEntryError
from projections.projection import StateProjection
from tests.scenarios.histories import SCENARIOS
from tests.scenarios.histories_v2 import V2_SCENARIOS
from tests.scenarios.kit import Scenario
from verify.cores import usable_cores

from .logs import source_of
from .random_logs import Action, actions, play
from .test_projection import database


def _a(kind: str, *picks: int, days: float = 1.0) -> Action:
    return Action(kind, days, (*picks, *([0] * (6 - len(picks)))))


def sharded_history() -> list[LogRecord]:
    """Three models (m2 a child of m1), each with its own findings, determination, safeguards
    and deployments, beside organisation-wide safeguards; then an organisation-wide attestation
    and an organisation-wide safeguards determination withdrawn, the evaluator's key
    compromised (voiding findings it signed), and amendments, with more work after each."""
    acts = [_a("model", 0, 0, 0), _a("model", 0, 0, 1), _a("model", 0, 0, 0)]
    for cycle in range(3):
        for i in range(3):
            acts += [
                _a("round", i, 1, cycle, 1, 0),
                # Citing the model's own latest findings, approved by the CEO and the RSO.
                _a("determination", i, 1, 1 + cycle, 1, 0, 1),
                _a("notify", -1, 0),
                # An organisation-wide safeguards determination, then the model's own.
                _a("evidence", 1, 0, 1, 2, 1, 1),
                _a("evidence", 0, i, 1, 2, 1, 1),
                # Deployed on its own determination, citing both safeguards determinations.
                _a("deploy", i, 1, 1, 2, 2, 1),
            ]
        acts += [
            # The organisation-wide safeguards determination m3's deployment cites, withdrawn.
            _a("withdraw", 2, 0),
            # An organisation-wide attestation m1's new deployment relies on, withdrawn.
            _a("evidence", 1, 0, 1, 2, 1, 1),
            _a("deploy", 0, 1, 2, 1, 2, 1),
            _a("withdraw", 0, 0),
            # The evaluator's key, compromised 20 days ago: the latest findings are void.
            _a("compromise", 1, 1, 2),
            _a("amend", cycle, cycle, 1, cycle),
            _a("compute", cycle, 5),
            _a("undeploy", 1, 1, 0, 0, 2, 1),
        ]
    return play(acts)


def _everything(projection: StateProjection, records: list[LogRecord]) -> dict[str, Any]:
    """The tables, and what `status --json` and `timeline --json` print, at the end and halfway."""
    end = records[-1].recorded_at
    middle = records[len(records) // 2].recorded_at
    status = projection.status(end)
    out: dict[str, Any] = {
        "tables": projection.table_dump(),
        "status": json.dumps(status, sort_keys=True),
        "status_as_of": json.dumps(projection.status_as_of(middle), sort_keys=True),
    }
    for m in status["models"]:
        model = m["model"]
        out[f"status {model}"] = json.dumps(projection.status(end, model), sort_keys=True)
        out[f"timeline {model}"] = json.dumps(projection.timeline(model), sort_keys=True)
    return out


def _compare(
    records: list[LogRecord], workers: int, *, window: int = 4096
) -> tuple[parallel.Replay, dict[str, Any]]:
    """How the rebuild in `workers` processes ran, and what it wrote and answers, once checked
    equal to the rebuild in one process."""
    with database() as one_db, database() as many_db:
        one = StateProjection(one_db, source_of(records), window=window)
        one.rebuild(workers=1)
        assert one.last_replay == parallel.Replay(workers=1)
        many = StateProjection(many_db, source_of(records), window=window)
        many.rebuild(workers=workers)
        found = _everything(many, records)
        assert found == _everything(one, records)
        return many.last_replay, found


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("window", [4096, 0])
def test_workers_write_the_rows_of_one_process(workers: int, window: int) -> None:
    records = sharded_history()
    replay, found = _compare(records, workers, window=window)
    # The workers did run (the history is one the shards replay exactly) …
    assert replay == parallel.Replay(workers=workers)
    # … over what makes sharding hard: every model's rows depend on organisation-wide entries.
    statements = [r.statement for r in records]
    assert len(json.loads(found["status"])["models"]) == 3
    assert sum(isinstance(s, PolicyAdopted) for s in statements) >= 4
    assert any(isinstance(s, KeyRevoked) and s.compromised_since for s in statements)
    withdrawn = {s.statement for s in statements if isinstance(s, AttestationWithdrawn)}
    tables = found["tables"]
    homes = {row[2]: row[4] for row in tables["rsp_proj_entries"]}  # statement id → home
    assert {homes[w] for w in withdrawn} == {ORG}
    voided = [
        json.loads(row[4])
        for row in tables["rsp_proj_verdicts"]
        if json.loads(row[4])["invalidated_by"]
    ]
    voiding = {i for v in voided for i in v["invalidated_by"]}
    assert {homes[i] for i in voiding} == {ORG}  # withdrawals and the compromise
    assert {homes[v["statement"]] for v in voided} >= {"m1", "m2", "m3"}


@pytest.mark.parametrize("scenario", SCENARIOS + V2_SCENARIOS, ids=lambda s: s.name)
def test_every_scenario(scenario: Scenario) -> None:
    _compare(scenario.records(), 2)


@settings(max_examples=25, deadline=None)
@given(acts=actions(40))
def test_random_histories(acts: Any) -> None:
    _compare(play(acts), 2)


def test_a_citation_across_workers_falls_back_to_one_process() -> None:
    # m2's determination cites m1's findings (determination with p[1] % 5 == 0 cites the
    # latest findings, whoever's they are).
    records = play(
        [
            _a("model", 0, 0, 0),
            _a("model", 0, 0, 0),
            _a("round", 0, 1, 0, 1, 0),
            _a("determination", 1, 0, 1, 1),
        ]
    )
    replay, _ = _compare(records, 2)
    assert replay.workers == 1
    assert "joins homes of different workers" in str(replay.fallback)


def test_small_logs_and_threaded_callers_stay_in_one_process() -> None:
    assert parallel.workers_for(parallel.MIN_ENTRIES - 1) == 1
    assert parallel.workers_for(10**6) == min(parallel.MAX_WORKERS, usable_cores())
    # A caller with other threads (the HTTP service) never forks.
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert parallel.workers_for(10**6) == 1
    finally:
        release.set()
        other.join()


@pytest.mark.parametrize("at", [0.3, 1.0])
def test_an_unreadable_entry_fails_the_rebuild_as_in_one_process(at: float) -> None:
    records = sharded_history()
    source = source_of(records)
    bad = min(len(records) - 1, int(len(records) * at))
    source.items[bad] = b'{"seq": "garbage"}'
    errors = []
    for workers in (1, 2):
        with database() as db:
            projection = StateProjection(db, source)
            with pytest.raises(StoredEntryError) as raised:
                projection.rebuild(workers=workers)
            errors.append(str(raised.value))
            assert projection.tracked() is None  # nothing written
    assert errors[0] == errors[1]
    assert errors[0].startswith(f"entry {bad} of the log cannot be read")
