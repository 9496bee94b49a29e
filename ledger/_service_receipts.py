"""Receipts for the service's submits: each new entry's inclusion proof in the tree that its
transaction committed, with that tree's signed checkpoint (SPEC §3), made once per group.

A group's transaction appended exactly its own new entries: leaves [start, size) are the group's,
and their hashes are in hand. Every node an inclusion proof of one of them needs is then either on
the right edge of the tree of `start` (its frontier, one node per set bit of `start`) or hashed
from those leaves (checked for all sizes in tests/unit/ledger/test_service_receipts.py). The
frontier of `size` is kept for the next group, and the checkpoint is the one this process signed
in the committed transaction (`Ledger.committed_checkpoint`). So a receipt reads nothing while
this worker alone extends the tree, and reads the frontier (and the checkpoint, if another thread
of the process committed since) when another worker or host has appended in between.

Invariants:
- nothing is given out unchecked: the root folded from the nodes must equal the root of the
  signed checkpoint given with them, and each proof is verified against it (`TreeCorruptionError`);
- a kept frontier is one that gave a signed root; nodes never change once complete (the log only
  grows), so it stays right for as long as it is the frontier of the tree being extended;
- a size with no stored checkpoint (inside a batch) is proved by `Ledger.inclusion_proof`, which
  signs one on demand after checking the nodes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from sqlalchemy import select

from ledger import schema
from ledger.store import Ledger, read_nodes
from ledger.tree import (
    NodeKey,
    ProofRequestError,
    frontier_keys,
    inclusion_keys,
    inclusion_proof,
    nodes_completed_by_appends,
    verify_root_at,
)
from verify.note import parse_checkpoint_body, parse_note


class _Nodes:
    """Nodes in hand, as a `NodeSource` (ledger/tree.py) of a tree of `size`."""

    def __init__(self, nodes: Mapping[NodeKey, bytes], size: int) -> None:
        self._nodes = nodes
        self._size = size

    @property
    def tree_size(self) -> int:
        return self._size

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        return {k: self._nodes[k] for k in keys if k in self._nodes}


class Receipts:
    """Inclusion proofs of new entries in the tree their transaction committed, for one worker."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._lock = threading.Lock()
        self._frontier: tuple[int, dict[NodeKey, bytes]] = (0, {})

    def prove(self, leaves: Mapping[int, bytes], size: int) -> tuple[str, dict[int, list[bytes]]]:
        """The signed checkpoint of the tree of `size` and the inclusion proof of each entry of
        `leaves` (seq → leaf hash, all recorded by the transaction that committed `size`)."""
        for seq in leaves:
            if not 0 <= seq < size:
                raise ProofRequestError(f"no entry {seq} in the tree of {size}")
        signed = self._ledger.committed_checkpoint(size)
        own = len(leaves) == size - min(leaves)  # the leaves are all of [start, size)
        if signed is not None and own:
            with self._lock:
                kept_size, kept = self._frontier
            if kept_size == min(leaves):  # all in hand: no read at all
                return signed, self._prove(dict(kept), leaves, size, _root_of(signed))
        with self._ledger.engine.connect() as conn:
            note = (
                signed
                or conn.execute(
                    select(schema.checkpoints.c.note).where(schema.checkpoints.c.size == size)
                ).scalar()
            )
            if note is not None:
                if own:
                    nodes = read_nodes(conn, frontier_keys(min(leaves)))
                else:  # not one transaction's leaves: every node the proofs need
                    wanted = {
                        k: None for seq in leaves for g in inclusion_keys(seq, size) for k in g
                    }
                    wanted.update(((0, seq), None) for seq in leaves)
                    wanted.update((k, None) for k in frontier_keys(size))
                    nodes = read_nodes(conn, list(wanted))
                return str(note), self._prove(nodes, leaves, size, _root_of(str(note)))
        found = {seq: self._ledger.inclusion_proof(seq, size) for seq in leaves}
        note = next(iter(found.values()))[1]
        return note, {seq: proof for seq, (proof, _) in found.items()}

    def _prove(
        self, nodes: dict[NodeKey, bytes], leaves: Mapping[int, bytes], size: int, root: bytes
    ) -> dict[int, list[bytes]]:
        """Proofs from `nodes`: the right edge of the tree before `leaves` if they are all of
        [start, size) (the rest is hashed from them), else every node needed. Checked against
        `root`; on success the right edge of `size` is kept for the next group."""
        start = min(leaves)
        if len(leaves) == size - start:
            before = _Nodes(nodes, start)
            ordered = [leaves[s] for s in sorted(leaves)]
            for node in nodes_completed_by_appends(before, start, ordered):
                nodes[node.key] = node.hash
        source = _Nodes(nodes, size)
        verify_root_at(source, size, root)
        proofs = {seq: inclusion_proof(source, seq, size, root=root) for seq in leaves}
        with self._lock:
            if size > self._frontier[0]:
                self._frontier = (size, {k: nodes[k] for k in frontier_keys(size)})
        return proofs


def _root_of(note: str) -> bytes:
    return parse_checkpoint_body(parse_note(note).text).root
