"""Concurrency (issue 9): four writer processes submit one envelope at a time (retrying some),
while real CLI processes read checkpoints and pages of the log, export bundles, and two projection
followers run — on one embedded SQLite file, and on PostgreSQL behind `serve --workers 2` (writers
and readers over HTTP, followers on the database). Afterwards: nothing acknowledged is lost, no statement
is recorded twice, seq is gap-free, every checkpoint any reader saw is a prefix of the final log,
every export verifies, and no reader ever saw a traceback ("database is locked" included).

`make test` runs 4 × RELIABILITY_WRITES (default 60); `make reliability` runs 4 × 500.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from ledger import schema
from ledger.store import Ledger
from tests.integration.served import start_service
from verify.note import verify_checkpoint

from .crash_writer import write_count
from .harness import CrashReport, CrashRig, _prefix_roots

WRITES = int(os.environ.get("RELIABILITY_WRITES", "60"))
WRITERS = 4
RSP_LEDGER = str(Path(sys.executable).parent / "rsp-ledger")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RSP_LEDGER, *args], env=env, capture_output=True, text=True, timeout=300)


def test_sqlite_writers_readers_exports_and_projections(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conc.db'}"
    rig = CrashRig.create(tmp_path, url)
    run_concurrency(tmp_path, rig, url, url, "SQLite")


def test_postgres_service_workers_readers_exports_and_projections(
    tmp_path: Path, pg_url: str
) -> None:
    rig = CrashRig.create(tmp_path, pg_url)
    service = start_service(pg_url, rig.key_file, tmp_path, workers=2)
    try:
        run_concurrency(tmp_path, rig, pg_url, service.url, "PostgreSQL (2 service workers)")
    finally:
        service.stop()
    assert "Traceback" not in service.output(), service.output()[-3000:]


def run_concurrency(tmp_path: Path, rig: CrashRig, db_url: str, url: str, backend: str) -> None:
    """Writers and readers use `url` (the database, or the service); followers the database."""
    env = {**os.environ, "RSP_LEDGER": url, "RSP_LEDGER_KEY_FILE": str(rig.key_file)}
    db_env = {**env, "RSP_LEDGER": db_url}
    ctx = multiprocessing.get_context("fork")
    writers = [
        ctx.Process(
            target=write_count,
            args=(
                url,
                str(rig.key_file),
                "writer",
                str(rig.issuer_key),
                str(rig.ack),
                f"w{i}",
                WRITES,
                i,
            ),
        )
        for i in range(WRITERS)
    ]
    followers = [
        subprocess.Popen(
            [RSP_LEDGER, "projections", "follow", "--poll", "0.05", "--max-seconds", "600"],
            env=db_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for w in writers:
        w.start()
    seen_checkpoints: list[str] = []
    reader_errors: list[str] = []
    exports: list[Path] = []
    counts = {"checkpoint": 0, "log": 0, "export": 0}

    def alive() -> bool:
        return any(w.is_alive() for w in writers)

    def read_checkpoints() -> None:
        while alive():
            counts["checkpoint"] += 1
            cp = _cli("checkpoint", "--json", env=env)
            if cp.returncode == 0:
                seen_checkpoints.append(json.loads(cp.stdout)["note"])
            else:
                reader_errors.append(f"checkpoint: {cp.stderr}")

    def read_log() -> None:
        while alive():
            counts["log"] += 1
            page = _cli("log", "--from", "0", "--limit", "5", "--json", env=env)
            if page.returncode != 0:
                reader_errors.append(f"log: {page.stderr}")

    def export() -> None:
        while alive():
            counts["export"] += 1
            out = tmp_path / f"export-{counts['export']}.zip"
            ex = _cli("export", "--out", str(out), env=env)
            if ex.returncode == 0:
                exports.append(out)
            else:
                reader_errors.append(f"export: {ex.stderr}")

    readers = [threading.Thread(target=f) for f in (read_checkpoints, read_log, export)]
    for r in readers:
        r.start()
    for r in readers:
        r.join(timeout=900)
    rounds = sum(counts.values())
    for w in writers:
        w.join(timeout=60)
        assert w.exitcode == 0, f"writer exited {w.exitcode}"
    time.sleep(0.5)
    for f in followers:
        f.terminate()
        _, err = f.communicate(timeout=60)
        assert "Traceback" not in err, err[-3000:]

    assert reader_errors == [], reader_errors[:3]
    assert all("Traceback" not in e for e in reader_errors)

    report = CrashReport()
    rig.check(report)
    assert report.problems == [] and report.lost == 0
    assert report.acknowledged == WRITERS * WRITES
    with Ledger(db_url) as ledger:
        size = ledger.size()
        with ledger.engine.connect() as conn:
            distinct = conn.execute(
                select(func.count(func.distinct(schema.statements.c.statement_id)))
            ).scalar()
    assert distinct == size == WRITERS * WRITES + 2  # genesis + the writer's registration

    roots = _prefix_roots(rig.leaves, set(range(size + 1)))
    for note in seen_checkpoints:
        cp_, _ = verify_checkpoint(note, rig.vkey)
        assert cp_.root == roots[cp_.size], f"checkpoint {cp_.size} is not a prefix of the log"
    assert seen_checkpoints, "no checkpoint was read while the writers ran"

    vkey = str(rig.vkey)
    for bundle in exports:
        v = _cli("verify", str(bundle), "--ledger-key", vkey, "--json", env=env)
        assert v.returncode in (0, 1), v.stdout[-2000:] + v.stderr[-2000:]
        assert v.stdout.strip(), f"verify printed nothing (exit {v.returncode}): {v.stderr[-3000:]}"
        assert json.loads(v.stdout)["integrity"]["ok"] is True
    assert exports, "no export completed while the writers ran"

    lag = _cli("projections", "status", "--json", env=db_env)
    assert lag.returncode == 0, lag.stderr
    print(
        f"\nconcurrency on {backend}: {WRITERS} writers × {WRITES} submits, {rounds} reader commands, "
        f"{len(seen_checkpoints)} checkpoints seen, {len(exports)} exports verified, 0 lost, "
        f"0 duplicates, seq gap-free; projections: {lag.stdout.strip()[:200]}"
    )
