"""What the service keeps following the log: the compliance engine (for verdicts and submit's
warnings) and the store as the projection's entry source.

Invariants:
- the engine consumes the log strictly in seq order, catching up from the store on whatever other
  workers and hosts appended, so its verdicts are exactly the offline verifier's for that prefix;
- one lock per worker process guards the engine (the endpoints run in a thread pool);
- what other writers appended is read in one query per catch-up, as exact leaf bytes, and parsed
  and checked (seq and form) as the store's own reads check them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

from domain.compliance import ComplianceEngine, Verdict
from domain.errors import VerificationError
from domain.log import LogRecord
from ledger.errors import LedgerStateError
from ledger.store import Ledger, RecordedEntry
from verify.dsse import Envelope
from verify.entry import parse_entry

# Entries read per query when the engine catches up (a new worker on a long log reads it all).
CATCH_UP_PAGE = 1000


class ComplianceFeed:
    """One `ComplianceEngine` per worker, fed the log in seq order as it grows.

    Other workers and hosts append too, so before judging an entry the engine catches up on
    everything recorded before it, read back from the store. Verdicts are the engine's, so they
    are exactly those the offline verifier gives for the same prefix of the log.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._engine = ComplianceEngine()
        self._lock = threading.Lock()

    def _catch_up(self, stop: int) -> None:
        start = self._engine.entries
        if start >= stop:
            return
        source = StoreEntrySource(self._ledger)
        for page in range(start, stop, CATCH_UP_PAGE):
            leaves = source.leaves_in(page, min(stop, page + CATCH_UP_PAGE))
            for seq, leaf in enumerate(leaves, page):
                try:
                    entry = parse_entry(leaf)
                except VerificationError as e:
                    raise LedgerStateError(f"stored entry {seq} is corrupted: {e}") from e
                if entry.seq != seq:
                    raise LedgerStateError(f"stored entry at seq {seq} says seq {entry.seq}")
                self._engine.add(entry.record())

    def verdicts_for(self, recorded: list[tuple[RecordedEntry, Envelope]]) -> list[Verdict | None]:
        """The verdict each recorded statement gets (None when it is not judged, SPEC §5)."""
        out: list[Verdict | None] = []
        with self._lock:
            for entry, envelope in recorded:
                self._catch_up(entry.seq)
                if self._engine.entries == entry.seq:
                    record = LogRecord(
                        entry.seq, entry.recorded_at, envelope.statement, envelope.key_ids
                    )
                    out.append(self._engine.add(record))
                else:  # a resubmission, or an entry this worker has already read back
                    out.append(self._engine.verdict_of(entry.statement_id))
        return out

    def verdicts(self, size: int) -> list[Verdict]:
        with self._lock:
            self._catch_up(size)
            return self._engine.verdicts()


def compliance_warnings(verdict: Verdict | None) -> list[str]:
    if verdict is None or verdict.is_compliant:
        return []
    if not verdict.failed:
        return [f"{verdict.statement}: {verdict.verdict}"]
    return [
        f"{verdict.statement}: {verdict.verdict}: {f.rule}: {f.message}" for f in verdict.failed
    ]


class StoreEntrySource:
    """The ledger's store as the projection's `EntrySource`: exact leaf bytes by seq."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def size(self) -> int:
        return self.ledger.size()

    def leaves(self, start: int, stop: int) -> Iterable[bytes]:
        return self.ledger.raw_entries(start, stop)

    def leaves_in(self, start: int, stop: int) -> list[bytes]:
        """Entries [start, stop) in one read; a missing one is corruption (as in
        `Ledger.raw_entries`, which reads through eventsourcing's recorder, at more cost)."""
        rows = self.ledger.leaves_between(start, stop)
        for seq, (version, _) in enumerate(rows, start):
            if version != seq:
                raise LedgerStateError(f"entry {seq} is missing below {stop}: corrupted")
        if len(rows) != stop - start:
            raise LedgerStateError(f"entry {start + len(rows)} is missing below {stop}: corrupted")
        return [leaf for _, leaf in rows]

    def leaves_at(self, seqs: Sequence[int]) -> Iterable[bytes]:
        return [leaf for _, leaf in self.ledger.leaves_at(seqs)]

    def wait(self, size: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (current := self.ledger.size()) <= size and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        return current
