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
- one committer thread per worker process; it stops when the process asks it to (`close`).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from ledger.db import DatabaseUnavailableError
from ledger.errors import EnvelopeRefusedError
from ledger.store import Ledger, RecordedEntry, Submission

log = logging.getLogger("rsp_ledger.service")

# At most this many submissions per transaction: well below the size at which the store checks
# signatures in a process pool (ledger/signatures.py), which a threaded server must not fork.
MAX_GROUP = 128
IDLE_WAIT_S = 0.5
# A submitter never waits forever: the store's own lock wait is bounded well below this.
ANSWER_TIMEOUT_S = 300.0


@dataclass
class _Pending:
    submission: Submission
    futures: list[Future[tuple[RecordedEntry, int]]] = field(default_factory=list)


class GroupCommitter:
    """Records submissions in groups; `submit` blocks until its own group has committed.

    The answer is the entry and the size of the tree its transaction committed (its receipt
    proves inclusion in that tree).
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="rsp-ledger-group-commit", daemon=True
        )
        self._thread.start()

    def submit(
        self, submission: Submission, recorded_at: datetime | None = None
    ) -> tuple[RecordedEntry, int]:
        if recorded_at is not None:  # asserted time: one batch, one time
            entry = self._ledger.submit(
                submission.envelope, detail=submission.detail, recorded_at=recorded_at
            )
            return entry, entry.seq + 1 if not entry.existing else self._size()
        future: Future[tuple[RecordedEntry, int]] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._queue.append(_Pending(submission, [future]))
            self._cond.notify()
        return future.result(timeout=ANSWER_TIMEOUT_S)

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
                group = self._take_group()
            self._commit(group)

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
            size = max(entry.seq for entry in entries) + 1
            for pending, entry in zip(group, entries, strict=True):
                self._answer(pending, (entry, size if not entry.existing else self._size()))
            return
        for pending in group:
            self._commit_alone(pending)

    def _commit_alone(self, pending: _Pending) -> None:
        try:
            entry = self._ledger.submit_batch([pending.submission], workers=1)[0]
            answer = (entry, entry.seq + 1 if not entry.existing else self._size())
        except Exception as e:
            self._fail([pending], e)
            return
        self._answer(pending, answer)

    def _size(self) -> int:
        return self._ledger.size()

    @staticmethod
    def _answer(pending: _Pending, answer: tuple[RecordedEntry, int]) -> None:
        for future in pending.futures:
            if not future.done():
                future.set_result(answer)

    @staticmethod
    def _fail(group: list[_Pending], error: BaseException) -> None:
        for pending in group:
            for future in pending.futures:
                if not future.done():
                    future.set_exception(error)


def _same(a: Submission, b: Submission) -> bool:
    return a.envelope.same_as(b.envelope) and a.detail == b.detail
