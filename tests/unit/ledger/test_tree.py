"""ledger/tree: proofs from the perfect-subtree node table equal the RFC 9162 definitions (the naive
recursive reference in tests/rfc9162_reference.py), for every past size, in one batched read of O(log n) nodes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.tree import (
    DictNodeSource,
    NodeKey,
    ProofRequestError,
    TreeCorruptionError,
    append_keys,
    consistency_proof,
    frontier_keys,
    inclusion_proof,
    nodes_completed_by_append,
    nodes_completed_by_appends,
    root_at,
    verify_root_at,
)
from tests.rfc9162_reference import leaves, mth, path, proof
from verify.merkle import EMPTY_ROOT, leaf_hash, verify_consistency, verify_inclusion

MAX_SIZE = 300


class CountingSource(DictNodeSource):
    """Counts batched reads, and fails if asked for a node a tree of its size does not have."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        self.reads.append(len(keys))
        for level, index in keys:
            assert (index + 1) << level <= self.tree_size, f"asked for {(level, index)}"
        return super().get_nodes(keys)


def build(n: int, batch_sizes: Sequence[int] = ()) -> CountingSource:
    """A tree of n leaves, appended one by one or in batches."""
    source = CountingSource()
    d = leaves(n)
    sizes = list(batch_sizes) or [1]
    i = 0
    while i < n:
        step = min(sizes[i % len(sizes)] or 1, n - i)
        source.append_all(d[i : i + step])
        i += step
    source.reads.clear()
    return source


@st.composite
def tree_sizes(draw: st.DrawFn) -> tuple[int, list[int]]:
    return draw(st.integers(0, MAX_SIZE)), draw(st.lists(st.integers(1, 40), max_size=4))


# -- appends ------------------------------------------------------------------------------------


@settings(max_examples=40)
@given(tree_sizes())
def test_stored_nodes_are_exactly_the_complete_perfect_subtrees(
    spec: tuple[int, list[int]],
) -> None:
    n, batches = spec
    source = build(n, batches)
    d = leaves(n)
    expected = {
        (level, index): mth(d[index << level : (index + 1) << level])
        for level in range(n.bit_length())
        for index in range(n >> level)
    }
    assert dict(source.nodes) == expected


def test_an_append_reads_only_the_siblings_it_merges_with() -> None:
    source = CountingSource()
    d = leaves(64)
    for i, leaf in enumerate(d):
        source.reads.clear()
        new = nodes_completed_by_append(source, i, leaf)
        trailing_ones = len(append_keys(i))
        # At most one read, of one left sibling per trailing 1 bit of the index (none for even i).
        assert source.reads == ([trailing_ones] if trailing_ones else [])
        # The leaf plus the node each of those siblings completes.
        assert [(n.level, n.index) for n in new] == [
            (lv, i >> lv) for lv in range(trailing_ones + 1)
        ]
        source.put(new)
        source._size += 1  # what the ledger's transaction does with its head row
    assert root_at(source, 64) == mth(d)


def test_append_at_the_wrong_index_is_refused() -> None:
    source = build(5)
    with pytest.raises(ProofRequestError, match="expected the next leaf at index 5, found index 4"):
        nodes_completed_by_append(source, 4, leaf_hash(b"x"))
    with pytest.raises(ProofRequestError, match="32-byte"):
        nodes_completed_by_appends(source, 5, [b"short"])
    assert nodes_completed_by_appends(source, 5, []) == []


def test_frontier_keys() -> None:
    assert frontier_keys(0) == []
    assert frontier_keys(13) == [(3, 0), (2, 2), (0, 12)]
    assert append_keys(11) == [(0, 10), (1, 4)]


# -- roots and proofs for every past size -------------------------------------------------------


@settings(max_examples=30)
@given(tree_sizes(), st.data())
def test_roots_and_proofs_equal_the_reference(
    spec: tuple[int, list[int]], data: st.DataObject
) -> None:
    stored, batches = spec
    source = build(stored, batches)
    d = leaves(stored)
    n = data.draw(st.integers(0, stored), label="size")
    assert root_at(source, n) == mth(d[:n])
    if n > 0:
        m = data.draw(st.integers(0, n - 1), label="index")
        source.reads.clear()
        p = inclusion_proof(source, m, n, root=mth(d[:n]))
        assert p == path(m, d[:n])
        assert len(source.reads) == 1  # one batched read
        assert source.reads[0] <= 2 * n.bit_length() + 1
        verify_inclusion(d[m], m, n, p, mth(d[:n]))
    old = data.draw(st.integers(0, n), label="old size")
    source.reads.clear()
    c = consistency_proof(source, old, n, old_root=mth(d[:old]), new_root=mth(d[:n]))
    assert c == proof(old, d[:n])
    assert len(source.reads) <= 1
    assert not source.reads or source.reads[0] <= 2 * n.bit_length() + 1
    verify_consistency(old, n, c, mth(d[:old]), mth(d[:n]))


def test_every_proof_of_a_small_tree() -> None:
    n = 70
    source = build(n, [3, 1, 7])
    d = leaves(n)
    for size in range(n + 1):
        assert root_at(source, size) == mth(d[:size])
        for m in range(size):
            assert inclusion_proof(source, m, size) == path(m, d[:size])
        for old in range(size + 1):
            assert consistency_proof(source, old, size) == proof(old, d[:size])


def test_empty_tree() -> None:
    source = DictNodeSource()
    assert root_at(source, 0) == EMPTY_ROOT
    assert consistency_proof(source, 0, 0) == []
    verify_root_at(source, 0, EMPTY_ROOT)


# -- bad requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: root_at(s, 11), r"expected a size in \[0, 10\].*found 11"),
        (lambda s: inclusion_proof(s, 0, 11), r"inclusion proof: expected a size in \[0, 10\]"),
        (lambda s: inclusion_proof(s, 10, 10), r"expected a leaf index in \[0, 10\), found 10"),
        (lambda s: inclusion_proof(s, 4, 4), r"expected a leaf index in \[0, 4\), found 4"),
        (lambda s: inclusion_proof(s, -1, 4), r"found -1"),
        (lambda s: inclusion_proof(s, 0, 0), r"\[0, 0\)"),
        (lambda s: consistency_proof(s, 5, 4), r"expected an old size in \[0, 4\], found 5"),
        (lambda s: consistency_proof(s, 3, 11), r"expected a size in \[0, 10\]"),
        (lambda s: consistency_proof(s, -1, 4), r"found -1"),
        (lambda s: root_at(s, -1), r"found -1"),
    ],
)
def test_requests_beyond_the_tree(call: object, message: str) -> None:
    assert callable(call)
    source = build(10)
    with pytest.raises(ProofRequestError, match=message):
        call(source)
    assert source.reads == []  # refused before any read


# -- corruption ---------------------------------------------------------------------------------


def test_missing_node_is_reported() -> None:
    source = build(10)
    del source._nodes[(3, 0)]
    with pytest.raises(
        TreeCorruptionError, match=r"node \(level 3, index 0\) over leaves \[0, 8\)"
    ):
        root_at(source, 10)
    with pytest.raises(TreeCorruptionError, match="found none"):
        inclusion_proof(source, 9, 10)


def test_corrupted_node_is_detected_against_the_signed_root() -> None:
    d = leaves(10)
    source = build(10)
    source._nodes[(1, 1)] = hashlib.sha256(b"tampered").digest()  # covers leaves [2, 4)
    # Without a trusted root, a proof cannot know; with one, it is caught.
    inclusion_proof(source, 0, 10)
    with pytest.raises(TreeCorruptionError, match="do not prove leaf 0 in the signed tree of 10"):
        inclusion_proof(source, 0, 10, root=mth(d))
    # From 2 to 10 the proof's first hash is that very node; it is caught against the roots.
    with pytest.raises(TreeCorruptionError, match="do not prove the signed tree of 2"):
        consistency_proof(source, 2, 10, old_root=mth(d[:2]), new_root=mth(d))
    # A proof that does not read the damaged node is still a correct proof (3 -> 10 reads
    # leaves 2 and 3, not their parent).
    verify_consistency(3, 10, consistency_proof(source, 3, 10), mth(d[:3]), mth(d))
    # A right child is never on a tree's right edge, so no root reads it: roots stay right.
    verify_root_at(source, 10, mth(d))


def test_corrupted_right_edge_node_is_detected_before_signing() -> None:
    d = leaves(10)
    source = build(10)
    source._nodes[(1, 2)] = hashlib.sha256(b"tampered").digest()  # leaves [4, 6): edge of size 6
    with pytest.raises(TreeCorruptionError, match="root of the stored tree at size 6"):
        verify_root_at(source, 6, mth(d[:6]))
    verify_root_at(source, 4, mth(d[:4]))  # nodes outside the damage still prove what they cover


def test_corrupted_leaf_is_detected_by_inclusion_with_root() -> None:
    d = leaves(6)
    source = build(6)
    source._nodes[(0, 5)] = leaf_hash(b"not entry 5")
    with pytest.raises(TreeCorruptionError):
        inclusion_proof(source, 5, 6, root=mth(d))


def test_wrong_length_node_is_reported() -> None:
    source = build(4)
    source._nodes[(2, 0)] = b"\x00" * 31
    with pytest.raises(TreeCorruptionError, match="32-byte hash for node \\(level 2, index 0\\)"):
        root_at(source, 4)
