"""A rebuild replayed by several processes, each with its share of the models (issue 5).

A rebuild's cost is the compliance engine's: one pass over the log, judging every entry. The
models' parts of the log are independent of each other (`projections.relevance`): replaying

    R(keys) = the entries whose home is in the groups of `keys` or in the group of ORG,
              plus every `model_registered`

through the engine gives every statement whose home is in `keys` exactly the verdict, facts and
timeline of a replay of the whole log. So the homes are dealt to N worker processes (forked), in
the order they first appear, and worker k replays R(its homes) through its own `StateTracker` —
the same engine, nothing re-implemented — and sends back its homes' rows; worker 0 also owns the
organisation (ORG), the log's index and the groups. The parent writes them all in one
transaction, in the order a replay in one process writes them, so the tables are the same bytes.

The parent reads each page of the log's bytes once and sends it to every worker; every worker
parses and indexes every entry (a home and a group depend on earlier entries of any home), and
replays its share. A worker reads an old cited record back (`StateTracker`'s `whole`) by asking
the parent, which holds the entry source; the workers never touch the database.

Organisation-wide entries are replayed by every worker: a withdrawal of an organisation-wide
safeguards determination or attestation (its home is ORG), and a key compromise (home ORG), void
in each worker whatever of its own relies on them, as they do in one process.

A history the shards cannot replay exactly is detected, and rebuilt in one process instead
(`Replay.fallback` says why):
- a citation joins homes dealt to different workers, or joins a model to the group of ORG: an
  entry a worker skipped would now be part of what it must replay;
- a policy that imposes duties over time comes into force: verdicts then depend on the time of
  the log's last entry, and a cold replay of such a log is done whole (as `catch_up` does);
- a worker's tracker gives a replayed entry another home than the log's index (it cannot, by
  the argument above; it costs nothing to check).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import os
import pickle
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from domain.log import LogRecord
from domain.state import ORG, StateTracker

from .bulk import bulk_load
from .errors import ProjectionError
from .relevance import Groups, index_entry
from .replayed import IndexColumns, Replayed
from .rows import Rows, rows_of, safeguards_values, timeline_values, verdict_values
from .source import record_of

if TYPE_CHECKING:
    from .projection import StateProjection

# Below this many entries one process is faster: every worker parses every entry, and starting
# them costs a fork and a page of pickles each.
MIN_ENTRIES = 20_000
# More workers than this parse the log more often than they save on judging it.
MAX_WORKERS = 4
PAGE = 2000
STAGE_EVENTS = 20_000


def usable_cores() -> int:
    """The cores this process may run on (its affinity), as the ledger's signature workers
    count them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def workers_for(entries: int) -> int:
    """How many processes a replay of `entries` entries runs in when the caller does not say."""
    if entries < MIN_ENTRIES or "fork" not in get_all_start_methods():
        return 1
    return max(1, min(MAX_WORKERS, usable_cores()))


@dataclass(frozen=True, slots=True)
class Replay:
    """How the last full replay ran: in how many processes, and why in one when more were
    asked for (`fallback`)."""

    workers: int
    fallback: str | None = None


class _Unshardable(Exception):
    """A worker found a history its share cannot be replayed exactly from."""


# -- the parent --------------------------------------------------------------------------------


class _Workers:
    """The worker processes of one replay, their pipes, and the parent's two threads that feed
    them the log and answer their requests for old entries."""

    def __init__(self, projection: StateProjection, end: int, count: int) -> None:
        ctx = get_context("fork")
        self.feeds: list[Pipe] = []
        self.outs: list[Pipe] = []
        self.asks: list[Pipe] = []
        self.procs: list[Any] = []
        self.stop = threading.Event()
        self.failures: list[BaseException] = []
        self.inboxes: list[_Inbox] = []
        for k in range(count):
            feed_r, feed_w = ctx.Pipe(duplex=False)
            out_r, out_w = ctx.Pipe(duplex=False)
            ask_parent, ask_child = ctx.Pipe(duplex=True)
            p = ctx.Process(
                target=_work,
                args=(projection.window, k, count, feed_r, out_w, ask_child),
                name=f"rsp-projection-replay-{k}",
                daemon=True,
            )
            self.procs.append(p)
            self.feeds.append(feed_w)
            self.outs.append(out_r)
            self.asks.append(ask_parent)
            # Forked before the threads below start: a worker holds none of their locks.
            p.start()
            feed_r.close()
            out_w.close()
            ask_child.close()
        self.threads = (
            threading.Thread(
                target=_feed, args=(projection, end, self.feeds, self.stop, self.failures)
            ),
            threading.Thread(
                target=_answer, args=(projection, self.asks, self.stop, self.failures)
            ),
        )
        for t in self.threads:
            t.daemon = True
            t.start()

    def fed(self) -> None:
        """Wait for the feeder; raise what it (or the answerer) failed with."""
        self.threads[0].join()
        if self.failures:
            raise self.failures[0]

    def close(self, *, done: bool = False) -> None:
        """Stop the workers this replay started (each by its own process object; `done`: they
        have sent everything and are ending by themselves), the threads, and close the pipes.
        Harmless to repeat."""
        self.stop.set()
        for p in self.procs:
            if done:
                p.join(timeout=5)
            if p.is_alive():
                p.terminate()
            p.join()
        for c in (*self.feeds, *self.outs, *self.asks):
            c.close()
        for t in self.threads:
            t.join()
        for inbox in self.inboxes:
            inbox.thread.join()


def replay(projection: StateProjection, conn: Connection, end: int, count: int) -> Replayed | None:
    """Replay entries [0, end) in `count` worker processes, staging the timeline through
    `conn`; None (and `projection.last_replay` says why) when the history cannot be sharded.
    The caller closes the result once it has written it (`Replayed.close`)."""
    workers = _Workers(projection, end, count)
    try:
        groups, at, inboxes = _receive_replay(projection, conn, workers.outs, end)
        workers.inboxes = inboxes
        workers.fed()
        rows = _receive_rows(inboxes)
    except _Unshardable as e:
        workers.close()
        projection.last_replay = Replay(workers=1, fallback=str(e))
        return None
    except BaseException:
        workers.close()
        raise
    projection.last_replay = Replay(workers=count)
    return Replayed(
        at=at,
        index=None,
        groups=groups,
        rows=rows,
        safeguards=_Merged(inboxes, "safeguards"),
        verdicts=_Merged(inboxes, "verdicts"),
        close=functools.partial(workers.close, done=True),
    )


def _feed(
    projection: StateProjection,
    end: int,
    feeds: list[Pipe],
    stop: threading.Event,
    failures: list[BaseException],
) -> None:
    """In a thread of the parent: every page of the log's bytes to every worker, then None."""
    try:
        for start in range(0, end, PAGE):
            if stop.is_set():
                return
            stop_at = min(end, start + PAGE)
            leaves = list(projection.source.leaves(start, stop_at))
            if len(leaves) != stop_at - start:
                raise ProjectionError(
                    f"the log gave {len(leaves)} entries from {start}, expected {stop_at - start}"
                )
            page = pickle.dumps((start, leaves), protocol=pickle.HIGHEST_PROTOCOL)
            for feed in feeds:
                feed.send_bytes(page)
        done = pickle.dumps(None)
        for feed in feeds:
            feed.send_bytes(done)
    except (BrokenPipeError, ConnectionResetError):
        pass  # a worker ended early: the parent reads why from its other pipe
    except BaseException as e:  # handed to the parent, which raises it
        failures.append(e)
        for feed in feeds:
            with contextlib.suppress(OSError):
                feed.send_bytes(pickle.dumps(None))


def _answer(
    projection: StateProjection,
    asks: list[Pipe],
    stop: threading.Event,
    failures: list[BaseException],
) -> None:
    """In a thread of the parent: the bytes of an old entry a worker's tracker cites."""
    open_asks = list(asks)
    while open_asks and not stop.is_set():
        for ask in wait(open_asks, timeout=0.1):
            assert isinstance(ask, Pipe)
            try:
                seq = ask.recv()
            except (EOFError, OSError):
                open_asks.remove(ask)
                continue
            try:
                (leaf,) = projection.source.leaves_at([seq])
            except Exception as e:  # the worker raises it where its tracker asked
                failures.append(e)
                ask.send(ProjectionError(f"the log gave no entry {seq}: {e}"))
            else:
                ask.send(leaf)


def _recv(out: Pipe) -> tuple[Any, ...]:
    try:
        data = out.recv_bytes()
    except (EOFError, OSError) as e:
        raise ProjectionError("a replay worker ended without its rows") from e
    return _decoded(data)


def _decoded(data: bytes) -> tuple[Any, ...]:
    message: tuple[Any, ...] = pickle.loads(data)
    match message:
        case ("error", error):
            raise error
        case ("unshardable", reason):
            raise _Unshardable(reason)
    return message


class _Inbox:
    """What a worker sends once it has replayed (its rows), read off its pipe by a thread as
    soon as it is sent, and kept as bytes until the write wants it: the worker makes its rows
    while the parent writes the tables before them, instead of waiting for each to be read."""

    def __init__(self, out: Pipe) -> None:
        self._queue: SimpleQueue[bytes | None] = SimpleQueue()
        self.thread = threading.Thread(target=self._drain, args=(out,), daemon=True)
        self.thread.start()

    def _drain(self, out: Pipe) -> None:
        try:
            while True:
                self._queue.put(out.recv_bytes())
        except (EOFError, OSError):
            self._queue.put(None)  # the worker ended (after its last message, or not)

    def get(self) -> tuple[Any, ...]:
        data = self._queue.get()
        if data is None:
            raise ProjectionError("a replay worker ended without its rows")
        return _decoded(data)


def _receive_replay(
    projection: StateProjection, conn: Connection, outs: list[Pipe], end: int
) -> tuple[list[dict[str, str]], Any, list[_Inbox]]:
    """While the workers replay: stage their timeline events, and the log's index that worker 0
    sends; then the groups, the last entry's time, and each worker's inbox for its rows."""
    indexed = 0
    projection._stage_index(conn)
    groups: list[dict[str, str]] = []
    at = None
    replaying = {id(o): k for k, o in enumerate(outs)}
    inboxes: dict[int, _Inbox] = {}
    while replaying:
        for out in wait([o for o in outs if id(o) in replaying]):
            assert isinstance(out, Pipe)
            match _recv(out):
                case ("events", values):
                    projection._stage_timeline(conn, values)
                case ("index", chunk):
                    recorded_us, statement_ids, types, homes = chunk
                    n = len(statement_ids)
                    times = array("q")
                    times.frombytes(recorded_us)
                    values = zip(
                        range(indexed, indexed + n), times, statement_ids, types, homes, strict=True
                    )
                    projection._stage_index(conn, values)
                    indexed += n
                case ("replayed", replayed, group_rows, last_at):
                    if replayed != end:
                        raise ProjectionError(f"a replay worker read {replayed} of {end} entries")
                    k = replaying.pop(id(out))
                    inboxes[k] = _Inbox(out)
                    if k == 0:
                        groups, at = group_rows, last_at
                case other:
                    raise ProjectionError(f"unexpected message from a replay worker: {other[0]}")
    if indexed != end:
        raise ProjectionError(f"the replay indexed {indexed} of {end} entries")
    return groups, at, [inboxes[k] for k in range(len(outs))]


class _Merged:
    """The rows of one table from every worker, merged into home order (the order of a replay
    in one process: every home's rows, homes sorted, each home's in seq order)."""

    def __init__(self, inboxes: list[_Inbox], table: str) -> None:
        self.inboxes = inboxes
        self.table = table

    def _stream(self, inbox: _Inbox) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
        while True:
            message = inbox.get()
            if message == (self.table, None):
                return
            if message[0] != self.table:
                raise ProjectionError(f"expected {self.table} rows, a worker sent {message[0]}")
            yield message[1], message[2]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for _, values in heapq.merge(*map(self._stream, self.inboxes), key=lambda m: m[0]):
            yield from values


def _receive_rows(inboxes: list[_Inbox]) -> Rows:
    """The model rows of every worker, sorted as one replay's; the organisation's row."""
    models: list[dict[str, Any]] = []
    org: list[dict[str, Any]] = []
    for inbox in inboxes:
        match inbox.get():
            case ("rows", m, o):
                models.extend(m)
                org.extend(o)
            case other:
                raise ProjectionError(f"expected model rows, a worker sent {other[0]}")
    models.sort(key=lambda r: str(r["model"]))
    return Rows(None, models=models, org=org)


# -- a worker ----------------------------------------------------------------------------------


def _send(out: Pipe, *message: Any) -> None:
    out.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _work(window: int, k: int, count: int, feed: Pipe, out: Pipe, ask: Pipe) -> None:
    """A worker process: replay R(the homes dealt to worker k) and send their rows."""
    try:
        with bulk_load():
            _replay_share(window, k, count, feed, out, ask)
    except _Unshardable as e:
        _send(out, "unshardable", str(e))
    except BaseException as e:
        try:
            _send(out, "error", e)
        except (pickle.PicklingError, TypeError, AttributeError):
            _send(out, "error", ProjectionError(f"a replay worker failed: {e!r}"))


def _replay_share(window: int, k: int, count: int, feed: Pipe, out: Pipe, ask: Pipe) -> None:
    def whole(seq: int) -> LogRecord:
        ask.send(seq)
        leaf = ask.recv()
        if isinstance(leaf, BaseException):
            raise leaf
        return record_of(leaf, seq)

    tracker = StateTracker(timeline_for=(), whole=whole, window=window)
    homes: dict[str, str] = {}
    groups = Groups()
    # The worker each home is dealt to, in the order homes first appear; ORG is worker 0's
    # (and replayed by every worker).
    owner: dict[str, int] = {ORG: 0}
    pending: list[tuple[Any, ...]] = []
    last: LogRecord | None = None
    seen = 0
    while (page := pickle.loads(feed.recv_bytes())) is not None:
        start, leaves = page
        index = IndexColumns()
        for i, leaf in enumerate(leaves):
            record = record_of(leaf, start + i)
            unions = len(groups.changed)
            entry = index_entry(record, homes, groups)
            home = entry.home
            if k == 0:
                index.add(entry)
            if home not in owner:
                owner[home] = len(owner) % count
            if len(groups.changed) != unions:
                _check_union(home, groups, owner)
            if home == ORG or owner[home] == k or entry.type == "model_registered":
                step = tracker.add(record)
                if step.home != home:
                    raise _Unshardable(
                        f"entry {record.seq}: the tracker's home {step.home!r} is not the "
                        f"index's {home!r}"
                    )
                pending.extend(timeline_values(e) for e in step.events if owner.get(e.key) == k)
                if tracker.has_duties:
                    raise _Unshardable(f"entry {record.seq}: a policy with duties came into force")
            last = record
        seen += len(leaves)
        if k == 0:
            _send(out, "index", index.chunk())
        if len(pending) >= STAGE_EVENTS:
            _send(out, "events", pending)
            pending = []
    if pending:
        _send(out, "events", pending)
    del pending, homes
    at = last.recorded_at if last is not None else None
    # Then the rows at once: the parent reads them off the pipe as they come (`_Inbox`).
    _send(out, "replayed", seen, groups.rows(groups.changed) if k == 0 else [], at)
    known = set(tracker.homes())
    mine = sorted(h for h, o in owner.items() if o == k and h in known)
    # Worker 0 writes the organisation's row, which an empty log has too.
    wanted = [*mine, ORG] if k == 0 else mine
    rows = rows_of(tracker, wanted, verdicts=False, timeline=False, safeguards=False)
    _send(out, "rows", rows.models, rows.org)
    for home in mine:
        found = [safeguards_values(s) for s in tracker.safeguards_of(home)]
        if found:
            _send(out, "safeguards", home, found)
    _send(out, "safeguards", None)
    for home in mine:
        # As of the log's last entry, as a replay in one process judges them.
        verdicts = [verdict_values(v, home) for v in tracker.verdicts_of(home, at)]
        if verdicts:
            _send(out, "verdicts", home, verdicts)
    _send(out, "verdicts", None)


def _check_union(home: str, groups: Groups, owner: dict[str, int]) -> None:
    """A citation has just joined `home`'s group with another: the shards stay exact only if
    the whole group is one worker's, and not the organisation's."""
    members = groups.members(home)
    if ORG in members:
        raise _Unshardable(f"a citation joins {home!r} with the organisation's group")
    dealt = {owner.get(h) for h in members}
    if len(dealt) > 1:
        raise _Unshardable(f"a citation joins homes of different workers: {sorted(members)}")
