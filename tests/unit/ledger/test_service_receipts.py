"""The service's receipts (ledger/_service_receipts.py): proofs made from a group's own leaves and
the kept right edge are exactly the store's proofs, whoever else wrote in between, and a stored
tree that disagrees with its signed checkpoint is refused, not proved."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from ledger import schema
from ledger._service_receipts import Receipts
from ledger.history import HistoryWriter
from ledger.store import Ledger, RecordedEntry, Submission
from ledger.tree import (
    DictNodeSource,
    TreeCorruptionError,
    frontier_keys,
    inclusion_keys,
    nodes_completed_by_appends,
)
from tests.ledgers import open_new_ledger


def test_a_groups_proofs_need_only_the_old_right_edge_and_its_own_leaves() -> None:
    rng = random.Random(7)
    for _ in range(400):
        start, count = rng.randint(1, 3000), rng.randint(1, 130)
        size = start + count
        source = DictNodeSource.from_leaves([bytes([i % 251]) * 32 for i in range(start)])
        have = set(frontier_keys(start))
        have |= {n.key for n in nodes_completed_by_appends(source, start, [b"n" * 32] * count)}
        for seq in range(start, size):
            needed = {k for g in inclusion_keys(seq, size) for k in g} | {(0, seq)}
            assert needed <= have, (start, size, seq, sorted(needed - have))
        assert set(frontier_keys(size)) <= have


@pytest.fixture
def writer(tmp_path: Path) -> HistoryWriter:
    return open_new_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", asserted=False).writer


def _group(h: HistoryWriter, ledger: Ledger, tag: str, n: int) -> list[RecordedEntry]:
    h.clock = datetime.now(UTC)
    subs = [
        Submission(
            h.envelope(
                h.statement(
                    "noncompliance_reported", "dario", id=f"{tag}-{i}", regarding=None, summary="s"
                ),
                ["dario"],
            )
        )
        for i in range(n)
    ]
    return ledger.submit_batch(subs, workers=1)


def _assert_store_agrees(ledger: Ledger, receipts: Receipts, recorded: list[RecordedEntry]) -> None:
    size = max(r.seq for r in recorded) + 1
    note, proofs = receipts.prove({r.seq: r.leaf_hash for r in recorded}, size)
    assert sorted(proofs) == [r.seq for r in recorded]
    for r in recorded:
        assert (proofs[r.seq], note) == ledger.inclusion_proof(r.seq, size)


def test_receipts_equal_the_stores_proofs_with_and_without_other_writers(
    writer: HistoryWriter,
) -> None:
    ledger = writer.ledger
    other = Ledger(ledger.url, signer=ledger._signer)  # another worker on the same database
    receipts = Receipts(ledger)
    try:
        for n, tag in enumerate(["a", "b", "c", "d", "e", "f", "g"], start=1):
            _assert_store_agrees(ledger, receipts, _group(writer, ledger, tag, n))
            if n % 3 == 0:  # someone else moves the tree: the kept right edge is stale
                _group(writer, other, f"other-{tag}", n)
        one = _group(writer, ledger, "alone", 1)
        _assert_store_agrees(ledger, receipts, one)
    finally:
        other.close()


def test_a_stored_node_that_disagrees_with_the_signed_root_is_refused(
    writer: HistoryWriter,
) -> None:
    ledger = writer.ledger
    _group(writer, ledger, "first", 3)
    recorded = _group(writer, ledger, "second", 4)
    start = recorded[0].seq
    level, index = frontier_keys(start)[0]
    t = schema.tree_nodes
    with ledger.engine.begin() as conn:
        conn.execute(
            update(t).where(t.c.level == level, t.c.idx == index).values(hash=b"\x00" * 32)
        )
    with pytest.raises(TreeCorruptionError):  # nothing kept: the right edge is read, and wrong
        Receipts(ledger).prove({r.seq: r.leaf_hash for r in recorded}, start + 4)
