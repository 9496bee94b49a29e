"""Submits per second and latency of the ledger service on PostgreSQL (issue 7), beside the bare
eventsourcing append rate measured in the same run on the same PostgreSQL server.

- bare: single-event `insert_events` on an eventsourcing `SQLAlchemyApplicationRecorder`, one
  transaction per event, the same payloads (entry bytes), N concurrent writers. The baseline.
- direct: `Ledger.submit` straight to PostgreSQL, no HTTP, N threads (acceptance, signature
  checks, tree, signed checkpoint: all in the one transaction).
- http: `rsp-ledger serve --workers W` with N concurrent clients, each posting envelopes to
  /v1/entries and waiting for the answer (the entry, its inclusion proof and its verdict).

Target: http ≥ 0.5 × bare at the same N. PostgreSQL keeps its default durability (fsync,
synchronous_commit on), so every acknowledged entry is on disk in every phase alike. Each phase
is bounded in time and in envelopes, so the run is too (about 1.5 min with the defaults). The
machine's load average is printed at the start and end of the run: the machines are shared, and
only ratios measured in the same run mean much.

`python -m bench service`; environment: BENCH_SERVICE_SECONDS (per phase, default 6),
BENCH_SERVICE_CLIENTS (default "8,32"), BENCH_SERVICE_WORKERS (default "1,2").
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from eventsourcing.persistence import StoredEvent
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from domain.ids import format_time
from ledger.history import HistoryWriter
from ledger.keyfile import write_private_key
from ledger.store import Ledger
from tests.integration.pg import PostgresServer, start_postgres
from tests.integration.served import start_service
from verify.dsse import Envelope, envelope_for_statement, parse_envelope
from verify.entry import entry_bytes
from verify.keys import Ed25519Signer

SECONDS = float(os.environ.get("BENCH_SERVICE_SECONDS", "6"))
CLIENTS = [int(n) for n in os.environ.get("BENCH_SERVICE_CLIENTS", "8,32").split(",")]
WORKERS = [int(n) for n in os.environ.get("BENCH_SERVICE_WORKERS", "1,2").split(",")]
TARGET_RATIO = 0.5
# Envelopes signed up front (the clients' own signing is not what is measured), shared out
# among the clients; a phase also ends when its clients run out.
ENVELOPES = int(os.environ.get("BENCH_SERVICE_ENVELOPES", "4000"))


@dataclass
class Phase:
    name: str
    count: int
    seconds: float
    latencies_s: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def line(self, baseline: Phase | None = None) -> str:
        lat = sorted(self.latencies_s)
        p50 = statistics.median(lat) * 1000 if lat else 0.0
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0.0
        ratio = f"  {self.rate / baseline.rate:5.2f}× bare" if baseline and baseline.rate else ""
        return (
            f"  {self.name:<40} {self.rate:7.0f} submits/s  p50 {p50:6.1f} ms  "
            f"p99 {p99:7.1f} ms  ({self.count} in {self.seconds:.1f} s){ratio}"
        )


def run_phase(
    name: str, clients: int, seconds: float, per_client: int, work: Callable[[int, int], None]
) -> Phase:
    """`clients` threads each call `work(client, i)` for i = 0, 1, … until time or work runs out."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    stop_at = time.perf_counter() + seconds

    def loop(c: int) -> None:
        i = 0
        try:
            while time.perf_counter() < stop_at and i < per_client:
                t0 = time.perf_counter()
                work(c, i)
                latencies[c].append(time.perf_counter() - t0)
                i += 1
        except BaseException as e:  # reported below, once every thread has stopped
            errors.append(e)

    threads = [threading.Thread(target=loop, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{name}: {errors[0]!r}") from errors[0]
    flat = [x for per in latencies for x in per]
    return Phase(name, len(flat), elapsed, flat)


def prepared_ledger(
    url: str, key_file: Path, clients: int, per_client: int
) -> tuple[Ledger, list[list[Envelope]]]:
    """A new ledger at `url` with one principal per client, and the envelopes each will submit."""
    ledger_key = Ed25519Signer.generate()
    write_private_key(key_file, ledger_key)
    ledger = Ledger(url, signer=ledger_key)
    h = HistoryWriter(ledger, datetime.now(UTC), asserted=False)
    h.principal("alice", "ledger-admin")
    ledger.initialize(h.genesis_envelope("bench.example/service", "alice", asserted=False))
    work: list[list[Envelope]] = []
    run = uuid.uuid4().hex[:8]
    for c in range(clients):
        name = f"client{c}"
        p = h.principal(name, "evaluator")
        h.clock = datetime.now(UTC)
        h.submit(
            "principal_registered",
            "alice",
            principal=name,
            roles=["evaluator"],
            public_keys=[p.public_key],
        )
        issued = format_time(datetime.now(UTC))
        statements = [
            {
                "type": "noncompliance_reported",
                "id": f"{name}-{run}-{i:05d}",
                "issued_at": issued,
                "issuer": name,
                "regarding": None,
                "summary": f"bench report {i} of {name}",
            }
            for i in range(per_client)
        ]
        work.append([h.envelope(st, [name]) for st in statements])
    return ledger, work


def bare_phase(server: PostgresServer, payloads: list[list[bytes]], seconds: float) -> Phase:
    url = server.create_database("bench_bare")
    engine = create_engine(url, pool_size=len(payloads) + 2)
    recorder = SQLAlchemyApplicationRecorder(
        SQLAlchemyDatastore(session_maker=sessionmaker(bind=engine)),
        events_table_name="bench_events",
    )
    recorder.create_table()
    run = uuid.uuid4()

    def bare(c: int, i: int) -> None:
        event = StoredEvent(
            originator_id=uuid.uuid5(run, f"{c}-{i}"),
            originator_version=0,
            topic="bench",
            state=payloads[c][i],
        )
        recorder.insert_events([event])

    n = len(payloads)
    phase = run_phase(f"bare eventsourcing insert_events, {n}", n, seconds, len(payloads[0]), bare)
    engine.dispose()
    return phase


def direct_phase(server: PostgresServer, tmp: Path, clients: int, seconds: float) -> Phase:
    url = server.create_database("bench_direct")
    ledger, work = prepared_ledger(url, tmp / "direct.key", clients, ENVELOPES // clients)

    def direct(c: int, i: int) -> None:
        ledger.submit(work[c][i])

    phase = run_phase(f"Ledger.submit, no HTTP, {clients}", clients, seconds, len(work[0]), direct)
    ledger.close()
    return phase


def http_phase(
    server: PostgresServer, tmp: Path, clients: int, workers: int, seconds: float
) -> Phase:
    url = server.create_database("bench_http")
    key_file = tmp / f"http-{clients}-{workers}.key"
    ledger, work = prepared_ledger(url, key_file, clients, ENVELOPES // clients)
    ledger.close()
    bodies = [[json.dumps({"envelope": e.to_json()}).encode() for e in envs] for envs in work]
    served = start_service(url, key_file, tmp, workers=workers)
    sessions = [
        httpx.Client(base_url=served.url, timeout=120, headers={"Content-Type": "application/json"})
        for _ in range(clients)
    ]
    try:

        def post(c: int, i: int) -> None:
            r = sessions[c].post("/v1/entries", content=bodies[c][i])
            if r.status_code != 201:
                raise RuntimeError(f"POST /v1/entries answered {r.status_code}: {r.text[:200]}")

        name = f"HTTP POST /v1/entries, {clients}, {workers} worker(s)"
        return run_phase(name, clients, seconds, len(bodies[0]), post)
    finally:
        for s in sessions:
            s.close()
        served.stop()


def sample_payloads(clients: int) -> list[list[bytes]]:
    """Entry bytes like those the ledger stores (signed envelopes), for the bare baseline."""
    per = ENVELOPES // clients
    out = []
    for c in range(clients):
        signer = Ed25519Signer.generate()
        issued = format_time(datetime.now(UTC))
        envelopes = [
            parse_envelope(
                envelope_for_statement(
                    {
                        "type": "noncompliance_reported",
                        "id": f"client{c}-{i:05d}",
                        "issued_at": issued,
                        "issuer": f"client{c}",
                        "regarding": None,
                        "summary": f"bench report {i} of client{c}",
                    },
                    signer,
                )
            )
            for i in range(per)
        ]
        out.append([entry_bytes(i, datetime.now(UTC), e) for i, e in enumerate(envelopes)])
    return out


def main(argv: list[str]) -> None:
    del argv
    load = os.getloadavg()[0]
    print(
        f"PostgreSQL (fsync on), {SECONDS:.0f} s per phase, clients {CLIENTS}, workers "
        f"{WORKERS}; load average {load:.1f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    server = start_postgres(fsync=True)
    ratios: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-service-") as folder:
            tmp = Path(folder)
            for clients in CLIENTS:
                print(f"{clients} concurrent clients:", flush=True)
                baseline = bare_phase(server, sample_payloads(clients), SECONDS)
                print(baseline.line(), flush=True)
                if clients == CLIENTS[0]:
                    print(direct_phase(server, tmp, clients, SECONDS).line(baseline), flush=True)
                for workers in WORKERS:
                    phase = http_phase(server, tmp, clients, workers, SECONDS)
                    print(phase.line(baseline), flush=True)
                    ratio = phase.rate / baseline.rate if baseline.rate else 0.0
                    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
                    ratios.append(
                        f"  {clients} clients, {workers} worker(s): http / bare = {ratio:.2f} "
                        f"({verdict} the target ≥ {TARGET_RATIO})"
                    )
    finally:
        server.stop()
    print("\n".join(ratios))
    print(f"load average at the end {os.getloadavg()[0]:.1f}", flush=True)
