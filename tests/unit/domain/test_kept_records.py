"""The engine keeps older records compact (domain/compliance/kept.py): every verdict must be the
same as with every record kept whole. A window of 0 compacts each record as soon as it is
observed, so every rule that reads an earlier statement reads it back from its compact form."""

from __future__ import annotations

import gc

import pytest

from domain.compliance import ComplianceEngine, Verdict
from domain.compliance.kept import KEPT_FIELDS, RecordStore
from domain.log import LogRecord
from tests.scenarios.histories import SCENARIOS as V1_SCENARIOS
from tests.scenarios.histories_v2 import V2_SCENARIOS
from tests.scenarios.kit import Scenario

SCENARIOS = [*V1_SCENARIOS, *V2_SCENARIOS]


def run(scenario: Scenario, whole: int | None) -> tuple[list[Verdict | None], list[Verdict]]:
    engine = ComplianceEngine(whole_records=whole)
    first = [engine.add(record) for record in scenario.records()]
    return first, engine.verdicts()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_compact_records_give_the_same_verdicts(scenario: Scenario) -> None:
    whole = run(scenario, None)
    assert run(scenario, 0) == whole
    assert run(scenario, 3) == whole


def records() -> list[LogRecord]:
    return [r for s in SCENARIOS for r in s.records() if r.seq > 0][:400]


def test_a_compact_record_reads_back_its_kept_fields() -> None:
    store = RecordStore(0)
    kept = {}
    for record in records():
        if record.statement.id not in store:
            store.keep(record)
            kept[record.statement.id] = record
    assert len(store) == len(kept)
    for sid, record in kept.items():
        back = store[sid]
        assert (back.seq, back.recorded_at, back.signer_key_ids) == (
            record.seq,
            record.recorded_at,
            record.signer_key_ids,
        )
        assert type(back.statement) is type(record.statement)
        for name in KEPT_FIELDS[record.statement.type]:
            assert getattr(back.statement, name) == getattr(record.statement, name)


def test_a_field_not_kept_is_absent_not_made_up() -> None:
    """Every field not kept, required or with a default (a note, a details digest), raises when
    read back: a rule reading it would fail loudly, never see a wrong value."""
    store = RecordStore(0)
    seen: set[str] = set()
    for record in records():
        st = record.statement
        if st.type in seen or st.id in store:
            continue
        seen.add(st.type)
        store.keep(record)
        back = store[st.id].statement
        assert back.id == st.id
        for name in type(st).model_fields:
            if name not in KEPT_FIELDS[st.type]:
                with pytest.raises(AttributeError):
                    getattr(back, name)
    assert {"capability_finding", "deployment_decision", "key_revoked"} <= seen


def test_the_first_record_of_an_id_is_kept_and_the_window_holds_the_latest_whole() -> None:
    rs = records()[:10]
    store = RecordStore(4)
    for r in rs:
        store.keep(r)
    assert all(store[r.statement.id] is r for r in rs[-4:])
    assert all(store[r.statement.id] is not r for r in rs[:-4])
    store.keep(rs[-1])  # again: nothing changes
    assert len(store) == len({r.statement.id for r in rs})
    assert store.get("no-such-statement") is None
    with pytest.raises(KeyError):
        _ = store["no-such-statement"]


def test_judging_makes_no_reference_cycles() -> None:
    """The verifier pauses the cyclic collector for the whole run (verify/verifier.py), so a
    cycle made per judged statement is never freed (docs/verifier.md)."""
    logs = [s.records() for s in SCENARIOS]
    gc.collect()
    gc.disable()
    try:
        for records in logs:
            engine = ComplianceEngine(whole_records=2)
            for record in records:
                engine.add(record)
            engine.verdicts()
            engine.overdue()
            del engine
        assert gc.collect() == 0
    finally:
        gc.enable()
