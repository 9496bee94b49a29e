"""Where each model stands: `status`, `timeline` and `projections rebuild|status|follow` (issue 5).

Thin: open the ledger, wire its store into a `projections.StateProjection` (which keeps its
tables in the ledger's own database), call, print. Every command catches the projection up first,
so a projection left behind by a crash, or by submits with no runner following, answers
correctly on the next read.

The time a status is evaluated at: `--as-of T` when given (then the answer is replayed from the
log itself, as it stood at T); otherwise now on a `system` ledger, and the last recorded time on
an `asserted` ledger, whose clock is the operator's (docs/projections.md).

Given an http(s):// ledger, `status` and `timeline` ask the ledger service, which answers from its
own projection; the `projections` commands need the database itself.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from cli._common import (
    emit,
    handle_errors,
    json_option,
    ledger_option,
    open_ledger,
    parse_time_option,
)
from domain.compliance.determinations import number
from domain.ids import format_time
from ledger.config import is_http, resolve_ledger_url
from ledger.errors import UsageError
from ledger.store import Ledger
from projections.bulk import bulk_load
from projections.follower import follow
from projections.projection import CatchUp, StateProjection

POLL_S = 0.2


class LedgerEntrySource:
    """A ledger's store as a projection's `EntrySource`: exact leaf bytes by seq, and new
    entries announced by a PostgreSQL subscription (eventsourcing's LISTEN/NOTIFY) or, on SQLite,
    by polling."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._notified = threading.Event()
        self._interrupted = threading.Event()
        self._subscription: Any = None
        self._pump: threading.Thread | None = None

    def size(self) -> int:
        return self.ledger.size()

    def leaves(self, start: int, stop: int) -> Iterable[bytes]:
        # One query per page (no ORM objects: the projection wants the bytes only). The
        # projection checks that the seqs are contiguous.
        return [leaf for _, leaf in self.ledger.leaves_between(start, stop)]

    def leaves_at(self, seqs: Sequence[int]) -> Iterable[bytes]:
        return [leaf for _, leaf in self.ledger.leaves_at(seqs)]

    def wait(self, size: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        if self.ledger.engine.dialect.name == "postgresql":
            self._subscribe()
        while True:
            current = self.ledger.size()
            remaining = deadline - time.monotonic()
            if current > size or remaining <= 0 or self._interrupted.is_set():
                return current
            if self._subscription is not None:
                self._notified.wait(remaining)
                self._notified.clear()
            else:
                self._interrupted.wait(min(POLL_S, remaining))

    def interrupt(self) -> None:
        """End any wait now (a follower asked to stop)."""
        self._interrupted.set()
        self._notified.set()

    def _subscribe(self) -> None:
        if self._subscription is not None:
            return
        recorder = self.ledger.recorder
        self._subscription = recorder.subscribe(gt=recorder.max_notification_id())

        def pump() -> None:
            for _ in self._subscription:
                self._notified.set()

        self._pump = threading.Thread(target=pump, name="rsp-ledger-subscription", daemon=True)
        self._pump.start()

    def close(self) -> None:
        if self._subscription is not None:
            self._subscription.stop()
            if self._pump is not None:
                self._pump.join(timeout=5)
            self._subscription = None


@contextmanager
def open_projection(ledger_url: str | None) -> Iterator[tuple[Ledger, StateProjection]]:
    if is_http(resolve_ledger_url(ledger_url)):
        raise UsageError(
            "--ledger: projections live in the ledger's database; expected a SQLAlchemy URL, "
            "found a ledger service"
        )
    with open_ledger(ledger_url) as ledger:
        assert isinstance(ledger, Ledger)
        ledger.size()  # refuses an uninitialised ledger with a clear error
        source = LedgerEntrySource(ledger)
        try:
            yield ledger, StateProjection(ledger.engine, source)
        finally:
            source.close()


def default_time(ledger: Ledger) -> datetime:
    """Now, or on an asserted ledger the last recorded_at (docs/projections.md)."""
    if ledger.time_source == "asserted":
        return ledger.entry(ledger.size() - 1).recorded_at
    return datetime.now(UTC)


# -- status -------------------------------------------------------------------------------------


def _echo_status(doc: dict[str, Any]) -> None:
    org = doc["organisation"]
    log = doc["log"]
    click.echo(
        f"Status as of {doc['as_of']} ({log['entries']} entries, last seq {log['last_seq']})"
    )
    policy = org["policy_in_force"]
    click.echo(
        "  policy in force: "
        + (
            f"{policy['policy']} ({policy['statement']}, since {policy['effective']})"
            if policy
            else "none"
        )
    )
    for s in org["scheduled"]:
        click.echo(f"  scheduled: {s['policy']} ({s['statement']}) from {s['effective']}")
    for part, found in org["safeguards_in_force"].items():
        for f in found:
            click.echo(f"  organisation-wide {part} safeguards: {_safeguards_line(f)}")
    for o in org["obligations"]:
        click.echo(f"  owed: {o['message']}")
    principals = ", ".join(
        f"{p['principal']} [{', '.join(p['roles']) or 'no roles'}]"
        + "".join(
            f" key {k['key_id'][:12]}… revoked ({k['revoked']['reason']})"
            for k in p["keys"]
            if k["revoked"]
        )
        for p in org["principals"]
    )
    click.echo(f"  principals: {principals or 'none'}")
    for m in doc["models"]:
        click.echo("")
        _echo_model(m)


def _safeguards_line(f: dict[str, Any]) -> str:
    scopes = f" scopes {', '.join(f['scopes'])}" if f["scopes"] else ""
    return f"{f['statement']} {f['standard']}{scopes}, until {f['expires']}"


def _echo_model(m: dict[str, Any]) -> None:
    reg = m["registration"]
    title = f"{m['model']}"
    if reg:
        title += f" — {reg['name']!r}, registered at seq {reg['seq']}"
        if m["lineage"]["ancestors"]:
            title += f", child of {' ← '.join(m['lineage']['ancestors'])}"
    else:
        title += " — not registered"
    click.echo(title)
    if m["lineage"]["children"]:
        click.echo(f"  children: {', '.join(m['lineage']['children'])}")
    if m["effective_compute"]:
        ec = m["effective_compute"]
        click.echo(f"  effective compute: {number(ec['greatest'])} ({ec['statement']})")
    det = m["determination"]
    if det:
        req = det["required"]
        click.echo(
            f"  determination: {det['statement']} (seq {det['seq']}, {det['verdict']}): "
            f"deployment {req['deployment']}, security {req['security']}"
        )
    fresh = m["freshness"]
    if fresh:
        click.echo(f"  freshness: {fresh['summary']}")
    for part, found in m["safeguards_in_force"].items():
        text = "; ".join(_safeguards_line(f) for f in found) or "none"
        click.echo(f"  {part} safeguards in force: {text}")
    for d in m["deployments"]:
        click.echo(
            f"  deployed to {d['scope']} under {d['decision']} ({d['verdict'] or 'not judged'})"
        )
    if not m["deployments"]:
        click.echo("  deployed nowhere")
    for o in m["obligations"]:
        click.echo(f"  owed: {o['message']}")
    counts: dict[str, int] = {}
    for v in m["verdicts"]:
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"
    click.echo(f"  verdicts: {summary}")
    for v in m["verdicts"]:
        if v["verdict"] != "compliant":
            rules = ", ".join(f["rule"] for f in v["failed"]) or ", ".join(v["invalidated_by"])
            click.echo(f"    {v['statement']} ({v['type']}): {v['verdict']} — {rules}")


def echo_status(ledger_url: str | None) -> None:
    """Print every model's status at the ledger's default time (as `rsp-ledger status` does)."""
    with open_projection(ledger_url) as (ledger, projection):
        doc = projection.status(default_time(ledger))
    _echo_status(doc)


@click.command()
@click.argument("model", required=False)
@click.option("--as-of", "as_of", metavar="TIME", help="Where things stood at this past time.")
@ledger_option
@json_option
@handle_errors
def status(model: str | None, as_of: str | None, ledger_url: str | None, as_json: bool) -> None:
    """Where each model (or MODEL) stands: determination, freshness, safeguards, deployments,
    verdicts and what is owed; and the organisation's policy, principals and keys."""
    at = parse_time_option(as_of, "--as-of")
    url = resolve_ledger_url(ledger_url)
    # One answer, then exit: the collector would only walk the replayed state again and again.
    with bulk_load():
        if is_http(url):  # a ledger service answers from its own projection
            from ledger.client import RemoteLedger

            with RemoteLedger(url) as service:
                doc = service.status(model, at)
        else:
            with open_projection(ledger_url) as (ledger, projection):
                if at is not None:
                    doc = projection.status_as_of(at, model)
                else:
                    doc = projection.status(default_time(ledger), model)
        emit(doc, as_json, lambda: _echo_status(doc))


@click.command()
@click.argument("model")
@ledger_option
@json_option
@handle_errors
def timeline(model: str, ledger_url: str | None, as_json: bool) -> None:
    """Every entry that changed MODEL's state, with the policy in force at each."""
    url = resolve_ledger_url(ledger_url)
    if is_http(url):  # a ledger service answers from its own projection
        from ledger.client import RemoteLedger

        with RemoteLedger(url) as service:
            doc = service.timeline(model)
    else:
        with open_projection(ledger_url) as (_ledger, projection):
            doc = projection.timeline(model)

    def human() -> None:
        for e in doc["events"]:
            where = "org " if e["scope"] == "organisation" else ""
            verdict = f" [{e['verdict']}]" if e["verdict"] else ""
            click.echo(
                f"{e['seq']:>6}  {e['recorded_at']}  {e['policy'] or 'no policy':<20} "
                f"{where}{e['change']} ({e['statement']}){verdict}"
            )

    emit(doc, as_json, human)


# -- projections --------------------------------------------------------------------------------


@click.group()
def projections() -> None:
    """The read models kept in the ledger's database (never the source of truth)."""


def _catch_up_line(r: CatchUp) -> str:
    if r.mode == "none":
        return "already caught up"
    how = {
        "full": f"replayed the whole log, {r.replayed} entries",
        "incremental": f"replayed {r.replayed} entries of the models concerned",
        "warm": "state held in memory",
    }.get(r.mode, r.mode)
    return f"applied seq {r.first_seq}..{r.last_seq} ({r.applied} entries; {how})"


@projections.command("rebuild")
@ledger_option
@json_option
@handle_errors
def projections_rebuild(ledger_url: str | None, as_json: bool) -> None:
    """Drop the projection tables and build them again from the whole log."""
    started = time.perf_counter()
    with open_projection(ledger_url) as (_ledger, projection):
        result = projection.rebuild()
    elapsed = time.perf_counter() - started
    data = {**result.to_json(), "seconds": round(elapsed, 3)}
    emit(
        data,
        as_json,
        lambda: click.echo(f"rebuilt from {result.replayed} entries in {elapsed:.2f} s"),
    )


@projections.command("status")
@ledger_option
@json_option
@handle_errors
def projections_status(ledger_url: str | None, as_json: bool) -> None:
    """How far the projection is behind the log (without catching it up)."""
    with open_projection(ledger_url) as (_ledger, projection):
        lag = projection.lag()
    data = lag.to_json()

    def human() -> None:
        state = "caught up" if data["caught_up"] else f"{lag.lag} entries behind"
        if lag.version is not None and lag.version != data["expected_version"]:
            state += f" (version {lag.version}, expected {data['expected_version']}: rebuild)"
        click.echo(f"{lag.name}: at seq {lag.position} of a log of {lag.log_size} entries, {state}")

    emit(data, as_json, human)


@projections.command("follow")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Longest wait between catch-ups, in seconds.",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop after this long (default: until interrupted).",
)
@ledger_option
@handle_errors
def projections_follow(poll: float, max_seconds: float | None, ledger_url: str | None) -> None:
    """Keep the projection caught up with new entries (PostgreSQL: subscription; SQLite: polling)."""
    stop = threading.Event()

    def report(r: CatchUp) -> None:
        click.echo(f"{format_time(datetime.now(UTC))} {_catch_up_line(r)}", nl=True)

    with open_projection(ledger_url) as (_ledger, projection):
        source = projection.source
        assert isinstance(source, LedgerEntrySource)

        def stop_now(*_: Any) -> None:
            stop.set()
            source.interrupt()

        signal.signal(signal.SIGTERM, stop_now)
        if max_seconds is not None:
            timer = threading.Timer(max_seconds, stop_now)
            timer.daemon = True
            timer.start()
        try:
            follow(projection, stop, poll_s=poll, on_catch_up=report)
        except KeyboardInterrupt:
            stop_now()
