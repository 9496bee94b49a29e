"""The ASL state projection (issue 5) on real ledgers of 100k and 1M entries.

Each figure is printed beside its baseline, measured in the same run on the same file:

- rebuild: entries/s of `StateProjection.rebuild()` (read, parse, judge, fold, write every
  table; in worker processes on a big log, `projections.parallel`) and of the same rebuild in
  one process, against the raw rate of reading the same entries from the store — the exact
  bytes (`Ledger.raw_entries`, target ≥ 0.5×) — and the parsed entries (`Ledger.entries`); and
  the peak RSS of the process that rebuilds (a process forked for it) and of its largest
  replay worker;
- incremental: one entry appended, then (a) a cold catch-up, as the next `rsp-ledger status`
  does, replaying only the entry's model's part of the log, and (b) a warm follower, as
  `rsp-ledger projections follow` does, holding the state in memory;
- `rsp-ledger status MODEL --as-of T` on the largest ledger measured, through the real CLI in a
  subprocess (median and fastest of five, its peak RSS, and `rsp-ledger --version` alone for the
  start-up), and in process; target under 1 s.

The ledgers are real (signed envelopes, `Ledger.submit_batch` in batches of 2,000 entries that
share a recorded_at, a handful of keys reused) and cached under /tmp/rsp-bench-projections, so
only the first run pays for building them (about 20 minutes for 1M on two busy cores).

    python -m bench projections                      # 100k and 1M
    python -m bench.bench_projections 100000         # one size
"""

from __future__ import annotations

import gc
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from sqlalchemy import update

from bench._policy import DEPLOYMENT, SECURITY, THRESHOLDS, bench_policy
from cli.state import LedgerEntrySource
from domain.ids import format_time
from domain.statements import parse_statement
from ledger.keyfile import read_private_key, write_private_key
from ledger.store import Ledger, Submission
from projections import schema
from projections.follower import WarmFollower
from projections.projection import PROJECTION_NAME, StateProjection
from verify.dsse import PAYLOAD_TYPE, Envelope, EnvelopeSignature, pae
from verify.jcs import canonical
from verify.keys import Ed25519Signer, encode_public_key

SIZES = (100_000, 1_000_000)
CACHE = Path(os.environ.get("RSP_BENCH_CACHE", "/tmp/rsp-bench-projections"))
RSP_LEDGER = str(Path(sys.executable).parent / "rsp-ledger")
BATCH = 2000
DAY_PER_BATCH = timedelta(days=1)
MODELS = 500
T0 = datetime(2021, 1, 1, tzinfo=UTC)
PEOPLE = {
    "admin": ["ledger-admin"],
    "ceo": ["ceo"],
    "rso": ["responsible-scaling-officer"],
    "sec": ["security-lead"],
    "board": ["board"],
    "ltbt": ["ltbt"],
    "eval": ["evaluator"],
}


# -- building a big ledger -----------------------------------------------------------------------

Statement = tuple[dict[str, Any], tuple[str, ...]]  # the statement and the names of its keys


def _raw(signer: Ed25519Signer) -> bytes:
    """The raw private key, to hand to worker processes."""
    key = load_pem_private_key(signer.to_pem(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _sign_chunk(
    chunk: list[Statement], keys: dict[str, bytes]
) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """In a worker: the JCS payload of each statement and its signatures (the slow part)."""
    signers = {n: Ed25519Signer(Ed25519PrivateKey.from_private_bytes(k)) for n, k in keys.items()}
    out = []
    for statement, names in chunk:
        payload = canonical(statement)
        message = pae(PAYLOAD_TYPE, payload)
        out.append((payload, [(signers[n].key_id, signers[n].sign(message)) for n in names]))
    return out


class _Writer:
    """A lab's life as statements, signed by a handful of reused keys."""

    def __init__(self, keys: dict[str, Ed25519Signer]) -> None:
        self.keys = keys
        self.key_of = {p: p for p in PEOPLE}  # principal → key name
        self.t = T0
        self.n = 0
        self.pending: list[Statement] = []

    def add(self, type_: str, by: tuple[str, ...], **fields: Any) -> str:
        self.n += 1
        sid = fields.pop("id", None) or f"s{self.n}"
        statement = {
            "type": type_,
            "id": sid,
            "issued_at": format_time(self.t),
            "issuer": by[0],
            **fields,
        }
        self.pending.append((statement, tuple(self.key_of[p] for p in by)))
        return sid


def _history(w: _Writer) -> Iterator[None]:
    """Yields after each cycle of work (about 9 entries), forever."""
    w.add(
        "policy_adopted",
        ("admin",),
        id="policy-1",
        policy=bench_policy(1),
        effective_at=format_time(w.t),
    )
    compute: dict[str, float] = {}
    cycle = 0
    version = 1
    last_attestation = ""
    rotation = 0
    while True:
        cycle += 1
        model = f"m{cycle % MODELS}"
        if model not in compute:
            compute[model] = 1e24
            w.add(
                "model_registered",
                ("eval",),
                id=f"model-{model}",
                model=model,
                name=f"Model {model}",
                parent=f"m{(cycle % MODELS) // 2}" if cycle % MODELS > 1 else None,
                effective_compute=compute[model],
            )
        compute[model] *= 1.01
        c = compute[model]
        w.add("compute_measured", ("eval",), model=model, effective_compute=c)
        crossed = cycle % 3 == 0
        findings = [
            w.add(
                "capability_finding",
                ("eval",),
                model=model,
                threshold=threshold,
                assessment="comprehensive",
                outcome="crossed" if crossed and threshold == "CBRN-3" else "ruled_out",
                effective_compute=c,
                evaluations=[],
            )
            for threshold in THRESHOLDS
        ]
        level = "ASL-3" if crossed else "ASL-2"
        determination = w.add(
            "capability_determination",
            ("ceo", "rso"),
            model=model,
            findings=findings,
            required={"deployment": level, "security": level},
        )
        safeguards: list[str] = []
        if crossed:
            # Mostly per-model safeguards; organisation-wide ones now and then.
            owner = None if cycle % 201 == 0 else model
            until = format_time(w.t + timedelta(days=300))
            dep = w.add(
                "safeguard_attestation",
                ("sec",),
                standard="ASL-3",
                part="deployment",
                controls=DEPLOYMENT,
                model=owner,
                scopes=["internal", "trusted", "external"],
                valid_until=until,
            )
            sec = w.add(
                "safeguard_attestation",
                ("sec",),
                standard="ASL-3",
                part="security",
                controls=SECURITY,
                model=owner,
                scopes=[],
                valid_until=until,
            )
            safeguards.append(
                w.add(
                    "safeguards_determination",
                    ("ceo", "rso"),
                    standard="ASL-3",
                    model=owner,
                    attestations=[dep, sec],
                    valid_until=until,
                )
            )
            w.add(
                "governance_notified",
                ("rso",),
                regarding=determination,
                bodies=["board", "ltbt"],
            )
            last_attestation = dep
        w.add(
            "deployment_decision",
            ("rso",) if cycle % 50 == 0 else ("ceo", "rso"),  # one in fifty lacks the CEO
            model=model,
            action="deploy",
            scope="external",
            determination=determination,
            safeguards=safeguards,
        )
        if cycle % 40 == 0:
            w.add(
                "deployment_decision",
                ("ceo", "rso"),
                model=model,
                action="undeploy",
                scope="external",
                determination=determination,
                safeguards=[],
            )
        if cycle % 97 == 0 and last_attestation:
            w.add(
                "attestation_withdrawn",
                ("sec",),
                statement=last_attestation,
                invalid_from=format_time(w.t),
                reason="control found ineffective",
            )
        if cycle % 1500 == 0:
            # The evaluator rotates keys; one rotation in four is a compromise.
            rotation += 1
            new = f"eval#{rotation}"
            w.keys[new] = Ed25519Signer.generate()
            w.add(
                "key_added",
                ("admin",),
                principal="eval",
                public_key=encode_public_key(w.keys[new].public_raw),
            )
            compromised = cycle % 6000 == 0
            since = {"compromised_since": format_time(w.t - timedelta(hours=1))}
            w.add(
                "key_revoked",
                ("admin",),
                key_id=w.keys[w.key_of["eval"]].key_id,
                reason="compromised" if compromised else "rotated",
                **(since if compromised else {}),
            )
            w.key_of["eval"] = new
        if cycle % 2500 == 0:
            version += 1
            w.add(
                "policy_adopted",
                ("board",),
                policy=bench_policy(version),
                effective_at=format_time(w.t + timedelta(days=2)),
            )
        yield


def _batches(w: _Writer, size: int) -> Iterator[tuple[list[Statement], datetime, dict[str, bytes]]]:
    """Batches of statements recorded at one time each, a day apart, with the keys they need."""
    cycles = _history(w)
    left = size
    while left > 0:
        while len(w.pending) < BATCH:
            next(cycles)
        n = min(BATCH, left)
        batch, w.pending = w.pending[:n], w.pending[n:]
        names = {name for _, ns in batch for name in ns}
        yield batch, w.t, {name: _raw(w.keys[name]) for name in names}
        left -= n
        # What is signed next is issued after this batch's time.
        w.t += DAY_PER_BATCH


def build_ledger(size: int, folder: Path) -> str:
    """A ledger of exactly `size` entries at folder/ledger.db (cached: built once)."""
    db = folder / "ledger.db"
    url = f"sqlite:///{db}"
    done = folder / "complete"
    if done.exists():
        return url
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    ledger_key = Ed25519Signer.generate()
    write_private_key(folder / "ledger.db.key", ledger_key)
    keys = {p: Ed25519Signer.generate() for p in PEOPLE}
    started = time.perf_counter()
    w = _Writer(keys)
    with Ledger(url, signer=ledger_key) as ledger:
        genesis = {
            "type": "ledger_genesis",
            "id": "genesis",
            "issued_at": format_time(T0),
            "issuer": "admin",
            "origin": "bench.example/projections",
            "time_source": "asserted",
            "admins": [
                {"principal": "admin", "public_key": encode_public_key(keys["admin"].public_raw)}
            ],
        }
        [(payload, sigs)] = _sign_chunk([(genesis, ("admin",))], {"admin": _raw(keys["admin"])})
        ledger.initialize(_envelope(genesis, payload, sigs), recorded_at=T0)
        for p, roles in PEOPLE.items():
            if p != "admin":
                w.add(
                    "principal_registered",
                    ("admin",),
                    principal=p,
                    roles=roles,
                    public_keys=[encode_public_key(keys[p].public_raw)],
                )
        written = 1
        with ProcessPoolExecutor(2, mp_context=get_context("fork")) as pool:
            # Sign the next batches in two worker processes while this one submits.
            queue: list[Any] = []
            for batch, at, batch_keys in _batches(w, size - 1):
                queue.append((batch, at, pool.submit(_sign_chunk, batch, batch_keys)))
                if len(queue) < 3:
                    continue
                written += _submit(ledger, *queue.pop(0))
                _progress(written, started)
            for item in queue:
                written += _submit(ledger, *item)
                _progress(written, started)
        assert ledger.size() == size, (ledger.size(), size)
    # The current key of each principal, to append after the build (on a scratch copy).
    keys_dir = folder / "keys"
    keys_dir.mkdir()
    for p, name in w.key_of.items():
        write_private_key(keys_dir / f"{p}.pem", keys[name])
    done.write_text(format_time(datetime.now(UTC)))
    return url


def _envelope(statement: dict[str, Any], payload: bytes, sigs: list[tuple[str, bytes]]) -> Envelope:
    return Envelope(
        PAYLOAD_TYPE,
        payload,
        tuple(EnvelopeSignature(k, s) for k, s in sigs),
        parse_statement(statement),
    )


def _submit(ledger: Ledger, batch: list[Statement], at: datetime, signed: Any) -> int:
    envelopes = [
        Submission(_envelope(st, payload, sigs))
        for (st, _), (payload, sigs) in zip(batch, signed.result(), strict=True)
    ]
    ledger.submit_batch(envelopes, recorded_at=at)
    return len(envelopes)


def _progress(written: int, started: float) -> None:
    if written % 100_000 < BATCH:
        rate = written / (time.perf_counter() - started)
        print(f"   built {written} entries ({rate:.0f}/s)", flush=True)


# -- measuring ----------------------------------------------------------------------------------


def _timed(fn: Any) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rebuild(url: str, workers: int | None) -> tuple[float, float, float, int]:
    """In a worker process: the seconds a rebuild takes, the process's peak RSS in MB, the
    peak RSS of the largest replay worker it started (0 without), and how many it used."""
    with Ledger(url) as ledger:
        projection = StateProjection(ledger.engine, LedgerEntrySource(ledger))
        seconds, _ = _timed(lambda: projection.rebuild(workers=workers))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, _max_rss_mb(), children, projection.last_replay.workers


def _run_timed(argv: list[str]) -> tuple[float, str]:
    """Run a command: its wall seconds and its stdout."""
    t0 = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


# Runs its arguments as a command and prints that command's peak RSS (KB) on its last stderr
# line. A child of this small interpreter, not of the benchmark: Linux counts the parent's pages
# in the peak RSS of a child it forks (or vforks) until the child's exec.
_PEAK_RSS = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def _peak_rss_mb(argv: list[str]) -> float:
    """The peak RSS of one run of a command, in MB."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *argv], capture_output=True, text=True, check=True
    )
    return int(done.stderr.strip().splitlines()[-1]) / 1024


class _Appender:
    """Appends compute measurements of one model, signed by the CEO (whose key never rotates;
    the evaluator's last rotation may lie beyond the cached ledger's end)."""

    def __init__(self, ledger: Ledger, folder: Path, model: str) -> None:
        self.ledger = ledger
        self.key = read_private_key(folder / "keys" / "ceo.pem")
        self.model = model
        self.n = 0

    def append(self, count: int = 1) -> None:
        t = self.ledger.entry(self.ledger.size() - 1).recorded_at + timedelta(minutes=1)
        subs = []
        for _ in range(count):
            self.n += 1
            statement = {
                "type": "compute_measured",
                "id": f"extra-{self.n}",
                "issued_at": format_time(t),
                "issuer": "ceo",
                "model": self.model,
                "effective_compute": 5e24,
            }
            [(payload, sigs)] = _sign_chunk([(statement, ("k",))], {"k": _raw(self.key)})
            subs.append(Submission(_envelope(statement, payload, sigs)))
        self.ledger.submit_batch(subs, recorded_at=t)


def _commit_floor(ledger: Ledger) -> float:
    """One durable write transaction that changes nothing: the least a projection update costs."""
    t = schema.tracking
    t0 = time.perf_counter()
    with ledger.engine.begin() as conn:
        conn.execute(update(t).where(t.c.name == PROJECTION_NAME).values(token=t.c.token))
    return time.perf_counter() - t0


def _scratch(folder: Path) -> Path:
    """A copy of the cached ledger to append to, so the cache keeps its exact size."""
    scratch = folder.parent / f"{folder.name}-scratch"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    for f in folder.iterdir():
        if f.is_file():
            shutil.copy2(f, scratch / f.name)
    shutil.copytree(folder / "keys", scratch / "keys")
    return scratch


def measure(size: int, *, as_of: bool) -> dict[str, float]:
    url, folder = _sized(size)
    r: dict[str, float] = {}
    with Ledger(url) as ledger:
        raw_s, n = _timed(lambda: sum(1 for _ in ledger.raw_entries(0, size, page=BATCH)))
        assert n == size
        parsed_s, _ = _timed(lambda: sum(1 for _ in ledger.entries(0, size)))
        source = LedgerEntrySource(ledger)
        bytes_s, _ = _timed(
            lambda: sum(
                len(list(source.leaves(a, min(size, a + BATCH)))) for a in range(0, size, BATCH)
            )
        )
    # The rebuild in a process of its own, so that its peak RSS is its own: as it chooses
    # (worker processes on a big log), then in one process, on the same file.
    r["start_rss_mb"] = _max_rss_mb()
    with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
        rebuild_s, r["rss_mb"], r["worker_rss_mb"], r["workers"] = pool.submit(
            _rebuild, url, None
        ).result()
    with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
        one_s, r["one_rss_mb"], _, _ = pool.submit(_rebuild, url, 1).result()
    # The raw rate again after the rebuilds: the machine is shared, so each ratio is given
    # against the faster of the two readings (the harder baseline).
    with Ledger(url) as ledger:
        raw_after_s, _ = _timed(lambda: sum(1 for _ in ledger.raw_entries(0, size, page=BATCH)))
    r["raw_after_rate"] = size / raw_after_s
    raw_s = min(raw_s, raw_after_s)
    r.update(raw_rate=size / raw_s, parsed_rate=size / parsed_s, rebuild_rate=size / rebuild_s)
    r["one_rate"] = size / one_s
    r["bytes_rate"] = size / bytes_s
    r["rebuild_s"] = rebuild_s
    r["one_s"] = one_s

    scratch = _scratch(folder)
    scratch_url = f"sqlite:///{scratch / 'ledger.db'}"
    with Ledger(scratch_url, signer=read_private_key(scratch / "ledger.db.key")) as ledger:
        projection = StateProjection(ledger.engine, LedgerEntrySource(ledger))
        appender = _Appender(ledger, scratch, "m7")
        cold = []
        for _ in range(5):
            appender.append()
            seconds, result = _timed(projection.catch_up)
            assert result.applied == 1, result
            cold.append(seconds)
        r.update(cold_s=statistics.median(cold), cold_replayed=result.replayed)
        follower = WarmFollower(projection)
        r["warm_start_s"], _ = _timed(follower.step)
        warm, appends = [], []
        for _ in range(20):
            appends.append(_timed(appender.append)[0])
            seconds, result = _timed(follower.step)
            assert result.applied == 1, result
            warm.append(seconds)
        r["warm_s"] = statistics.median(warm)
        r["append_s"] = statistics.median(appends)
        r["commit_s"] = statistics.median(_commit_floor(ledger) for _ in range(20))
        appender.append(200)
        seconds, result = _timed(follower.step)
        assert result.applied == 200, result
        r["warm_batch_per_entry_s"] = seconds / 200
        follower.close()

        if as_of:
            at = ledger.entry(int(size * 0.9)).recorded_at
            at_text = format_time(at)
            r["as_of_in_process_s"], doc = _timed(lambda: projection.status_as_of(at, "m7"))
            assert doc["models"][0]["model"] == "m7"
            argv = [RSP_LEDGER, "status", "m7", "--as-of", at_text, "--json"]
            argv += ["--ledger", scratch_url]
            runs, starts = [], []
            for _ in range(5):
                seconds, out = _run_timed(argv)
                assert '"model": "m7"' in out
                runs.append(seconds)
                starts.append(_run_timed([RSP_LEDGER, "--version"])[0])
            r["as_of_cli_s"] = statistics.median(runs)
            r["as_of_cli_min_s"] = min(runs)
            r["as_of_cli_rss_mb"] = _peak_rss_mb(argv)
            r["cli_start_s"] = statistics.median(starts)
            r["status_tables_s"], _ = _timed(lambda: projection.status(at, "m7"))
    shutil.rmtree(scratch)
    return r


def _sized(size: int) -> tuple[str, Path]:
    folder = CACHE / f"{size}"
    return build_ledger(size, folder), folder


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or list(SIZES)
    for size in sizes:
        print(
            f"-- {size} entries (a cached, signed ledger under {CACHE}); load average "
            f"{os.getloadavg()[0]:.2f} at the start",
            flush=True,
        )
        r = measure(size, as_of=size == max(sizes))
        print(
            f"   rebuild           {r['rebuild_rate']:>9.0f} entries/s "
            f"({r['rebuild_s']:.1f} s, {r['workers']:.0f} replay process(es); peak RSS of the "
            f"rebuilding process {r['rss_mb']:.0f} MB, of its largest worker "
            f"{r['worker_rss_mb']:.0f} MB; {r['start_rss_mb']:.0f} MB before it)\n"
            f"   rebuild, one process {r['one_rate']:>6.0f} entries/s "
            f"({r['one_s']:.1f} s; peak RSS {r['one_rss_mb']:.0f} MB)   "
            f"rebuild is {r['rebuild_rate'] / r['one_rate']:.2f}x\n"
            f"   read, parsed      {r['parsed_rate']:>9.0f} entries/s  (Ledger.entries)   "
            f"rebuild is {r['rebuild_rate'] / r['parsed_rate']:.2f}x\n"
            f"   read, raw bytes   {r['raw_rate']:>9.0f} entries/s  (Ledger.raw_entries, the "
            f"faster of before and after the rebuilds; after: {r['raw_after_rate']:.0f}/s) "
            f"rebuild is {r['rebuild_rate'] / r['raw_rate']:.2f}x  (target >= 0.5x), "
            f"one process {r['one_rate'] / r['raw_rate']:.2f}x\n"
            f"   read, bare bytes  {r['bytes_rate']:>9.0f} entries/s  (one SELECT a page)   "
            f"rebuild is {r['rebuild_rate'] / r['bytes_rate']:.2f}x\n"
            f"   one new entry, cold catch-up (next read)   {r['cold_s'] * 1000:>8.1f} ms "
            f"(replays {r['cold_replayed']:.0f} entries of the model's part of the log)\n"
            f"   one new entry, warm follower               {r['warm_s'] * 1000:>8.1f} ms "
            f"(after a start of {r['warm_start_s']:.1f} s)\n"
            f"   one empty write transaction (the floor)    {r['commit_s'] * 1000:>8.1f} ms\n"
            f"   the append itself (Ledger.submit)          {r['append_s'] * 1000:>8.1f} ms\n"
            f"   200 new entries, warm follower             "
            f"{r['warm_batch_per_entry_s'] * 1000:>8.2f} ms per entry\n"
            f"   load average at the end {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        if "as_of_cli_s" in r:
            print(
                f"   status MODEL --as-of T: rsp-ledger {r['as_of_cli_s']:.2f} s median of 5 "
                f"(fastest {r['as_of_cli_min_s']:.2f} s; limit 1 s; peak RSS "
                f"{r['as_of_cli_rss_mb']:.0f} MB); `rsp-ledger --version` alone "
                f"{r['cli_start_s']:.2f} s; in process {r['as_of_in_process_s']:.2f} s; "
                f"from the tables {r['status_tables_s'] * 1000:.0f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
