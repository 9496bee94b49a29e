"""Where a projection reads the log from: an `EntrySource` the caller wires (the CLI wraps the
ledger's store; tests and benchmarks may use a list).

A projection never imports the ledger (STYLE.md layers): it reads exact leaf bytes by seq.

`record_of(leaf)` turns the store's own entry bytes into a `LogRecord`. It parses the statement
with the same strict schema as the verifier (`parse_statement`), but does not re-check the byte
form of the entry or the signatures: the ledger checked both when it accepted the entry, and a
read model is never the judge of a log's integrity (the verifier is).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Iterable, Sequence
from typing import Protocol

from domain.errors import MalformedStatementError
from domain.ids import TimeFormatError, parse_time
from domain.log import LogRecord
from domain.statements import parse_statement

from .errors import StoredEntryError

# Entries recorded in one batch share their time: parse each time once.
_recorded_at = functools.lru_cache(maxsize=4096)(parse_time)


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
