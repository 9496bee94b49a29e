"""The tree in the store (issue 3), at 10k and 1M entries, through the real SQL node table:

- inclusion and consistency proof time (target < 2 ms each at any size);
- checkpoint signing rate;
- recomputing the root from the stored leaves, as a ratio to raw SHA-256 throughput on the same
  machine in the same run;
- the tree's share of the append cost (node computation and node rows, against a whole batch).

The node table is filled directly (random leaf hashes) so that 1M entries take seconds, not
the minutes signing a million statements would; the proof path is the ledger's own
(`_SqlNodeSource` + `ledger/tree.py`).
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert

from ledger import schema
from ledger.store import Ledger, Submission, _SqlNodeSource
from ledger.tree import (
    DictNodeSource,
    consistency_proof,
    inclusion_proof,
    nodes_completed_by_appends,
    root_at,
)
from verify.keys import Ed25519Signer
from verify.merkle import CompactRange, leaf_hash, verify_consistency, verify_inclusion
from verify.note import Checkpoint, sign_checkpoint

SIZES = [int(x) for x in os.environ.get("BENCH_TREE_SIZES", "10000,1000000").split(",")]


def _fill(db: Path, n: int) -> list[bytes]:
    rng = random.Random(n)
    leaves = [rng.randbytes(32) for _ in range(n)]
    engine = create_engine(f"sqlite:///{db}")
    schema.tree_nodes.create(engine, checkfirst=True)
    src = DictNodeSource()
    step = 100_000
    with engine.begin() as conn:
        for i in range(0, n, step):
            nodes = src.append_all(leaves[i : i + step])
            conn.execute(
                insert(schema.tree_nodes),
                [{"level": x.level, "idx": x.index, "hash": x.hash} for x in nodes],
            )
    engine.dispose()
    return leaves


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1e3:.3f} ms, max {max(samples) * 1e3:.3f} ms"


def _proofs(db: Path, n: int, leaves: list[bytes]) -> None:
    engine = create_engine(f"sqlite:///{db}")
    rng = random.Random(7)
    incl: list[float] = []
    cons: list[float] = []
    with engine.connect() as conn:
        source = _SqlNodeSource(conn, n)
        root = root_at(source, n)
        for _ in range(300):
            idx = rng.randrange(n)
            t0 = time.perf_counter()
            proof = inclusion_proof(source, idx, n)
            incl.append(time.perf_counter() - t0)
            verify_inclusion(leaves[idx], idx, n, proof, root)
        for _ in range(300):
            old = rng.randrange(1, n)
            t0 = time.perf_counter()
            proof = consistency_proof(source, old, n)
            cons.append(time.perf_counter() - t0)
        verify_consistency(old, n, proof, root_at(source, old), root)
    engine.dispose()
    print(f"  inclusion proof at {n:>9,}: {_ms(incl)}  (target < 2 ms)")
    print(f"  consistency proof at {n:>7,}: {_ms(cons)}  (target < 2 ms)")


def _root_recompute(db: Path, n: int) -> None:
    engine = create_engine(f"sqlite:///{db}")
    t = schema.tree_nodes
    with engine.connect() as conn:
        t0 = time.perf_counter()
        cr = CompactRange()
        rows = conn.execute(t.select().where(t.c.level == 0).order_by(t.c.idx)).yield_per(50_000)
        for row in rows:
            cr.append(bytes(row.hash))
        cr.root()
        t_recompute = time.perf_counter() - t0
    engine.dispose()
    # Raw SHA-256 over the same work: one 65-byte node hash per leaf, ~n node hashes in all.
    block = os.urandom(65)
    t0 = time.perf_counter()
    for _ in range(n):
        hashlib.sha256(block).digest()
    t_raw = time.perf_counter() - t0
    print(
        f"  root from {n:,} stored leaves: {n / t_recompute:,.0f} leaves/s; raw SHA-256 of "
        f"65-byte nodes {n / t_raw:,.0f}/s; ratio {t_raw / t_recompute:.2f}"
    )


def _checkpoint_rate() -> None:
    signer = Ed25519Signer.generate()
    cp = Checkpoint("bench.example/tree", 1_000_000, os.urandom(32))
    k = 5000
    t0 = time.perf_counter()
    for _ in range(k):
        sign_checkpoint(cp, cp.origin, signer)
    print(f"checkpoint signing: {k / (time.perf_counter() - t0):,.0f} /s")


def _append_share(folder: Path) -> None:
    """Time a real batch of appends, then the tree's part of it alone, on the same kind of file."""
    from ledger.history import HistoryWriter

    n = 5000
    signer = Ed25519Signer.generate()
    ledger = Ledger(f"sqlite:///{folder / 'share.db'}", signer=signer)
    h = HistoryWriter(ledger, datetime(2025, 5, 14, tzinfo=UTC), asserted=False)
    h.principal("alice", "ledger-admin")
    ledger.initialize(h.genesis_envelope("bench.example/share", "alice", asserted=False))
    h.clock = datetime.now(UTC)
    envs = [
        h.envelope(
            h.statement("noncompliance_reported", "alice", regarding=None, summary=f"x{i}"),
            ["alice"],
        )
        for i in range(n)
    ]
    t0 = time.perf_counter()
    ledger.submit_batch([Submission(e) for e in envs], workers=1)
    total = time.perf_counter() - t0
    leaves = [leaf_hash(raw) for raw in ledger.raw_entries(1, n + 1)]
    ledger.close()
    db = folder / "share-tree.db"
    engine = create_engine(f"sqlite:///{db}")
    schema.tree_nodes.create(engine)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        src = DictNodeSource()
        nodes = nodes_completed_by_appends(src, 0, leaves)
        conn.execute(
            insert(schema.tree_nodes),
            [{"level": x.level, "idx": x.index, "hash": x.hash} for x in nodes],
        )
    tree = time.perf_counter() - t0
    engine.dispose()
    print(
        f"tree's share of the append cost: {tree * 1e6 / n:.1f} µs of {total * 1e6 / n:.1f} µs "
        f"per entry ({100 * tree / total:.1f}%), batch of {n}, signature checks on one core"
    )


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="rsp-bench-tree-") as tmp:
        folder = Path(tmp)
        for n in SIZES:
            db = folder / f"tree-{n}.db"
            t0 = time.perf_counter()
            leaves = _fill(db, n)
            print(f"tree of {n:,} leaves built in {time.perf_counter() - t0:.1f} s")
            _proofs(db, n, leaves)
            _root_recompute(db, n)
        _checkpoint_rate()
        _append_share(folder)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
