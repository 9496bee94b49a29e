"""A duty missed after the last entry shows in `status` as of the time asked, not only once the
next entry is recorded (docs/projections.md "Policies with duties over time").

Under tests.scenarios.kit.POLICY_V2, adopted on day 0, a Risk Report is due every 183 days. The
log ends on day 1 (model m1 registered): asked on day 100 nothing is missed; asked on day 200 the
cadence is missed, shown on the amendment that started its clock — exactly as the compliance
engine gives it at that time. The stored verdicts stay those at the last entry, as the verifier
gives them for a bundle that ends there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from domain.compliance import ComplianceEngine, judge
from domain.log import LogRecord
from projections.projection import StateProjection
from tests.scenarios.kit import Scenario, at, setup_v2

from .logs import source_of, sqlite_engine


def _records() -> list[LogRecord]:
    return Scenario("risk report due after the log ends", setup_v2()).records()


def _engine_at(records: list[LogRecord], t: datetime) -> dict[str, Any]:
    engine = ComplianceEngine()
    for r in records:
        engine.add(r)
    return {v.statement: v.to_json() for v in engine.verdicts(as_of=t)}


def _verdicts(doc: dict[str, Any]) -> dict[str, Any]:
    out = {v["statement"]: v for v in doc["organisation"]["verdicts"]}
    for m in doc["models"]:
        out.update((v["statement"], v) for v in m["verdicts"])
    return out


@contextmanager
def _projection(tmp_path: Path, records: list[LogRecord]) -> Iterator[StateProjection]:
    engine = sqlite_engine(tmp_path / "ledger.db")
    try:
        projection = StateProjection(engine, source_of(records))
        projection.rebuild()
        yield projection
    finally:
        engine.dispose()


@pytest.mark.parametrize("model", [None, "m1"])
def test_a_duty_missed_after_the_last_entry_shows_as_of_the_query_time(
    tmp_path: Path, model: str | None
) -> None:
    records = _records()
    assert records[-1].recorded_at == at(1)
    with _projection(tmp_path, records) as projection:
        before, after = at(100), at(200)
        for t, missed in ((before, False), (after, True)):
            expected = _engine_at(records, t)
            for doc in (projection.status(t, model), projection.status_as_of(t, model)):
                got = _verdicts(doc)
                assert got == {s: v for s, v in expected.items() if s in got}
                policy = got["policy-1"]
                assert (policy["verdict"] == "noncompliant") is missed
                assert [f["rule"] for f in policy["failed"]] == (
                    ["duty.periodic"] if missed else []
                )
        # The tables keep the verdicts at the last entry: the verifier's for this log.
        stored = {v.statement: v.to_json() for v in judge(records)}
        assert _verdicts(projection.status(records[-1].recorded_at)) == stored
        assert stored["policy-1"]["verdict"] == "compliant"
