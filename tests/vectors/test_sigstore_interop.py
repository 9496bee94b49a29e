"""Our inclusion proofs and checkpoints, checked by code nobody here wrote: sigstore-python.

- `sigstore._internal.merkle.verify_merkle_inclusion` (sigstore-python's RFC 6962 inclusion check,
  after Trillian's) is given a real `sigstore.models.TransparencyLogEntry` whose body is our
  entry's exact bytes and whose inclusion proof is ours (ledger/tree.py). It computes the leaf hash
  and chains the proof itself; it must accept every proof we make and refuse altered ones.
- `sigstore._internal.rekor.checkpoint.SignedCheckpoint` parses our signed checkpoint notes.

sigstore is a dev dependency (pyproject.toml); an ImportError here is a failure, not a skip.
"""

from __future__ import annotations

import base64
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sigstore._internal.merkle import verify_merkle_inclusion
from sigstore._internal.rekor.checkpoint import SignedCheckpoint
from sigstore.errors import VerificationError as SigstoreVerificationError
from sigstore.models import TransparencyLogEntry
from sigstore_models.common import v1 as common_v1
from sigstore_models.rekor import v1 as rekor_v1

from ledger.tree import DictNodeSource, inclusion_proof, root_at
from verify.jcs import canonical
from verify.keys import Ed25519Signer
from verify.merkle import leaf_hash
from verify.note import Checkpoint, Vkey, sign_checkpoint

ORIGIN = "example.org/rsp-ledger"
SIGNER = Ed25519Signer(Ed25519PrivateKey.from_private_bytes(b"\x11" * 32))


def _entry_bytes(seq: int) -> bytes:
    # The shape of a ledger entry (SPEC §3): its JCS bytes are the leaf data.
    return canonical(
        {"seq": seq, "recorded_at": "2025-05-14T00:00:00Z", "envelope": {"payload": f"e{seq}"}}
    )


def _sigstore_entry(
    body: bytes, index: int, size: int, hashes: list[bytes], root: bytes, note: str
) -> TransparencyLogEntry:
    # sigstore's models take protobuf-JSON forms: uint64 as strings, bytes as base64.
    def b64(raw: bytes) -> bytes:
        return base64.b64encode(raw)

    inner = rekor_v1.TransparencyLogEntry(
        log_index=str(index),
        log_id=common_v1.LogId(key_id=b64(SIGNER.public_raw)),
        kind_version=rekor_v1.KindVersion(kind="rsp-ledger-entry", version="v1"),
        integrated_time=None,
        inclusion_promise=None,
        inclusion_proof=rekor_v1.InclusionProof(
            log_index=str(index),
            root_hash=b64(root),
            tree_size=str(size),
            hashes=[b64(h) for h in hashes],
            checkpoint=rekor_v1.Checkpoint(envelope=note),
        ),
        canonicalized_body=b64(body),
    )
    return TransparencyLogEntry(inner)


@pytest.fixture(scope="module")
def tree() -> tuple[DictNodeSource, list[bytes]]:
    bodies = [_entry_bytes(i) for i in range(300)]
    return DictNodeSource.from_leaves(leaf_hash(b) for b in bodies), bodies


def _cases(stored: int, count: int) -> list[tuple[int, int]]:
    rng = random.Random(9162)
    cases = [(0, 1), (0, 2), (1, 2), (stored - 1, stored), (0, stored), (255, 256), (256, 257)]
    for _ in range(count):
        size = rng.randint(1, stored)
        cases.append((rng.randrange(size), size))
    return cases


def test_sigstore_accepts_our_inclusion_proofs(tree: tuple[DictNodeSource, list[bytes]]) -> None:
    source, bodies = tree
    for index, size in _cases(source.tree_size, 300):
        root = root_at(source, size)
        hashes = inclusion_proof(source, index, size, root=root)
        note = sign_checkpoint(Checkpoint(ORIGIN, size, root), ORIGIN, SIGNER)
        verify_merkle_inclusion(_sigstore_entry(bodies[index], index, size, hashes, root, note))


def test_sigstore_refuses_altered_proofs(tree: tuple[DictNodeSource, list[bytes]]) -> None:
    source, bodies = tree
    index, size = 37, 213
    root = root_at(source, size)
    hashes = inclusion_proof(source, index, size)
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root), ORIGIN, SIGNER)
    flipped = [bytes([hashes[2][0] ^ 1]) + hashes[2][1:]]
    altered = [
        (bodies[index + 1], index, size, hashes, root),  # another entry's bytes
        (bodies[index], index + 1, size, hashes, root),  # another position
        (bodies[index], index, size, hashes[:-1], root),  # a hash missing
        (bodies[index], index, size, [*hashes[:2], *flipped, *hashes[3:]], root),
        (bodies[index], index, size, hashes, root_at(source, size - 1)),  # another root
    ]
    for body, i, n, h, r in altered:
        with pytest.raises(SigstoreVerificationError):
            verify_merkle_inclusion(_sigstore_entry(body, i, n, h, r, note))


def test_sigstore_parses_our_signed_checkpoints(tree: tuple[DictNodeSource, list[bytes]]) -> None:
    source, _ = tree
    root = root_at(source, 300)
    note = sign_checkpoint(Checkpoint(ORIGIN, 300, root), ORIGIN, SIGNER)
    parsed = SignedCheckpoint.from_text(note)
    assert (parsed.checkpoint.origin, parsed.checkpoint.log_size) == (ORIGIN, 300)
    assert parsed.checkpoint.log_hash == root.hex()
    (sig,) = parsed.signed_note.signatures
    assert sig.name == ORIGIN
    assert sig.sig_hash == Vkey.ed25519(ORIGIN, SIGNER.public_raw).key_id
    # sigstore's view of the signed text is ours: the Ed25519 signature verifies over it.
    Ed25519PublicKey.from_public_bytes(SIGNER.public_raw).verify(
        base64.b64decode(sig.signature), parsed.signed_note.note.encode()
    )
