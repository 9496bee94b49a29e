"""A replay that keeps old records compact gives exactly the rows of one that keeps them whole.

The tracker reads the compliance engine's own history, whose older records are compact
(domain/compliance/kept.py), and keeps only the latest findings and attestations whole; an older
one that a new determination cites is read back whole from the log. With `window=0` every
record is compacted as soon as it is observed, so every citation takes that path: the tables,
the status and the status as of a past time must still be byte-identical to a replay that keeps
every record whole.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.compliance import RecordOrderError
from domain.log import LogRecord
from domain.state import ORG, StateTracker
from projections.projection import StateProjection
from projections.rows import rows_of
from tests.scenarios.histories import SCENARIOS
from tests.scenarios.histories_v2 import V2_SCENARIOS
from tests.scenarios.kit import Scenario

from .logs import source_of
from .random_logs import actions, play
from .test_projection import database, incremental


def _same_everywhere(records: list[LogRecord], batches: list[int]) -> None:
    with database() as whole_db, database() as compact_db, database() as inc_db:
        whole = StateProjection(whole_db, source_of(records), window=len(records) + 1)
        compact = StateProjection(compact_db, source_of(records), window=0)
        whole.rebuild()
        compact.rebuild()
        assert compact.table_dump() == whole.table_dump()
        inc = incremental(inc_db, records, batches, window=0)
        assert inc.table_dump() == whole.table_dump()
        t = records[-1].recorded_at
        assert compact.status(t) == whole.status(t) == compact.status_as_of(t)
        middle = records[len(records) // 2].recorded_at
        compact_then = StateProjection(compact_db, source_of(records), window=0)
        then = whole.status_as_of(middle)
        assert compact_then.status_as_of(middle) == then
        for m in then["models"]:
            model = m["model"]
            assert compact_then.status_as_of(middle, model) == whole.status_as_of(middle, model)


@settings(max_examples=15, deadline=None)
@given(acts=actions(40), batches=st.lists(st.integers(1, 6), min_size=1, max_size=8))
def test_random_histories_with_every_record_compacted(acts: Any, batches: list[int]) -> None:
    _same_everywhere(play(acts), batches)


@pytest.mark.parametrize("scenario", SCENARIOS + V2_SCENARIOS, ids=lambda s: s.name)
def test_every_scenario_with_every_record_compacted(scenario: Scenario) -> None:
    _same_everywhere(scenario.records(), [1, 3])


def test_old_citations_are_read_back_whole_and_checked() -> None:
    """The facts hold the cited findings as they were recorded, every field, even when the
    engine keeps only their compact form; a `whole` that gives another entry is refused."""
    scenario = next(s for s in SCENARIOS if s.name == "asl3_deployment_compliant")
    records = scenario.records()
    by_seq = {r.seq: r for r in records}
    asked: list[int] = []

    def whole(seq: int) -> LogRecord:
        asked.append(seq)
        return by_seq[seq]

    kept_whole = StateTracker()
    compact = StateTracker(whole=whole, window=0)
    for r in records:
        kept_whole.add(r)
        compact.add(r)
    assert asked, "a determination cited no finding or attestation"
    for key in kept_whole.homes():
        if key == ORG:
            assert compact.org_facts() == kept_whole.org_facts()
        else:
            assert compact.model_facts(key).to_json() == kept_whole.model_facts(key).to_json()
        assert compact.safeguards_of(key) == kept_whole.safeguards_of(key)
    assert rows_of(compact, None) == rows_of(kept_whole, None)
    # Safeguards facts are kept frozen (their statements' JSON) and read back as recorded.
    thawed = [
        r
        for key in compact.homes()
        for s in compact.safeguards_of(key)
        for r in (s.record, *s.attestations)
    ]
    assert thawed
    for r in thawed:
        original = by_seq[r.seq]
        assert r == original
        assert r.statement.model_fields_set == original.statement.model_fields_set

    wrong = StateTracker(whole=lambda seq: records[0], window=0)
    with pytest.raises(RecordOrderError, match="expected"):
        for r in records:
            wrong.add(r)
