"""verify/merkle against a naive, recursive transcription of RFC 9162 §2.1
(tests/rfc9162_reference.py: MTH, PATH and PROOF as the RFC defines them), for random trees of up
to ~300 leaves."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.rfc9162_reference import leaves, mth, path, proof
from verify.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_proof_length,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
    root_from_consistency,
    root_from_inclusion,
    root_of,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)

MAX_SIZE = 300

# -- hashing ------------------------------------------------------------------------------------


def test_hashing_known_answers() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    # RFC 6962 / transparency-dev: the leaf hash of the empty entry.
    assert (
        leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()


@given(st.integers(0, MAX_SIZE))
def test_compact_range_matches_mth(n: int) -> None:
    d = leaves(n)
    cr = CompactRange()
    assert cr.root() == EMPTY_ROOT
    for i, leaf in enumerate(d):
        cr.append(leaf)
        assert cr.size == i + 1
        assert len(cr.hashes) == (i + 1).bit_count()  # O(log n) memory
    assert cr.root() == mth(d) == root_of(d)


def test_compact_range_refuses_a_short_leaf_hash() -> None:
    with pytest.raises(ProofError, match="32-byte"):
        CompactRange().append(b"\x00" * 31)


# -- inclusion ----------------------------------------------------------------------------------


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(1, MAX_SIZE))
    return n, draw(st.integers(0, n - 1))


@given(size_and_index())
def test_reference_inclusion_proofs_verify(nm: tuple[int, int]) -> None:
    n, m = nm
    d = leaves(n)
    p = path(m, d)
    assert len(p) == inclusion_proof_length(m, n)
    assert root_from_inclusion(d[m], m, n, p) == mth(d)
    verify_inclusion(d[m], m, n, p, mth(d))


@settings(max_examples=60)
@given(size_and_index(), st.data())
def test_mutated_inclusion_proofs_are_refused(nm: tuple[int, int], data: st.DataObject) -> None:
    n, m = nm
    d = leaves(n)
    p, root = path(m, d), mth(d)
    other = leaf_hash(b"other")
    with pytest.raises(ProofError):
        verify_inclusion(other, m, n, p, root)
    with pytest.raises(ProofError):
        verify_inclusion(d[m], m, n, [*p, other], root)  # trailing garbage
    with pytest.raises(ProofError):
        verify_inclusion(d[m], m, n, [other, *p], root)  # preceding garbage
    with pytest.raises(ProofError):
        verify_inclusion(d[m], m, n, p, node_hash(root, root))
    if p:
        i = data.draw(st.integers(0, len(p) - 1))
        bit = data.draw(st.integers(0, 255))
        flipped = bytearray(p[i])
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ProofError):
            verify_inclusion(d[m], m, n, [*p[:i], bytes(flipped), *p[i + 1 :]], root)
        with pytest.raises(ProofError):
            verify_inclusion(d[m], m, n, p[:-1], root)  # truncated
    # Another index is refused unless it is the same leaf in the same place (it never is here).
    wrong = data.draw(st.integers(0, n - 1))
    assume(wrong != m)
    with pytest.raises(ProofError):
        verify_inclusion(d[m], wrong, n, p, root)


@pytest.mark.parametrize(
    ("index", "size", "message"),
    [(0, 0, r"\[0, 0\)"), (5, 5, r"\[0, 5\)"), (-1, 5, r"\[0, 5\)"), (0, -1, "non-negative")],
)
def test_inclusion_index_outside_the_tree(index: int, size: int, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        verify_inclusion(leaf_hash(b""), index, size, [], EMPTY_ROOT)


def test_inclusion_zero_length_and_long_hashes() -> None:
    d = leaves(4)
    p = path(1, d)
    with pytest.raises(ProofError, match="leaf hash: expected a 32-byte hash, found 0"):
        verify_inclusion(b"", 1, 4, p, mth(d))
    with pytest.raises(ProofError, match="proof hash 1: expected a 32-byte hash, found 33"):
        verify_inclusion(d[1], 1, 4, [p[0], p[1] + b"\x00"], mth(d))
    with pytest.raises(ProofError, match="expected 2 hashes, found 0"):
        verify_inclusion(d[1], 1, 4, [], mth(d))


def test_error_message_says_expected_and_computed() -> None:
    d = leaves(3)
    with pytest.raises(ProofError, match=r"expected root 00000000.*, computed [0-9a-f]{16}"):
        verify_inclusion(d[0], 0, 3, path(0, d), b"\x00" * 32)


# -- consistency --------------------------------------------------------------------------------


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(0, MAX_SIZE))
    return draw(st.integers(0, n)), n


@given(two_sizes())
def test_reference_consistency_proofs_verify(mn: tuple[int, int]) -> None:
    m, n = mn
    d = leaves(n)
    p = proof(m, d)
    assert len(p) == consistency_proof_length(m, n)
    verify_consistency(m, n, p, mth(d[:m]), mth(d))
    if m > 0:
        assert root_from_consistency(m, n, p, mth(d[:m])) == mth(d)


@settings(max_examples=60)
@given(two_sizes(), st.data())
def test_mutated_consistency_proofs_are_refused(mn: tuple[int, int], data: st.DataObject) -> None:
    m, n = mn
    assume(0 < m < n)
    d = leaves(n)
    p, r1, r2 = proof(m, d), mth(d[:m]), mth(d)
    junk = leaf_hash(b"junk")
    for args in [
        (m, n, p, junk, r2),
        (m, n, p, r1, junk),
        (m, n, p, r2, r1),
        (m, n, [*p, junk], r1, r2),
        (m, n, [junk, *p], r1, r2),
        (m, n, p[:-1], r1, r2),
        (m, n, [], r1, r2),
        (n, m, p, r2, r1),
    ]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    i = data.draw(st.integers(0, len(p) - 1))
    flipped = bytes([p[i][0] ^ 0x80]) + p[i][1:]
    with pytest.raises(ProofError):
        verify_consistency(m, n, [*p[:i], flipped, *p[i + 1 :]], r1, r2)
    other = data.draw(st.integers(1, n - 1))
    assume(other != m)
    with pytest.raises(ProofError):
        verify_consistency(other, n, p, mth(d[:other]), r2)


def test_consistency_between_equal_sizes() -> None:
    d = leaves(5)
    verify_consistency(5, 5, [], mth(d), mth(d))
    with pytest.raises(ProofError, match="expected 0 hashes, found 1"):
        verify_consistency(5, 5, [mth(d)], mth(d), mth(d))
    with pytest.raises(ProofError, match="new tree of size 5"):
        verify_consistency(5, 5, [], mth(d), mth(d[:4]))


def test_consistency_from_size_zero_follows_c2sp() -> None:
    """docs/merkle.md: an empty proof from the empty tree (root = SHA-256 of nothing) is valid."""
    d = leaves(7)
    verify_consistency(0, 7, [], EMPTY_ROOT, mth(d))
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError, match="expected an empty proof, found 1"):
        verify_consistency(0, 7, [mth(d)], EMPTY_ROOT, mth(d))
    with pytest.raises(ProofError, match="old tree of size 0: expected root"):
        verify_consistency(0, 7, [], mth(d), mth(d))
    with pytest.raises(ProofError, match="determines no root"):
        root_from_consistency(0, 7, [], EMPTY_ROOT)


@pytest.mark.parametrize(("m", "n"), [(3, 2), (-1, 4), (1, 0)])
def test_consistency_sizes_out_of_order(m: int, n: int) -> None:
    with pytest.raises(ProofError, match="expected 0 <= old size <= new size"):
        verify_consistency(m, n, [], EMPTY_ROOT, EMPTY_ROOT)


# -- subtree proofs (draft-ietf-plants-merkle-tree-certs) agree with RFC 9162 -------------------


@st.composite
def subtree(draw: st.DrawFn) -> tuple[int, int, int]:
    """A valid subtree [start, end) inside a tree of `size`."""
    size = draw(st.integers(1, MAX_SIZE))
    width = 1 << draw(st.integers(0, (size - 1).bit_length()))
    start = width * draw(st.integers(0, max(0, (size - 1) // width)))
    assume(start < size)
    # bit_ceil(end - start) <= width divides start: a valid subtree.
    end = draw(st.integers(start + 1, min(size, start + width)))
    return start, end, size


@given(subtree(), st.data())
def test_subtree_inclusion_is_rfc9162_inclusion_within_the_subtree(
    sub: tuple[int, int, int], data: st.DataObject
) -> None:
    start, end, _ = sub
    d = leaves(end)
    index = data.draw(st.integers(start, end - 1))
    p = path(index - start, d[start:end])
    verify_subtree_inclusion(d[index], index, start, end, p, mth(d[start:end]))
    with pytest.raises(ProofError):
        verify_subtree_inclusion(d[index], index, start, end, p, junk())


def junk() -> bytes:
    return leaf_hash(b"junk")


@given(two_sizes())
def test_subtree_consistency_from_zero_is_rfc9162_consistency(mn: tuple[int, int]) -> None:
    m, n = mn
    assume(m > 0)
    d = leaves(n)
    verify_subtree_consistency(0, m, n, proof(m, d), mth(d[:m]), mth(d))
    if m < n:
        with pytest.raises(ProofError):
            verify_subtree_consistency(0, m, n, proof(m, d), junk(), mth(d))


def test_invalid_subtrees_are_refused() -> None:
    with pytest.raises(ProofError, match="aligned start"):
        verify_subtree_inclusion(junk(), 3, 3, 5, [], junk())
    with pytest.raises(ProofError, match="aligned start"):
        verify_subtree_consistency(2, 6, 8, [], junk(), junk())
    with pytest.raises(ProofError, match="ending at most at 4"):
        verify_subtree_consistency(0, 8, 4, [], junk(), junk())
