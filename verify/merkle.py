"""RFC 9162 Merkle trees (SPEC §3): hashing, proof verification, streaming roots.

The log is the RFC 9162 §2.1 tree over entries: leaf n = SHA-256(0x00 ‖ JCS(entry n)), interior
node = SHA-256(0x01 ‖ left ‖ right), and the empty tree's root is SHA-256 of nothing. The ledger
builds its tree with `leaf_hash` and `node_hash` from this module, so writer and auditor hash
every byte the same way.

Invariants:
- every `verify_*` returns None or raises `ProofError` (a `VerificationError`) whose message says
  what was expected and what was found; nothing returns a bool;
- a proof has exactly the number of hashes its sizes call for: a missing, extra, truncated or
  padded hash is an error, never ignored;
- leaf hashes and proof hashes are exactly 32 bytes (`HASH_SIZE`). Roots are only ever compared,
  byte for byte, with a root computed here or given beside them; a root's form is the checkpoint
  parser's to enforce (verify/note.py accepts only 32-byte roots);
- `CompactRange` keeps O(log n) hashes, whatever the number of leaves it has seen.

Consistency from size 0 (docs/merkle.md). RFC 9162 defines no consistency proof from the empty
tree, and transparency-dev/merkle refuses one; C2SP tlog-witness (and c2sp.org/merkle-tree) accept
old size 0 with an empty proof, since every tree extends the empty one. We follow C2SP, because
an auditor's first checkpoint and a witness's first sight of a log are both "from size 0", and
refusing them would force a special case on every caller. We are stricter than C2SP in one way:
the old root MUST be `EMPTY_ROOT`, because a size-0 checkpoint with any other root is not a
checkpoint of an RFC 9162 tree. The new root is not constrained by such a proof.

Subtree proofs (`verify_subtree_inclusion`, `verify_subtree_consistency`) are those of
draft-ietf-plants-merkle-tree-certs (subtrees [start, end) of a tree). The ledger does not produce
them; they generalise RFC 9162's proofs (the subtree [0, n) is the tree of size n), and are here
so that the shared transparency-dev vectors for them run through this module, and as a second,
independent algorithm that the tests compare with the RFC 9162 one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from domain.errors import VerificationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof does not prove what it claims."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 ‖ data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _short(h: bytes) -> str:
    return h.hex()[:16] + ("…" if len(h) > 8 else "")


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what}: expected a {HASH_SIZE}-byte hash, found {len(value)} bytes")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        _check_hash(h, f"proof hash {i}")


def _check_size(value: int, what: str) -> None:
    if value < 0:
        raise ProofError(f"expected a non-negative {what}, found {value}")


def _roots_match(computed: bytes, given: bytes, what: str) -> None:
    if computed != given:
        raise ProofError(f"{what}: expected root {_short(given)}, computed {_short(computed)}")


def inclusion_proof_length(index: int, size: int) -> int:
    """The number of hashes in the inclusion proof of leaf `index` in a tree of `size` leaves.

    Below the point where the paths to `index` and to `size - 1` part, every level has a sibling;
    above it, only the levels where `index` is a right child do.
    """
    if not 0 <= index < size:
        raise ProofError(f"expected a leaf index in [0, {size}), found {index}")
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` yields for `leaf` at `index` in a tree of `size` (RFC 9162 §2.1.3.2).

    Raises `ProofError` when the inputs cannot form a proof (index out of range, wrong number of
    hashes, a hash of the wrong length); the caller compares the result with a trusted root.
    """
    _check_size(size, "tree size")
    expected_len = inclusion_proof_length(index, size)
    if len(proof) != expected_len:
        raise ProofError(
            f"inclusion proof for leaf {index} in a tree of {size}: expected {expected_len} "
            f"hashes, found {len(proof)}"
        )
    _check_hash(leaf, "leaf hash")
    _check_proof_hashes(proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # A right-edge node with no right sibling: climb until it is a right child again.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # The length check above guarantees the walk ends exactly at the root.
    assert sn == 0, "inclusion_proof_length and the RFC 9162 walk disagree"
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raises `ProofError` unless `proof` proves `leaf` is leaf `index` of the tree (`size`, `root`)."""
    computed = root_from_inclusion(leaf, index, size, proof)
    _roots_match(computed, root, f"inclusion of leaf {index} in a tree of {size}")


def consistency_proof_length(size1: int, size2: int) -> int:
    """The number of hashes in the consistency proof from `size1` to `size2` (0 when equal or 0)."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"expected 0 <= old size <= new size, found {size1} and {size2}")
    if size1 == size2 or size1 == 0:
        return 0
    # The proof is an inclusion proof of the largest perfect subtree ending at size1, seen in the
    # tree of size2 from that subtree's level, plus that subtree's own hash unless size1 is a
    # power of two (then the old root is that hash, and the verifier already has it).
    shift = (size1 & -size1).bit_length() - 1
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    seed = 0 if size1 == 1 << shift else 1
    return seed + inner - shift + border


def root_from_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes) -> bytes:
    """The new root that `proof` yields from the tree (`size1`, `root1`) (RFC 9162 §2.1.4.2).

    Raises `ProofError` if the proof is malformed or does not reproduce `root1`. A proof from
    size 0 to a larger size determines no new root, so it is refused here; `verify_consistency`
    accepts it (module docstring).
    """
    expected_len = consistency_proof_length(size1, size2)
    if len(proof) != expected_len:
        raise ProofError(
            f"consistency proof from {size1} to {size2}: expected {expected_len} hashes, "
            f"found {len(proof)}"
        )
    if size1 == 0:
        _roots_match(EMPTY_ROOT, root1, "old tree of size 0")
    if size1 == size2:
        return root1
    if size1 == 0:
        raise ProofError(f"a consistency proof from size 0 determines no root of size {size2}")
    _check_proof_hashes(proof)
    hashes = list(proof)
    if size1 & (size1 - 1) == 0:
        hashes.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    assert sn == 0, "consistency_proof_length and the RFC 9162 walk disagree"
    _roots_match(fr, root1, f"old tree of size {size1}")
    return sr


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raises `ProofError` unless `proof` proves the tree (`size1`, `root1`) is a prefix of the
    tree (`size2`, `root2`).

    From size 0 (C2SP tlog-witness, module docstring): valid iff the proof is empty and `root1`
    is `EMPTY_ROOT`; `root2` is then constrained only when `size2` is 0 too.
    """
    if size1 == 0 and size2 > 0:
        expected_len = consistency_proof_length(size1, size2)  # 0; refuses negative sizes
        if len(proof) != expected_len:
            raise ProofError(
                f"consistency proof from 0 to {size2}: expected an empty proof, "
                f"found {len(proof)} hashes"
            )
        _roots_match(EMPTY_ROOT, root1, "old tree of size 0")
        return
    computed = root_from_consistency(size1, size2, proof, root1)
    _roots_match(computed, root2, f"new tree of size {size2}")


def _valid_subtree(start: int, end: int) -> bool:
    # draft-ietf-plants-merkle-tree-certs §4.1: [start, end) is a subtree when it is non-empty
    # and start is a multiple of the smallest power of two >= end - start.
    if not 0 <= start < end:
        return False
    width = 1 << (end - start - 1).bit_length()
    return start % width == 0


def verify_subtree_inclusion(
    leaf: bytes, index: int, start: int, end: int, proof: Sequence[bytes], subtree_root: bytes
) -> None:
    """Subtree inclusion proof (MTC draft §4.3): leaf `index` is in the subtree [start, end).

    A subtree is shaped exactly like a tree of `end - start` leaves, so the proof is the RFC 9162
    inclusion proof of `index - start` in that tree.
    """
    if not _valid_subtree(start, end):
        raise ProofError(
            f"expected a subtree [start, end) with aligned start, found [{start}, {end})"
        )
    if not start <= index < end:
        raise ProofError(f"expected a leaf index in [{start}, {end}), found {index}")
    computed = root_from_inclusion(leaf, index - start, end - start, proof)
    _roots_match(computed, subtree_root, f"inclusion of leaf {index} in subtree [{start}, {end})")


def verify_subtree_consistency(
    start: int,
    end: int,
    size: int,
    proof: Sequence[bytes],
    subtree_root: bytes,
    root: bytes,
) -> None:
    """Subtree consistency proof (MTC draft §4.4): the subtree [start, end) with `subtree_root`
    is part of the tree (`size`, `root`). With start = 0 this is an RFC 9162 consistency proof.

    An empty subtree [s, s) with s <= size is part of every tree: its root must be `EMPTY_ROOT`
    and its proof empty, and `root` is not constrained (as for consistency from size 0).
    """
    _check_size(size, "tree size")
    if start == end and 0 <= start <= size:
        if proof:
            raise ProofError(f"empty subtree: expected an empty proof, found {len(proof)} hashes")
        _roots_match(EMPTY_ROOT, subtree_root, f"empty subtree [{start}, {end})")
        return
    if not _valid_subtree(start, end):
        raise ProofError(
            f"expected a subtree [start, end) with aligned start, found [{start}, {end})"
        )
    if end > size:
        raise ProofError(f"expected a subtree ending at most at {size}, found [{start}, {end})")
    _check_proof_hashes(proof)
    # fn, sn, tn: paths to the subtree's first leaf, its last leaf, and the tree's last leaf.
    fn, sn, tn = start, end - 1, size - 1
    if sn == tn:
        # The subtree's right edge is the tree's: start where the subtree's root is.
        while fn != sn:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    else:
        # Climb while the subtree's last node is a right child: those nodes are whole in the tree.
        while fn != sn and sn & 1:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    remaining = list(proof)
    if fn == sn:
        node = top = subtree_root
    else:
        if not remaining:
            raise ProofError(
                f"subtree [{start}, {end}) in a tree of {size}: expected hashes, found none"
            )
        node = top = remaining.pop(0)
    for p in remaining:
        if tn == 0:
            raise ProofError(
                f"subtree [{start}, {end}) in a tree of {size}: found {len(proof)} hashes, "
                "more than the tree has levels"
            )
        if sn & 1 or sn == tn:
            if fn < sn:
                node = node_hash(p, node)
            top = node_hash(p, top)
            while not sn & 1:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:
            top = node_hash(top, p)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if tn != 0:
        raise ProofError(
            f"subtree [{start}, {end}) in a tree of {size}: found {len(proof)} hashes, too few"
        )
    _roots_match(node, subtree_root, f"subtree [{start}, {end})")
    _roots_match(top, root, f"tree of size {size}")


class CompactRange:
    """The root of a growing tree in O(log n) memory: one hash per set bit of the size.

    `append` leaf hashes in order (a bundle's entries as they stream past), then `root()`. The
    hashes kept are the perfect subtrees that the binary form of `size` decomposes [0, size) into,
    largest first; they are also the right edge any later append builds on.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect-subtree roots covering [0, size), largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        _check_hash(leaf, f"leaf hash {self._size}")
        h = leaf
        n = self._size
        # Each trailing 1 bit of the old size is a perfect subtree that this leaf completes.
        while n & 1:
            h = node_hash(self._hashes.pop(), h)
            n >>= 1
        self._hashes.append(h)
        self._size += 1

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The RFC 9162 root of a list of leaf hashes (streamed through a `CompactRange`)."""
    cr = CompactRange()
    for leaf in leaves:
        cr.append(leaf)
    return cr.root()


__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "ProofError",
    "consistency_proof_length",
    "inclusion_proof_length",
    "leaf_hash",
    "node_hash",
    "root_from_consistency",
    "root_from_inclusion",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
    "verify_subtree_consistency",
    "verify_subtree_inclusion",
]
