"""The right frontier of the tree: one perfect-subtree hash per set bit of the size.

Appending a leaf at index n merges it with the frontier nodes of the set low bits of n, which are
exactly the perfect subtrees the new leaf completes; those completed nodes are what the ledger
writes. Loading costs one batched read of O(log n) nodes; each append is amortised O(1) hashing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ledger.errors import LedgerStateError
from verify.merkle import EMPTY_ROOT, node_hash

NodeReader = Callable[[Sequence[tuple[int, int]]], Mapping[tuple[int, int], bytes]]


def frontier_keys(size: int) -> list[tuple[int, int]]:
    """(level, index) of the perfect subtrees that make up [0, size), highest level first."""
    return [(k, (size >> k) - 1) for k in range(size.bit_length() - 1, -1, -1) if size >> k & 1]


@dataclass(slots=True)
class Frontier:
    size: int
    nodes: dict[int, bytes] = field(default_factory=dict)  # level -> hash, one per set bit

    @classmethod
    def empty(cls) -> Frontier:
        return cls(0)

    @classmethod
    def load(cls, size: int, read: NodeReader) -> Frontier:
        keys = frontier_keys(size)
        found = read(keys)
        missing = [k for k in keys if k not in found]
        if missing:
            raise LedgerStateError(
                f"tree node (level {missing[0][0]}, index {missing[0][1]}) is missing at size "
                f"{size}: the stored tree is corrupted"
            )
        return cls(size, {level: found[(level, idx)] for level, idx in keys})

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf; return the (level, index, hash) of every node it completes."""
        n = self.size
        written = [(0, n, leaf_hash)]
        carry, level = leaf_hash, 0
        while n >> level & 1:
            carry = node_hash(self.nodes.pop(level), carry)
            level += 1
            written.append((level, ((n + 1) >> level) - 1, carry))
        self.nodes[level] = carry
        self.size = n + 1
        return written

    def root(self) -> bytes:
        if self.size == 0:
            return EMPTY_ROOT
        levels = sorted(self.nodes)
        acc = self.nodes[levels[0]]
        for level in levels[1:]:
            acc = node_hash(self.nodes[level], acc)
        return acc
