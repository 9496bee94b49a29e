"""Group commit: the submits that arrive while a write is in progress are recorded together, in the
next transaction, as PostgreSQL groups commits (and as a log sequencer batches).

Appends to one log are serial by nature (each takes the head lock, and the head lock is held
through the commit's flush to disk). One transaction for many concurrent submits takes the lock,
flushes and signs a checkpoint once for all of them, instead of once each.

Invariants:
- every submit still gets exactly the answer it would get alone: its own entry, or its own
  refusal. A batch is all-or-nothing (SPEC §2 batches), so when the store refuses one line, that
  submission is taken out and recorded (or refused) on its own, and the rest are tried again;
- a submission is acknowledged only after the transaction that holds it has committed;
- two submissions of one statement id never share a transaction: the same envelope shares the
  first one's answer (a resubmission), another envelope goes to a later group (and is refused
  there as a conflict, as it would be alone);
- submissions with an operator-supplied `recorded_at` (asserted ledgers) are recorded one at a
  time, since a batch has one `recorded_at`;
- a group waits a little for the submitters the last group answered (`_gather`): they are
  likely to send again within an HTTP round trip, and a transaction that leaves without them
  makes them wait for the whole next one. The wait is bounded by `GATHER_MAX_S` and by a share of
  the last transaction's time, and ends as soon as they are all queued; a lone submitter never
  waits;
- one committer thread per worker process; it stops when the process asks it to (`close`);
- what each submitter needs after the commit (its receipt, its verdict) is made by `complete`
  for the whole group at once, in the committer thread, in seq order: one read for the group's
  proofs instead of one per submit, and the compliance engine fed in order without reading back
  what this worker has just written. A failure there fails the group's answers, not its entries
  (they are committed; a retry is a resubmission, which answers with the entry).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from ledger.db import DatabaseUnavailableError
from ledger.errors import EnvelopeRefusedError
from ledger.store import Ledger, RecordedEntry, Submission

log = logging.getLogger("rsp_ledger.service")

# At most this many submissions per transaction: well below the size at which the store checks
# signatures in a process pool (ledger/signatures.py), which a threaded server must not fork.
MAX_GROUP = 128
IDLE_WAIT_S = 0.5
# The longest a group waits for the submitters expected back, and the share of the last
# transaction's duration it may spend waiting (waiting longer than a commit takes gains nothing).
GATHER_MAX_S = 0.005
GATHER_SHARE = 0.5
# A submitter never waits forever: the store's own lock wait is bounded well below this.
ANSWER_TIMEOUT_S = 300.0


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Committed:
    """One submission's outcome: its entry (new or, for a resubmission, the existing one) and the
    size of a committed tree that holds it (the tree its transaction committed, for a new one)."""

    submission: Submission
    entry: RecordedEntry
    size: int


Answer = tuple[RecordedEntry, int]
# Turns a committed group, in seq order, into each submitter's answer (in the same order).
Complete = Callable[[Sequence[Committed]], Sequence[T]]


def entry_and_size(group: Sequence[Committed]) -> list[Answer]:
    return [(c.entry, c.size) for c in group]


@dataclass
class _Pending:
    submission: Submission
    futures: list[Future[Any]] = field(default_factory=list)


class GroupCommitter(Generic[T]):
    """Records submissions in groups; `submit` blocks until its own group has committed.

    The answer is what `complete` makes of the committed entry; by default the entry and the size
    of the tree its transaction committed (its receipt proves inclusion in that tree).
    """

    @overload
    def __init__(self: GroupCommitter[Answer], ledger: Ledger) -> None: ...

    @overload
    def __init__(self, ledger: Ledger, complete: Complete[T]) -> None: ...

    def __init__(self, ledger: Ledger, complete: Complete[Any] = entry_and_size) -> None:
        self._ledger = ledger
        self._complete: Complete[T] = complete
        self._queue: list[_Pending] = []
        # Submitters expected in the next group: those the last one answered and those that
        # queued meanwhile (PostgreSQL's commit_siblings, measured rather than configured).
        self._expected = 1
        self._last_commit_s = 0.0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="rsp-ledger-group-commit", daemon=True
        )
        self._thread.start()

    def submit(self, submission: Submission, recorded_at: datetime | None = None) -> T:
        if recorded_at is not None:  # asserted time: one batch, one time
            return self._alone_at(submission, recorded_at)
        return self._enqueue(submission).result(timeout=ANSWER_TIMEOUT_S)

    async def submit_async(self, submission: Submission, recorded_at: datetime | None = None) -> T:
        """`submit` for an event loop: the loop waits for the group without holding a thread."""
        if recorded_at is not None:
            return await asyncio.to_thread(self._alone_at, submission, recorded_at)
        future = asyncio.wrap_future(self._enqueue(submission))
        return await asyncio.wait_for(future, ANSWER_TIMEOUT_S)

    def _enqueue(self, submission: Submission) -> Future[T]:
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._queue.append(_Pending(submission, [future]))
            self._cond.notify()
        return future

    def _alone_at(self, submission: Submission, recorded_at: datetime) -> T:
        entry = self._ledger.submit(
            submission.envelope, detail=submission.detail, recorded_at=recorded_at
        )
        size = entry.seq + 1 if not entry.existing else self._size()
        return self._complete([Committed(submission, entry, size)])[0]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=30)

    # -- the committer thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait(IDLE_WAIT_S)
                if self._closed and not self._queue:
                    return
                self._gather()
                group = self._take_group()
            started = time.monotonic()
            self._commit(group)
            with self._cond:
                self._last_commit_s = time.monotonic() - started
                self._expected = min(MAX_GROUP, len(group) + len(self._queue))

    def _gather(self) -> None:
        """Wait, briefly, until the submitters expected back are queued (caller holds the lock)."""
        wait = min(GATHER_MAX_S, GATHER_SHARE * self._last_commit_s)
        deadline = time.monotonic() + wait
        while len(self._queue) < self._expected and not self._closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

    def _take_group(self) -> list[_Pending]:
        """Up to MAX_GROUP queued submissions with distinct statement ids (caller holds the lock)."""
        group: dict[str, _Pending] = {}
        later: list[_Pending] = []
        for pending in self._queue:
            sid = pending.submission.envelope.statement.id
            first = group.get(sid)
            if first is None and len(group) < MAX_GROUP:
                group[sid] = pending
            elif first is not None and _same(first.submission, pending.submission):
                first.futures.extend(pending.futures)
            else:
                later.append(pending)
        self._queue = later
        return list(group.values())

    def _commit(self, group: list[_Pending]) -> None:
        try:
            self._commit_group(group)
        except Exception as e:  # never leave a submitter waiting, whatever went wrong
            log.error("group commit failed", exc_info=e)
            self._fail(group, e)

    def _commit_group(self, group: list[_Pending]) -> None:
        while len(group) > 1:
            try:
                entries = self._ledger.submit_batch([p.submission for p in group], workers=1)
            except EnvelopeRefusedError as e:
                if e.line is None or not 1 <= e.line <= len(group):
                    break  # not one line's fault: each alone, below
                # Take the refused line out and record it alone, for its own answer; the others
                # are tried again without it.
                self._commit_alone(group.pop(e.line - 1))
                continue
            except DatabaseUnavailableError as e:
                self._fail(group, e)  # nothing was recorded; the clients retry (503)
                return
            except Exception as e:
                log.warning("group of %d failed (%s); recording each alone", len(group), e)
                break
            self._finish(group, entries)
            return
        for pending in group:
            self._commit_alone(pending)

    def _commit_alone(self, pending: _Pending) -> None:
        try:
            entry = self._ledger.submit_batch([pending.submission], workers=1)[0]
        except Exception as e:
            self._fail([pending], e)
            return
        try:
            self._finish([pending], [entry])
        except Exception as e:
            log.error("answering a committed submission failed", exc_info=e)
            self._fail([pending], e)

    def _finish(self, group: list[_Pending], entries: list[RecordedEntry]) -> None:
        """Answer a committed group: `complete` over it in seq order."""
        new = [e.seq for e in entries if not e.existing]
        size = max(new) + 1 if new else 0  # the tree this group's transaction committed
        latest = self._size() if len(new) < len(entries) else size
        order = sorted(range(len(group)), key=lambda i: entries[i].seq)
        answers = self._complete(
            [
                Committed(group[i].submission, entries[i], latest if entries[i].existing else size)
                for i in order
            ]
        )
        for i, answer in zip(order, answers, strict=True):
            for future in group[i].futures:
                if not future.done():
                    future.set_result(answer)

    def _size(self) -> int:
        return self._ledger.size()

    @staticmethod
    def _fail(group: list[_Pending], error: BaseException) -> None:
        for pending in group:
            for future in pending.futures:
                if not future.done():
                    future.set_exception(error)


def _same(a: Submission, b: Submission) -> bool:
    return a.envelope.same_as(b.envelope) and a.detail == b.detail
