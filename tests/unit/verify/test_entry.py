"""`entry_bytes` writes exactly the RFC 8785 form of `{"seq", "recorded_at", "envelope"}` that
the reference encoder writes, for every envelope, on its direct path and on its fallback."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.ids import format_time
from domain.statements import parse_statement
from verify.dsse import PAYLOAD_TYPE, Envelope, EnvelopeSignature
from verify.entry import entry_bytes
from verify.jcs import canonical_reference

STATEMENT = parse_statement(
    {
        "type": "noncompliance_reported",
        "id": "n-1",
        "issued_at": "2025-05-14T09:00:00Z",
        "issuer": "eve",
        "regarding": None,
        "summary": "late",
    }
)
HEX = "0123456789abcdef"


def reference(seq: int, at: datetime, env: Envelope) -> bytes:
    return canonical_reference(
        {"seq": seq, "recorded_at": format_time(at), "envelope": env.to_json()}
    )


signatures = st.lists(
    st.builds(
        EnvelopeSignature,
        st.text(HEX, min_size=64, max_size=64)
        | st.text(min_size=0, max_size=70),  # not a key id a parsed envelope could carry
        st.binary(min_size=0, max_size=80),
    ),
    min_size=1,
    max_size=3,
)
envelopes = st.builds(
    Envelope,
    st.sampled_from([PAYLOAD_TYPE, "application/vnd.in-toto+json", 'odd"type\\é']),
    st.binary(max_size=300),
    signatures.map(tuple),
    st.just(STATEMENT),
)
times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**53 - 1), times, envelopes)
def test_entry_bytes_are_the_reference_jcs(seq: int, at: datetime, env: Envelope) -> None:
    assert entry_bytes(seq, at, env) == reference(seq, at, env)


def test_an_entry_reads_back_as_written() -> None:
    env = Envelope(PAYLOAD_TYPE, b'{"x":1}', (EnvelopeSignature("a" * 64, bytes(64)),), STATEMENT)
    at = datetime(2025, 5, 14, 9, 0, 0, 120000, tzinfo=UTC)
    leaf = entry_bytes(7, at, env)
    assert leaf == reference(7, at, env)
    assert leaf.startswith(b'{"envelope":{"payload":"eyJ4IjoxfQ==","payloadType":')
    assert leaf.endswith(b'"recorded_at":"2025-05-14T09:00:00.12Z","seq":7}')
    other = replace(env, payload_type="other/type")
    assert entry_bytes(7, at + timedelta(seconds=1), other) == reference(
        7, at + timedelta(seconds=1), other
    )
