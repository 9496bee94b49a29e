"""Where a projection reads the log from: an `EntrySource` the caller wires (the CLI wraps the
ledger's store; tests and benchmarks may use a list).

A projection never imports the ledger (STYLE.md layers): it reads exact leaf bytes by seq.

`record_of(leaf)` turns the store's own entry bytes into a `LogRecord`. It parses the statement
with the same strict schema as the verifier (`parse_statement`), but does not re-check the byte
form of the entry or the signatures: the ledger checked both when it accepted the entry, and a
read model is never the judge of a log's integrity (the verifier is).

A rebuild reads every entry, so `record_of` reads the form the ledger writes (verify.entry's
`entry_bytes`: the fixed payload type, base64, lowercase hex key ids, in JCS order) with one
regular expression instead of a JSON parser, and validates the statement's JSON bytes with the
same pydantic schema directly (`validate_json`, no dict in between). Anything else — another
form, or bytes that fail either step — goes the reference way (`record_of_reference`), which
gives the same record or says why there is none. The two give equal records, statement fields
and fields set included (tests/unit/projections/test_source.py).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Iterable, Sequence
from sys import intern
from typing import Protocol

from pydantic import TypeAdapter, ValidationError

from domain.errors import MalformedStatementError
from domain.ids import TimeFormatError, parse_time
from domain.log import LogRecord
from domain.statements import Statement, parse_statement
from verify.dsse import PAYLOAD_TYPE

from .errors import StoredEntryError

# Entries recorded in one batch share their time: parse each time once.
_recorded_at = functools.lru_cache(maxsize=4096)(parse_time)

# verify.entry.entry_bytes's direct form of an entry, whole (matched with fullmatch).
_B64 = rb"[A-Za-z0-9+/]*={0,2}"
_SIGNATURE = rb'\{"keyid":"[0-9a-f]{64}","sig":"' + _B64 + rb'"\}'
_ENTRY = re.compile(
    rb'\{"envelope":\{"payload":"('
    + _B64
    + rb')","payloadType":"'
    + re.escape(PAYLOAD_TYPE.encode("ascii"))
    + rb'","signatures":\[('
    + _SIGNATURE
    + rb"(?:,"
    + _SIGNATURE
    + rb")*)\]\},"
    rb'"recorded_at":"([0-9T:.Z-]+)","seq":(0|[1-9][0-9]{0,15})\}'
)
_KEYID = re.compile(rb'"keyid":"([0-9a-f]{64})"')


@functools.cache
def _statements() -> TypeAdapter[Statement]:
    # Made on first use: a command that reads no entry does not pay for it at start.
    return TypeAdapter(Statement)


class EntrySource(Protocol):
    """The log, as a projection reads it."""

    def size(self) -> int:
        """How many entries the log holds (seq 0 … size − 1)."""

    def leaves(self, start: int, stop: int) -> Iterable[bytes]:
        """The exact bytes of entries [start, stop), in seq order."""

    def leaves_at(self, seqs: Sequence[int]) -> Iterable[bytes]:
        """The exact bytes of the entries at `seqs` (ascending), in that order."""

    def wait(self, size: int, timeout: float) -> int:
        """Block until the log holds more than `size` entries, or `timeout` seconds pass;
        return the size then."""


def record_of(leaf: bytes, expected_seq: int | None = None) -> LogRecord:
    """The `LogRecord` of one stored entry (SPEC §3 `{"seq", "recorded_at", "envelope"}`)."""
    found = _ENTRY.fullmatch(leaf) if type(leaf) is bytes else None
    if found is not None:
        try:
            statement = _statements().validate_json(base64.b64decode(found[1], validate=True))
            record = LogRecord(
                int(found[4]),
                _recorded_at(found[3].decode("ascii")),
                statement,
                tuple(intern(k.decode("ascii")) for k in _KEYID.findall(found[2])),
            )
        except (ValueError, binascii.Error, TimeFormatError, ValidationError):
            pass  # the reference way says why
        else:
            if expected_seq is None or record.seq == expected_seq:
                return record
    return record_of_reference(leaf, expected_seq)


def record_of_reference(leaf: bytes, expected_seq: int | None = None) -> LogRecord:
    """`record_of` through the JSON parser and `parse_statement`, for any form of entry."""
    try:
        entry = json.loads(leaf)
        envelope = entry["envelope"]
        payload = json.loads(base64.b64decode(envelope["payload"], validate=True))
        record = LogRecord(
            int(entry["seq"]),
            _recorded_at(entry["recorded_at"]),
            parse_statement(payload),
            tuple(str(s["keyid"]) for s in envelope["signatures"]),
        )
    except (
        ValueError,
        KeyError,
        TypeError,
        binascii.Error,
        TimeFormatError,
        MalformedStatementError,
    ) as e:
        where = f"entry {expected_seq}" if expected_seq is not None else "an entry"
        raise StoredEntryError(f"{where} of the log cannot be read: {e}") from e
    if expected_seq is not None and record.seq != expected_seq:
        raise StoredEntryError(f"expected entry {expected_seq}, found seq {record.seq}")
    return record


class ListSource:
    """An in-memory log of leaf bytes (tests, benchmarks); `wait` never blocks."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.items: list[bytes] = list(leaves)

    def append(self, leaf: bytes) -> None:
        self.items.append(leaf)

    def size(self) -> int:
        return len(self.items)

    def leaves(self, start: int, stop: int) -> Iterable[bytes]:
        return self.items[start:stop]

    def leaves_at(self, seqs: Sequence[int]) -> Iterable[bytes]:
        return [self.items[s] for s in seqs]

    def wait(self, size: int, timeout: float) -> int:
        return len(self.items)
