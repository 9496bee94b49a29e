"""The tree's costs at 10k and 1M entries (issue 3), against an in-memory `DictNodeSource`.

- appends: the tree's work per entry (`nodes_completed_by_appends`, and one-at-a-time appends with
  their batched sibling read), in µs per entry;
- proofs: inclusion and consistency proof generation for random sizes up to the tree's size,
  median / p99 / max in ms (target: under 2 ms each at any size), with and without the check
  against the signed root;
- root recomputation from the stored leaves (streamed through `CompactRange`), as a ratio to raw
  hashlib SHA-256 over the same number of 65-byte node inputs, measured in the same run;
- checkpoint signing rate (Ed25519 over the checkpoint body).

The database round trip of the real store is not in these figures; `get_nodes` is one query.
Usage: `python -m bench tree` or `python -m bench.bench_tree [SIZE ...]`.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import sys
import time
from collections.abc import Callable

from ledger.tree import (
    DictNodeSource,
    consistency_proof,
    inclusion_proof,
    nodes_completed_by_append,
    root_at,
)
from verify.keys import Ed25519Signer
from verify.merkle import CompactRange, leaf_hash
from verify.note import Checkpoint, sign_checkpoint

DEFAULT_SIZES = (10_000, 1_000_000)
PROOFS = 2_000
TARGET_MS = 2.0


def _timings_ms(fn: Callable[[], object], count: int) -> list[float]:
    out = []
    for _ in range(count):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return sorted(out)


def _summary(name: str, ms: list[float]) -> None:
    p99 = ms[int(len(ms) * 0.99) - 1]
    verdict = "ok" if p99 < TARGET_MS else "OVER TARGET"
    print(
        f"  {name:<34} median {statistics.median(ms):.3f} ms  p99 {p99:.3f} ms  "
        f"max {ms[-1]:.3f} ms  (target < {TARGET_MS} ms: {verdict})"
    )


def _raw_sha256_seconds(count: int) -> float:
    """hashlib over `count` 65-byte inputs, the size of an RFC 9162 node input, in a tight loop."""
    block = b"\x01" + b"\xab" * 64
    sha = hashlib.sha256
    t = time.perf_counter()
    for _ in range(count):
        sha(block).digest()
    return time.perf_counter() - t


def run(size: int) -> None:
    print(f"-- {size:,} entries")
    rng = random.Random(size)
    t = time.perf_counter()
    leaves = [leaf_hash(b"entry %d" % i) for i in range(size)]
    leaf_s = time.perf_counter() - t

    source = DictNodeSource()
    t = time.perf_counter()
    source.append_all(leaves)
    batch_s = time.perf_counter() - t
    print(
        f"  append (batch): {batch_s / size * 1e6:.2f} µs/entry for the tree, "
        f"{len(source.nodes):,} nodes stored ({len(source.nodes) / size:.2f} per entry); "
        f"leaf hashing alone {leaf_s / size * 1e6:.2f} µs/entry"
    )

    # One-at-a-time appends, each with its own batched sibling read (what a single submit does).
    single = DictNodeSource()
    sample = min(size, 100_000)
    t = time.perf_counter()
    for i in range(sample):
        single.put(nodes_completed_by_append(single, i, leaves[i]))
        single._size += 1  # the store's head row does this in the same transaction
    print(
        f"  append (one by one, {sample:,}): {(time.perf_counter() - t) / sample * 1e6:.2f} µs/entry"
    )

    roots: dict[int, bytes] = {}

    def root(n: int) -> bytes:
        if n not in roots:
            roots[n] = root_at(source, n)
        return roots[n]

    sizes = [rng.randint(1, size) for _ in range(PROOFS)]
    pairs = [(rng.randrange(n), n) for n in sizes]
    it = iter(pairs)
    _summary("inclusion proof", _timings_ms(lambda: inclusion_proof(source, *next(it)), PROOFS))
    for _, n in pairs:
        root(n)
    it = iter(pairs)
    _summary(
        "inclusion proof + check vs root",
        _timings_ms(
            lambda: (lambda m, n: inclusion_proof(source, m, n, root=root(n)))(*next(it)), PROOFS
        ),
    )
    olds = [(rng.randint(0, n), n) for n in sizes]
    it = iter(olds)
    _summary("consistency proof", _timings_ms(lambda: consistency_proof(source, *next(it)), PROOFS))
    for o, _ in olds:
        root(o)
    it = iter(olds)
    _summary(
        "consistency proof + check vs roots",
        _timings_ms(
            lambda: (
                lambda o, n: consistency_proof(source, o, n, old_root=root(o), new_root=root(n))
            )(*next(it)),
            PROOFS,
        ),
    )
    _summary(
        "root at a past size", _timings_ms(lambda: root_at(source, rng.randint(0, size)), PROOFS)
    )

    # Root recomputation from the stored leaves vs raw SHA-256 in the same run.
    stored = source.nodes
    t = time.perf_counter()
    cr = CompactRange()
    for i in range(size):
        cr.append(stored[(0, i)])
    recompute_s = time.perf_counter() - t
    assert cr.root() == root_at(source, size)
    raw_s = _raw_sha256_seconds(size - 1)
    print(
        f"  root from stored leaves: {recompute_s * 1000:.1f} ms ({size / recompute_s:,.0f} leaves/s); "
        f"raw SHA-256 of {size - 1:,} node inputs: {raw_s * 1000:.1f} ms "
        f"({(size - 1) * 65 / raw_s / 1e6:.0f} MB/s); ratio {recompute_s / raw_s:.2f}x"
    )

    signer = Ed25519Signer.generate()
    cp = Checkpoint("example.org/rsp-ledger", size, root(size))
    count = 2_000
    t = time.perf_counter()
    for _ in range(count):
        sign_checkpoint(cp, cp.origin, signer)
    print(f"  checkpoint signing: {count / (time.perf_counter() - t):,.0f} checkpoints/s")


def main(argv: list[str]) -> None:
    sizes = [int(a.replace("_", "")) for a in argv] or list(DEFAULT_SIZES)
    for size in sizes:
        run(size)


if __name__ == "__main__":
    main(sys.argv[1:])
