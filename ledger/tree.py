"""Proof generation over a table of perfect-subtree nodes (SPEC §3, issue 3). Pure: no database,
no I/O; the store is reached through `NodeSource`.

The stored tree. Node (level, index) is the root of the perfect subtree over leaves
[index·2^level, (index+1)·2^level); level 0 holds the leaf hashes. A node is stored once that
subtree is complete, and never changes after (the log only grows). The store holds every node
that is complete at its current size, and nothing else.

Why a node table, and not tiles (c2sp.org/tlog-tiles) or compact ranges alone:
- append: leaf n completes exactly the subtrees its trailing 1 bits close, so an append writes
  1 + trailing_ones(n) rows (amortised < 2, at most log2 n + 1) after reading that many left
  siblings; the rows go in the same SQL transaction as the entry, so an entry is never visible
  without its leaf, and no background job owns the tree;
- any proof, for any past size <= the stored size, needs at most ~2·log2 n nodes, whose keys are
  known from the sizes alone: `*_keys` functions compute them and one batched `get_nodes` reads
  them (one `WHERE (level, idx) IN (...)` round trip), independent of n;
- the right edge of a past tree is not stored (its subtrees were incomplete then), but it is the
  fold of the perfect subtrees that size's binary form decomposes it into, all stored;
- tiles trade this for fewer, larger rows and cacheable static files, which a 1M-entry audit ledger
  served by one service does not need; a compact range alone cannot answer proofs for past sizes.

Invariants:
- every function reads through one `get_nodes` call with keys computed up front;
- sizes and indexes are checked against `source.tree_size` before any read (`ProofRequestError`);
- a node that is missing, of the wrong length, or that makes a proof disagree with a trusted root
  given by the caller raises `TreeCorruptionError`; nothing is silently signed over or served.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.errors import LedgerError
from verify.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    ProofError,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

NodeKey = tuple[int, int]  # (level, index)


class ProofRequestError(LedgerError):
    """A proof or root was asked for sizes or indexes the tree cannot answer."""


class TreeCorruptionError(LedgerError):
    """A stored node is missing or wrong: the tree does not match its entries or checkpoints."""


@dataclass(frozen=True, slots=True)
class Node:
    level: int
    index: int
    hash: bytes

    @property
    def key(self) -> NodeKey:
        return (self.level, self.index)


class NodeSource(Protocol):
    """Read access to the stored perfect-subtree nodes of a tree of `tree_size` leaves."""

    @property
    def tree_size(self) -> int: ...

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """The stored hashes of `keys`, in one batched read; absent keys are left out."""
        ...


class DictNodeSource:
    """An in-memory `NodeSource` (tests, benchmarks, building a tree in memory)."""

    __slots__ = ("_nodes", "_size")

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}
        self._size = 0

    @classmethod
    def from_leaves(cls, leaves: Iterable[bytes]) -> DictNodeSource:
        source = cls()
        source.append_all(list(leaves))
        return source

    @property
    def tree_size(self) -> int:
        return self._size

    @property
    def nodes(self) -> Mapping[NodeKey, bytes]:
        return self._nodes

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        nodes = self._nodes
        return {k: nodes[k] for k in keys if k in nodes}

    def put(self, nodes: Iterable[Node]) -> None:
        """Store nodes (as an append's transaction would); does not change `tree_size`."""
        for n in nodes:
            self._nodes[n.key] = n.hash

    def append_all(self, leaves: Sequence[bytes]) -> list[Node]:
        new = nodes_completed_by_appends(self, self._size, leaves)
        self.put(new)
        self._size += len(leaves)
        return new


def _describe(key: NodeKey) -> str:
    level, index = key
    return f"node (level {level}, index {index}) over leaves [{index << level}, {(index + 1) << level})"


def _fetch(source: NodeSource, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
    unique = list(dict.fromkeys(keys))
    found = source.get_nodes(unique) if unique else {}
    for k in unique:
        h = found.get(k)
        if h is None:
            raise TreeCorruptionError(
                f"expected stored {_describe(k)} in a tree of {source.tree_size}, found none"
            )
        if len(h) != HASH_SIZE:
            raise TreeCorruptionError(
                f"expected a {HASH_SIZE}-byte hash for {_describe(k)}, found {len(h)} bytes"
            )
    return found


def _check_size(source: NodeSource, size: int, what: str) -> None:
    if not 0 <= size <= source.tree_size:
        raise ProofRequestError(
            f"{what}: expected a size in [0, {source.tree_size}] (the tree's size), found {size}"
        )


# -- appends -------------------------------------------------------------------------------------


def frontier_keys(size: int) -> list[NodeKey]:
    """The perfect subtrees that decompose [0, size), largest first: one per set bit of `size`.

    They are the tree's right edge: the root of `size` is their fold, and appends build on them.
    """
    return [
        (level, (size >> level) - 1)
        for level in reversed(range(size.bit_length()))
        if size >> level & 1
    ]


def append_keys(index: int) -> list[NodeKey]:
    """The stored left siblings that appending leaf `index` merges with (one per trailing 1 bit)."""
    keys = []
    level = 0
    while index >> level & 1:
        keys.append((level, (index >> level) - 1))
        level += 1
    return keys


def _extend(frontier: dict[int, bytes], start: int, leaves: Sequence[bytes]) -> list[Node]:
    out: list[Node] = []
    for i, leaf in enumerate(leaves, start):
        if len(leaf) != HASH_SIZE:
            raise ProofRequestError(
                f"leaf {i}: expected a {HASH_SIZE}-byte hash, found {len(leaf)} bytes"
            )
        out.append(Node(0, i, leaf))
        h, level, index = leaf, 0, i
        while index & 1:
            h = node_hash(frontier.pop(level), h)
            level += 1
            index >>= 1
            out.append(Node(level, index, h))
        frontier[level] = h
    return out


def nodes_completed_by_append(source: NodeSource, index: int, leaf: bytes) -> list[Node]:
    """What appending leaf `index` (the tree's size before it) must store: the leaf and every
    perfect subtree it completes, lowest first. Reads `append_keys(index)` in one batch."""
    return nodes_completed_by_appends(source, index, [leaf])


def nodes_completed_by_appends(
    source: NodeSource, size: int, leaves: Sequence[bytes]
) -> list[Node]:
    """The nodes that appending `leaves` to a tree of `size` must store, in order.

    One batched read of the right edge it builds on (`append_keys` for one leaf, the whole
    `frontier_keys` for several), then pure hashing: 2 hashes per leaf, amortised.
    """
    if size != source.tree_size:
        raise ProofRequestError(
            f"append: expected the next leaf at index {source.tree_size}, found index {size}"
        )
    if not leaves:
        return []
    keys = append_keys(size) if len(leaves) == 1 else frontier_keys(size)
    found = _fetch(source, keys)
    frontier = {level: found[(level, index)] for level, index in keys}
    return _extend(frontier, size, leaves)


# -- roots and proofs ----------------------------------------------------------------------------


def _range_keys(begin: int, end: int) -> list[NodeKey]:
    """The perfect subtrees decomposing [begin, end), largest first, for a range RFC 9162 builds:
    `begin` a multiple of the largest power of two below `end - begin`."""
    keys: list[NodeKey] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        while begin & ((1 << level) - 1):  # pragma: no cover - RFC 9162 ranges are aligned
            level -= 1
        keys.append((level, begin >> level))
        begin += 1 << level
    return keys


def _fold(keys: Sequence[NodeKey], nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH of a range from its decomposition: the right edge folds from the right."""
    h = nodes[keys[-1]]
    for k in reversed(keys[:-1]):
        h = node_hash(nodes[k], h)
    return h


def _split(n: int) -> int:
    """RFC 9162: the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_keys(size: int) -> list[NodeKey]:
    return frontier_keys(size)


def root_at(source: NodeSource, size: int) -> bytes:
    """The RFC 9162 root of the first `size` leaves, from popcount(size) stored nodes."""
    _check_size(source, size, "root")
    if size == 0:
        return EMPTY_ROOT
    keys = root_keys(size)
    return _fold(keys, _fetch(source, keys))


def inclusion_keys(index: int, size: int) -> list[list[NodeKey]]:
    """For each hash of PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf side first, the stored
    nodes whose fold it is: one node, except for a right-edge sibling (at most one per proof)."""
    path: list[list[NodeKey]] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            path.append(_range_keys(begin + k, end))
            end = begin + k
        else:
            path.append(_range_keys(begin, begin + k))
            begin += k
    path.reverse()
    return path


def inclusion_proof(
    source: NodeSource, index: int, size: int, *, root: bytes | None = None
) -> list[bytes]:
    """The inclusion proof of leaf `index` in the tree of `size` (any size <= the stored size).

    With `root` (the signed root of `size`), the proof is also checked against it and against the
    stored leaf, in the same single read; a mismatch is a `TreeCorruptionError`.
    """
    _check_size(source, size, "inclusion proof")
    if not 0 <= index < size:
        raise ProofRequestError(
            f"inclusion proof: expected a leaf index in [0, {size}), found {index}"
        )
    groups = inclusion_keys(index, size)
    wanted = [k for g in groups for k in g]
    if root is not None:
        wanted.append((0, index))
    nodes = _fetch(source, wanted)
    proof = [_fold(g, nodes) for g in groups]
    if root is not None:
        try:
            verify_inclusion(nodes[(0, index)], index, size, proof, root)
        except ProofError as e:
            raise TreeCorruptionError(
                f"stored nodes do not prove leaf {index} in the signed tree of {size}: {e}"
            ) from e
    return proof


def consistency_keys(old: int, new: int) -> list[list[NodeKey]]:
    """For each hash of PROOF(old, D[0:new]) (RFC 9162 §2.1.4.1), in order, the stored nodes whose
    fold it is. Empty when old is 0 or old == new."""
    out: list[list[NodeKey]] = []
    if old == 0 or old == new:
        return out
    begin, end, m, include_self = 0, new, old, False
    while m != end - begin:
        k = _split(end - begin)
        if m <= k:
            out.append(_range_keys(begin + k, end))
            end = begin + k
        else:
            out.append(_range_keys(begin, begin + k))
            begin += k
            m -= k
            include_self = True
    if include_self:
        # SUBPROOF(m, D[m], false): the old tree's last perfect subtree, unknown to the verifier.
        out.append(_range_keys(begin, end))
    out.reverse()
    return out


def consistency_proof(
    source: NodeSource,
    old: int,
    new: int,
    *,
    old_root: bytes | None = None,
    new_root: bytes | None = None,
) -> list[bytes]:
    """The consistency proof from size `old` to size `new` (any `old <= new <= stored size`).

    With both signed roots given, the proof is checked against them before it is returned; a
    mismatch is a `TreeCorruptionError`.
    """
    _check_size(source, new, "consistency proof")
    if not 0 <= old <= new:
        raise ProofRequestError(
            f"consistency proof: expected an old size in [0, {new}], found {old}"
        )
    groups = consistency_keys(old, new)
    nodes = _fetch(source, [k for g in groups for k in g])
    proof = [_fold(g, nodes) for g in groups]
    if old_root is not None and new_root is not None:
        try:
            verify_consistency(old, new, proof, old_root, new_root)
        except ProofError as e:
            raise TreeCorruptionError(
                f"stored nodes do not prove the signed tree of {old} a prefix of {new}: {e}"
            ) from e
    return proof


def verify_root_at(source: NodeSource, size: int, expected_root: bytes) -> None:
    """Raises `TreeCorruptionError` unless the stored nodes give `expected_root` at `size` (e.g.
    the root kept beside the head, before a checkpoint is signed over it)."""
    computed = root_at(source, size)
    if computed != expected_root:
        raise TreeCorruptionError(
            f"root of the stored tree at size {size}: expected {expected_root.hex()[:16]}…, "
            f"computed {computed.hex()[:16]}…"
        )


__all__ = [
    "DictNodeSource",
    "Node",
    "NodeKey",
    "NodeSource",
    "ProofRequestError",
    "TreeCorruptionError",
    "append_keys",
    "consistency_keys",
    "consistency_proof",
    "frontier_keys",
    "inclusion_keys",
    "inclusion_proof",
    "nodes_completed_by_append",
    "nodes_completed_by_appends",
    "root_at",
    "root_keys",
    "verify_root_at",
]
