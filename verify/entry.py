"""Log entries (SPEC §3): `{"seq", "recorded_at", "envelope"}` as exact JCS bytes.

The leaf of the Merkle tree is SHA-256(0x00 ‖ `Entry.leaf`); `leaf` is kept exactly as hashed and
never rebuilt from the parsed fields.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from domain.ids import TimeFormatError, format_time, parse_time
from domain.log import LogRecord
from verify.dsse import PAYLOAD_TYPE, Envelope, parse_envelope
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


_HEX = "0123456789abcdef"
_SAFE_SEQ = 2**53 - 1


def entry_bytes(seq: int, recorded_at: datetime, envelope: Envelope) -> bytes:
    """The JCS bytes of a new entry.

    An envelope as `parse_envelope` makes it has only ASCII strings that need no escaping (the
    fixed payload type, base64, lowercase hex key ids), so its JCS form is written directly, keys
    in JCS order; any other envelope goes through `canonical` (the test holds the two equal).
    """
    when = format_time(recorded_at)
    if (
        envelope.payload_type == PAYLOAD_TYPE
        and type(seq) is int
        and 0 <= seq <= _SAFE_SEQ
        and all(len(s.keyid) == 64 and not s.keyid.strip(_HEX) for s in envelope.signatures)
    ):
        sigs = ",".join(
            f'{{"keyid":"{s.keyid}","sig":"{base64.b64encode(s.sig).decode()}"}}'
            for s in envelope.signatures
        )
        return (
            f'{{"envelope":{{"payload":"{base64.b64encode(envelope.payload).decode()}",'
            f'"payloadType":"{PAYLOAD_TYPE}","signatures":[{sigs}]}},'
            f'"recorded_at":"{when}","seq":{seq}}}'
        ).encode("ascii")
    return canonical({"seq": seq, "recorded_at": when, "envelope": envelope.to_json()})


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
