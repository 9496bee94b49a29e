"""projections.source.record_of: the fast reading of the ledger's own entry form gives exactly the
record that the reference reading (JSON parser, `parse_statement`) and the verifier's
`parse_entry` give — statement class, fields, fields set — and anything else goes the
reference way, with its errors.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.log import LogRecord
from domain.statements import parse_statement
from projections.errors import StoredEntryError
from projections.source import _ENTRY, record_of, record_of_reference
from tests.scenarios.histories import SCENARIOS
from tests.scenarios.histories_v2 import V2_SCENARIOS
from tests.scenarios.kit import Scenario, at, kid
from verify.entry import parse_entry
from verify.errors import MalformedEnvelopeError

from .logs import leaf_of
from .random_logs import actions, play


def verifier_record(leaf: bytes) -> LogRecord:
    """What the verifier reads of the same bytes (verify.entry, then the statement schema)."""
    entry = parse_entry(leaf)
    return LogRecord(
        entry.seq,
        entry.recorded_at,
        parse_statement(json.loads(entry.envelope.payload)),
        tuple(s.keyid for s in entry.envelope.signatures),
    )


def assert_same(a: LogRecord, b: LogRecord) -> None:
    assert a == b
    assert type(a.statement) is type(b.statement)
    assert a.statement.model_fields_set == b.statement.model_fields_set
    assert a.statement.model_dump_json() == b.statement.model_dump_json()
    assert [type(v) for v in a.statement.__dict__.values()] == [
        type(v) for v in b.statement.__dict__.values()
    ]


def check_all(records: list[LogRecord]) -> None:
    for r in records:
        leaf = leaf_of(r)
        assert _ENTRY.fullmatch(leaf) is not None  # the fast way is the one taken
        fast = record_of(leaf, r.seq)
        assert_same(fast, record_of_reference(leaf, r.seq))
        assert_same(fast, verifier_record(leaf))
        assert fast == r  # (a dict field's keys come back in the canonical order)


@settings(max_examples=60, deadline=None)
@given(acts=actions(40))
def test_random_histories_read_the_same_both_ways(acts: Any) -> None:
    check_all(play(acts))


@pytest.mark.parametrize("scenario", SCENARIOS + V2_SCENARIOS, ids=lambda s: s.name)
def test_every_scenario_reads_the_same_both_ways(scenario: Scenario) -> None:
    check_all(scenario.records())


def _record(seq: int, statement: dict[str, Any], keys: tuple[str, ...]) -> LogRecord:
    return LogRecord(seq, at(seq), parse_statement(statement), keys)


@settings(max_examples=100, deadline=None)
@given(
    compute=st.one_of(
        st.floats(min_value=1e-300, max_value=1e300, allow_nan=False, allow_infinity=False),
        st.integers(1, 10**18).map(float),
    ),
    note=st.one_of(st.none(), st.text(max_size=40)),
    seconds=st.integers(0, 10**6),
    micros=st.integers(0, 999_999),
)
def test_values_read_the_same_both_ways(
    compute: float, note: str | None, seconds: int, micros: int
) -> None:
    """Floats written as integers by JCS, any text (escapes, non-ASCII), fractional times."""
    issued = at(0) + timedelta(seconds=seconds, microseconds=micros)
    statement: dict[str, Any] = {
        "type": "compute_measured",
        "id": "c1",
        "issued_at": issued.isoformat().replace("+00:00", "Z"),
        "issuer": "eval",
        "model": "m1",
        "effective_compute": compute,
    }
    if note is not None:
        statement["note"] = note
    r = LogRecord(7, issued, parse_statement(statement), (kid("eval"), kid("ceo")))
    try:
        leaf_of(r)
    except MalformedEnvelopeError:
        assume(False)  # not canonical JSON (an integer beyond 2**53): no ledger holds it
    check_all([r])


def test_other_forms_go_the_reference_way() -> None:
    r = _record(
        3,
        {
            "type": "model_registered",
            "id": "m1-reg",
            "issued_at": "2025-01-01T00:00:00Z",
            "issuer": "eval",
            "model": "m1",
            "name": "Model One",
            "parent": None,
            "effective_compute": 1e25,
        },
        (kid("eval"),),
    )
    canonical_leaf = leaf_of(r)
    spaced = json.dumps(json.loads(canonical_leaf), indent=1).encode()
    assert _ENTRY.fullmatch(spaced) is None
    assert_same(record_of(spaced, 3), r)

    # The entry's form is the ledger's, but the statement is not valid: the reference way's error.
    entry = json.loads(canonical_leaf)
    bad = {**json.loads(base64.b64decode(entry["envelope"]["payload"])), "extra": 1}
    entry["envelope"]["payload"] = base64.b64encode(
        json.dumps(bad, separators=(",", ":")).encode()
    ).decode()
    leaf = json.dumps(entry, separators=(",", ":"), sort_keys=True).encode()
    assert _ENTRY.fullmatch(leaf) is not None
    with pytest.raises(StoredEntryError, match="unexpected field 'extra'"):
        record_of(leaf, 3)

    # Another seq than expected: refused, as the reference way refuses it.
    with pytest.raises(StoredEntryError, match="expected entry 4, found seq 3"):
        record_of(canonical_leaf, 4)
