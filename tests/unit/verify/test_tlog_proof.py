"""verify/tlog_proof: the c2sp.org/tlog-proof text form, strict both ways, verified end to end."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from verify.errors import SignatureError
from verify.keys import Ed25519Signer
from verify.merkle import ProofError, leaf_hash, node_hash
from verify.note import Checkpoint, UnverifiedNoteError, Vkey, cosign_checkpoint, sign_checkpoint
from verify.tlog_proof import (
    HEADER,
    MalformedTlogProofError,
    TlogProof,
    format_tlog_proof,
    parse_tlog_proof,
    verify_tlog_proof,
)

ORIGIN = "example.org/rsp-ledger"
ledger = Ed25519Signer(Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))
witness = Ed25519Signer(Ed25519PrivateKey.from_private_bytes(b"\x08" * 32))
VKEY = Vkey.ed25519(ORIGIN, ledger.public_raw)
WITNESS = Vkey.cosignature("w.example", witness.public_raw)

# A 3-leaf tree: root = H(H(l0, l1), l2); the proof of leaf 1 is [l0, l2].
LEAVES = [leaf_hash(b"e%d" % i) for i in range(3)]
ROOT = node_hash(node_hash(LEAVES[0], LEAVES[1]), LEAVES[2])
CHECKPOINT = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), ORIGIN, ledger)
PROOF = TlogProof(1, (LEAVES[0], LEAVES[2]), CHECKPOINT)


def b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


def test_format_is_the_c2sp_layout() -> None:
    text = format_tlog_proof(PROOF)
    assert text == f"{HEADER}\nindex 1\n{b64(LEAVES[0])}\n{b64(LEAVES[2])}\n\n{CHECKPOINT}"
    assert parse_tlog_proof(text) == PROOF
    assert parse_tlog_proof(text.encode()) == PROOF


def test_extra_data_round_trips() -> None:
    proof = TlogProof(0, (), CHECKPOINT, extra=b"opaque")
    text = format_tlog_proof(proof)
    assert text.split("\n")[1] == "extra " + b64(b"opaque")
    assert parse_tlog_proof(text) == proof


@given(
    st.integers(0, 1 << 40),
    st.lists(st.binary(min_size=32, max_size=32), max_size=40),
    st.one_of(st.none(), st.binary(max_size=64)),
)
def test_round_trip(index: int, hashes: list[bytes], extra: bytes | None) -> None:
    proof = TlogProof(index, tuple(hashes), CHECKPOINT, extra)
    assert parse_tlog_proof(format_tlog_proof(proof)) == proof


def test_verify_end_to_end_with_a_witness() -> None:
    cosigned = CHECKPOINT + cosign_checkpoint(CHECKPOINT, "w.example", witness, 1_700_000_000)
    proof = TlogProof(1, PROOF.hashes, cosigned)
    cp, note = verify_tlog_proof(
        parse_tlog_proof(format_tlog_proof(proof)), LEAVES[1], VKEY, witnesses=[WITNESS]
    )
    assert (cp.size, cp.root) == (3, ROOT)
    assert note.verified_by(WITNESS)


def test_verify_refuses_wrong_leaf_index_or_key() -> None:
    with pytest.raises(ProofError):
        verify_tlog_proof(PROOF, LEAVES[2], VKEY)
    with pytest.raises(ProofError):
        verify_tlog_proof(TlogProof(2, PROOF.hashes, CHECKPOINT), LEAVES[1], VKEY)
    with pytest.raises(ProofError, match=r"\[0, 3\)"):
        verify_tlog_proof(TlogProof(3, PROOF.hashes, CHECKPOINT), LEAVES[1], VKEY)
    stranger = Vkey.ed25519(ORIGIN, witness.public_raw)
    with pytest.raises(UnverifiedNoteError):
        verify_tlog_proof(PROOF, LEAVES[1], stranger)
    forged = TlogProof(1, PROOF.hashes, CHECKPOINT.replace("\n3\n", "\n4\n"))
    with pytest.raises(SignatureError):
        verify_tlog_proof(forged, LEAVES[1], VKEY)


_GOOD = format_tlog_proof(PROOF)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_GOOD.replace(HEADER, "c2sp.org/tlog-proof@v2"), "first line"),
        (_GOOD.replace("index 1", "index 01"), "leading zeros"),
        (_GOOD.replace("index 1", "index -1"), "decimal"),
        (_GOOD.replace("index 1", "index  1"), "decimal"),
        (_GOOD.replace("index 1", "idx 1"), "index <n>"),
        (_GOOD.replace(b64(LEAVES[0]), b64(LEAVES[0]).rstrip("=")), "base64"),
        (_GOOD.replace(b64(LEAVES[0]), b64(LEAVES[0][:31])), "32 bytes"),
        (_GOOD.replace(b64(LEAVES[0]), b64(LEAVES[0] + b"\x00")), "32 bytes"),
        (_GOOD.replace("\n\n", "\n", 1), "base64"),
        (_GOOD.replace("\n", "\r\n", 2), "carriage return"),
        (_GOOD.replace("\n\n", "\n\n\n", 1), "exactly one empty line"),
        (_GOOD.replace(f"\n3\n{b64(ROOT)}", f"\n03\n{b64(ROOT)}"), "checkpoint: .*leading zeros"),
        (_GOOD[:-1], "checkpoint"),
        (_GOOD + "trailing\n", "checkpoint"),
        (HEADER + "\n\n" + CHECKPOINT, "index <n>"),
        (b"\xff" + _GOOD.encode(), "UTF-8"),
    ],
)
def test_malformed_proofs(text: str | bytes, message: str) -> None:
    with pytest.raises(MalformedTlogProofError, match=message):
        parse_tlog_proof(text)


def test_zero_length_hash_is_refused_at_construction() -> None:
    with pytest.raises(MalformedTlogProofError, match="expected 32 bytes, found 0"):
        TlogProof(0, (b"",), CHECKPOINT)
    with pytest.raises(MalformedTlogProofError):
        TlogProof(-1, (), CHECKPOINT)
    assert hashlib.sha256(b"").digest() != ROOT
