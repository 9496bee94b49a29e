"""Log entries (SPEC §3): `{"seq", "recorded_at", "envelope"}` as exact JCS bytes.

The leaf of the Merkle tree is SHA-256(0x00 ‖ `Entry.leaf`); `leaf` is kept exactly as hashed and
never rebuilt from the parsed fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.ids import TimeFormatError, format_time, parse_time
from domain.log import LogRecord
from verify.dsse import Envelope, parse_envelope
from verify.errors import MalformedEnvelopeError, NotCanonicalError
from verify.jcs import canonical, parse_canonical

_ENTRY_FIELDS = frozenset({"seq", "recorded_at", "envelope"})


class MalformedEntryError(MalformedEnvelopeError):
    """An entry line is not the JCS form of `{"seq", "recorded_at", "envelope"}`."""


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    recorded_at: datetime
    envelope: Envelope
    leaf: bytes  # JCS bytes, exactly as hashed (SPEC §3)

    def record(self) -> LogRecord:
        return LogRecord(self.seq, self.recorded_at, self.envelope.statement, self.envelope.key_ids)


def entry_bytes(seq: int, recorded_at: datetime, envelope: Envelope) -> bytes:
    """The JCS bytes of a new entry."""
    return canonical(
        {"seq": seq, "recorded_at": format_time(recorded_at), "envelope": envelope.to_json()}
    )


def make_entry(seq: int, recorded_at: datetime, envelope: Envelope) -> Entry:
    return Entry(seq, recorded_at, envelope, entry_bytes(seq, recorded_at, envelope))


def parse_entry(leaf: bytes) -> Entry:
    """Exact JCS bytes of an entry become an `Entry`, or `MalformedEntryError` says why not."""
    try:
        obj = parse_canonical(leaf)
    except NotCanonicalError as e:
        raise MalformedEntryError(f"entry: {e}") from e
    if not isinstance(obj, dict) or set(obj) != _ENTRY_FIELDS:
        found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise MalformedEntryError(
            f"entry: expected exactly seq, recorded_at, envelope; found {found}"
        )
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise MalformedEntryError(f"entry: expected seq as a whole number ≥ 0, found {seq!r}")
    try:
        recorded_at = parse_time(obj["recorded_at"])
    except TimeFormatError as e:
        raise MalformedEntryError(f"entry {seq}: recorded_at: {e}") from e
    try:
        envelope = parse_envelope(obj["envelope"])
    except MalformedEnvelopeError as e:
        raise MalformedEntryError(f"entry {seq}: {e}") from e
    return Entry(seq, recorded_at, envelope, leaf)
