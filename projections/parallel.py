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

The parent reads each page of the log's bytes once and sends it to every worker. Worker 0
parses and indexes every entry (a home and a group depend on earlier entries of any home), deals
each new home to a worker, and tells each other worker which entries of the page it replays;
those parse only these. Since worker 0 also parses and indexes the whole log, it takes a smaller
share of the homes (`worker_0_share`). A worker reads an old cited record back
(`StateTracker`'s `whole`) by asking the parent, which holds the entry source; the workers
never touch the database.

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
import pickle
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from domain.log import LogRecord
from domain.state import ORG, StateTracker
from verify.cores import usable_cores

from .bulk import bulk_load
from .errors import ProjectionError
from .relevance import Groups, index_entry
from .replayed import IndexColumns, Replayed
from .rows import Rows, rows_of, safeguards_values, timeline_values, verdict_values
from .source import record_of

if TYPE_CHECKING:
    from .projection import StateProjection

# Below this many entries one process is about as fast: the workers start with a fork each,
# and worker 0 parses every entry (measured on the 100k bench ledger's first n entries: 2
# workers took 0.91x the time of one process at 5,000 entries, 0.74x at 10,000, 0.67x at 50,000).
MIN_ENTRIES = 10_000
# From 4 workers on, worker 0 only routes (`worker_0_share` is 0) and its parsing and indexing
# of the whole log take as long as each other worker's share: more would wait for it.
MAX_WORKERS = 4
PAGE = 2000
STAGE_EVENTS = 20_000


def workers_for(entries: int) -> int:
    """How many processes a replay of `entries` entries runs in when the caller does not say.

    One when the calling process runs other threads (the HTTP service answers `status` on a
    thread pool): a process forked while another thread holds a lock (the allocator's, a
    validator's cache) could wait for it forever."""
    if (
        entries < MIN_ENTRIES
        or "fork" not in get_all_start_methods()
        or threading.active_count() > 1
    ):
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
        # Worker 0 tells worker j (1 … count − 1) which entries it replays.
        routes = [ctx.Pipe(duplex=False) for _ in range(count - 1)]
        for k in range(count):
            feed_r, feed_w = ctx.Pipe(duplex=False)
            out_r, out_w = ctx.Pipe(duplex=False)
            ask_parent, ask_child = ctx.Pipe(duplex=True)
            p = ctx.Process(
                target=_work,
                args=(projection.window, k, count, feed_r, out_w, ask_child, routes),
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
        for r, w in routes:
            r.close()
            w.close()
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
    router_ended = False
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
                case ("router-ended",):
                    # Worker 0 stopped: its own message says why.
                    replaying.pop(id(out))
                    router_ended = True
                case ("replayed", replayed, group_rows, last_at):
                    if replayed != end:
                        raise ProjectionError(f"a replay worker read {replayed} of {end} entries")
                    k = replaying.pop(id(out))
                    inboxes[k] = _Inbox(out)
                    if k == 0:
                        groups, at = group_rows, last_at
                case other:
                    raise ProjectionError(f"unexpected message from a replay worker: {other[0]}")
    if router_ended:
        raise ProjectionError("worker 0 stopped routing entries, yet finished its replay")
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


def _work(
    window: int,
    k: int,
    count: int,
    feed: Pipe,
    out: Pipe,
    ask: Pipe,
    routes: list[tuple[Pipe, Pipe]],
) -> None:
    """A worker process: replay R(the homes dealt to worker k) and send their rows. Worker 0
    indexes every entry and deals the homes (`_route_and_replay`); the others replay what it
    routes to them (`_replay_routed`)."""
    # Each end of a route is held by one process only, so that its reader sees the end of it.
    for j, (r, w) in enumerate(routes, start=1):
        if k != 0:
            w.close()
        if j != k:
            r.close()
    try:
        with bulk_load():
            tracker, state = _tracker(window, ask), _Share(k, out)
            if k == 0:
                _route_and_replay(tracker, state, count, feed, [w for _, w in routes])
            else:
                _replay_routed(tracker, state, feed, routes[k - 1][0])
            state.send_rows(tracker)
    except _Unshardable as e:
        _send(out, "unshardable", str(e))
    except _RouterEnded:
        _send(out, "router-ended")
    except BaseException as e:
        try:
            _send(out, "error", e)
        except (pickle.PicklingError, TypeError, AttributeError):
            _send(out, "error", ProjectionError(f"a replay worker failed: {e!r}"))


class _RouterEnded(Exception):
    """Worker 0 stopped routing (it found the history unshardable, or failed): it says why."""


def _tracker(window: int, ask: Pipe) -> StateTracker:
    def whole(seq: int) -> LogRecord:
        ask.send(seq)
        leaf = ask.recv()
        if isinstance(leaf, BaseException):
            raise leaf
        return record_of(leaf, seq)

    return StateTracker(timeline_for=(), whole=whole, window=window)


class _Share:
    """What one worker replays and sends: its homes (the owners of the homes so far, as worker
    0 deals them), its timeline events, and at the end its rows."""

    def __init__(self, k: int, out: Pipe) -> None:
        self.k = k
        self.out = out
        self.owner: dict[str, int] = {ORG: 0}
        self.pending: list[tuple[Any, ...]] = []
        self.seen = 0
        self.at: datetime | None = None  # the log's last entry's time
        self.groups: list[dict[str, str]] = []

    def replay(self, tracker: StateTracker, record: LogRecord, home: str) -> None:
        step = tracker.add(record)
        if step.home != home:
            raise _Unshardable(
                f"entry {record.seq}: the tracker's home {step.home!r} is not the index's {home!r}"
            )
        k, owner = self.k, self.owner
        self.pending.extend(timeline_values(e) for e in step.events if owner.get(e.key) == k)
        if tracker.has_duties:
            raise _Unshardable(f"entry {record.seq}: a policy with duties came into force")

    def staged(self) -> None:
        if len(self.pending) >= STAGE_EVENTS:
            _send(self.out, "events", self.pending)
            self.pending = []

    def send_rows(self, tracker: StateTracker) -> None:
        """The rest of the events, then every row of this worker's homes, at once: the parent
        reads them off the pipe as they come (`_Inbox`)."""
        out, k, at = self.out, self.k, self.at
        if self.pending:
            _send(out, "events", self.pending)
        self.pending = []
        _send(out, "replayed", self.seen, self.groups, at)
        known = set(tracker.homes())
        mine = sorted(h for h, o in self.owner.items() if o == k and h in known)
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


def worker_0_share(count: int) -> float:
    """The share of the homes worker 0 replays itself. It also parses and indexes every entry
    (about a third of what replaying an entry costs, parsing included), so that with a share
    s of its own it does 0.34 + 0.71 s, and each other worker (1 − s) / (count − 1) (per
    entry of the log, in units of replaying one): equal at this s."""
    return max(0.0, (1 - 0.34 * (count - 1)) / (1 + 0.71 * (count - 1)))


def _route_and_replay(
    tracker: StateTracker, share: _Share, count: int, feed: Pipe, routes: list[Pipe]
) -> None:
    """Worker 0: parse and index every entry, deal each new home to a worker, tell every other
    worker which entries of the page it replays (its homes', the organisation's, every
    registration) before replaying its own; and send the parent the log's index."""
    homes: dict[str, str] = {}
    groups = Groups()
    owner = share.owner
    # Homes are dealt so that each worker's count stays nearest its share.
    first = max(worker_0_share(count), 1e-9)
    weights = [first] + [(1 - first) / (count - 1)] * (count - 1)
    dealt = [0] * count
    last: LogRecord | None = None
    while (page := pickle.loads(feed.recv_bytes())) is not None:
        start, leaves = page
        index = IndexColumns()
        records: list[tuple[LogRecord, str, bool]] = []
        new_homes: list[tuple[str, int]] = []
        routed: list[tuple[list[int], list[str]]] = [([], []) for _ in routes]
        for i, leaf in enumerate(leaves):
            record = record_of(leaf, start + i)
            unions = len(groups.changed)
            entry = index_entry(record, homes, groups)
            index.add(entry)
            home = entry.home
            if home not in owner:
                k = min(range(count), key=lambda j: (dealt[j] + 1) / weights[j])
                dealt[k] += 1
                owner[home] = k
                new_homes.append((home, k))
            if len(groups.changed) != unions:
                _check_union(home, groups, owner)
            everyone = home == ORG or entry.type == "model_registered"
            for j, (offsets, route_homes) in enumerate(routed, start=1):
                if everyone or owner[home] == j:
                    offsets.append(i)
                    route_homes.append(home)
            records.append((record, home, everyone or owner[home] == 0))
            last = record
        for w, (offsets, route_homes) in zip(routes, routed, strict=True):
            _send(w, new_homes, offsets, route_homes)
        for record, home, mine in records:
            if mine:
                share.replay(tracker, record, home)
        share.seen += len(leaves)
        _send(share.out, "index", index.chunk())
        share.staged()
    share.at = last.recorded_at if last is not None else None
    share.groups = groups.rows(groups.changed)


def _replay_routed(tracker: StateTracker, share: _Share, feed: Pipe, route: Pipe) -> None:
    """A worker other than 0: replay the entries worker 0 routes to it, page by page."""
    owner = share.owner
    last: tuple[bytes, int] | None = None
    while (page := pickle.loads(feed.recv_bytes())) is not None:
        start, leaves = page
        try:
            new_homes, offsets, route_homes = pickle.loads(route.recv_bytes())
        except (EOFError, OSError) as e:
            raise _RouterEnded from e
        owner.update(new_homes)
        for i, home in zip(offsets, route_homes, strict=True):
            share.replay(tracker, record_of(leaves[i], start + i), home)
        share.seen += len(leaves)
        last = (leaves[-1], start + len(leaves) - 1)
        share.staged()
    # The time of the log's last entry, which this worker may not have replayed.
    if last is not None:
        share.at = record_of(*last).recorded_at


def _check_union(home: str, groups: Groups, owner: dict[str, int]) -> None:
    """A citation has just joined `home`'s group with another: the shards stay exact only if
    the whole group is one worker's, and not the organisation's."""
    members = groups.members(home)
    if ORG in members:
        raise _Unshardable(f"a citation joins {home!r} with the organisation's group")
    dealt = {owner.get(h) for h in members}
    if len(dealt) > 1:
        raise _Unshardable(f"a citation joins homes of different workers: {sorted(members)}")
