"""Real Certificate Transparency proofs (Google Argon2020, ../shared/testdata/ct-argon2020) verify
with verify/merkle, and every mutation of them is refused.

The data are responses of the log to get-sth, get-entries?start=10000&end=10000,
get-proof-by-hash and get-sth-consistency?first=3654490, as kept by golang.org/x/mod
(sumdb/tlog/testdata/argon2020, used by sumdb/tlog/ct_test.go). The leaf hash is the RFC 6962 leaf
hash of the entry's `leaf_input` (the MerkleTreeLeaf bytes).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from verify.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion

# The root of the Argon2020 tree at size 3,654,490: a public constant of golang.org/x/mod,
# sumdb/tlog/ct_test.go (it is not in the get-sth-consistency response itself).
OLD_SIZE = 3_654_490
OLD_ROOT = base64.b64decode("AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ=")
LEAF_INDEX = 10_000


def _load(testdata_dir: Path, name: str) -> Any:
    return json.loads((testdata_dir / "ct-argon2020" / name).read_text())


@pytest.fixture
def argon(testdata_dir: Path) -> dict[str, Any]:
    sth = _load(testdata_dir, "argon_sth.json")
    entries = _load(testdata_dir, "argon_entries.json")
    proof = _load(testdata_dir, "argon_proof.json")
    consistency = _load(testdata_dir, "argon_consistency.json")
    assert proof["leaf_index"] == LEAF_INDEX
    return {
        "size": sth["tree_size"],
        "root": base64.b64decode(sth["sha256_root_hash"]),
        "leaf_input": base64.b64decode(entries["entries"][0]["leaf_input"]),
        "audit_path": [base64.b64decode(h) for h in proof["audit_path"]],
        "consistency": [base64.b64decode(h) for h in consistency["consistency"]],
    }


def _flip(h: bytes, bit: int) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def test_inclusion_of_leaf_10000(argon: dict[str, Any]) -> None:
    assert argon["size"] == 961_984_013
    leaf = leaf_hash(argon["leaf_input"])
    verify_inclusion(leaf, LEAF_INDEX, argon["size"], argon["audit_path"], argon["root"])


def test_consistency_from_3654490(argon: dict[str, Any]) -> None:
    verify_consistency(OLD_SIZE, argon["size"], argon["consistency"], OLD_ROOT, argon["root"])


def _inclusion_mutations(a: dict[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    leaf = leaf_hash(a["leaf_input"])
    path, size, root = a["audit_path"], a["size"], a["root"]
    out: list[tuple[str, tuple[Any, ...]]] = [
        (
            "leaf input changed",
            (leaf_hash(a["leaf_input"] + b"\x00"), LEAF_INDEX, size, path, root),
        ),
        ("raw leaf, not its hash", (a["leaf_input"], LEAF_INDEX, size, path, root)),
        ("index + 1", (leaf, LEAF_INDEX + 1, size, path, root)),
        ("index - 1", (leaf, LEAF_INDEX - 1, size, path, root)),
        # Not "size + 1": the path of leaf 10000 has the same shape in a tree one leaf larger, and
        # RFC 9162 binds the size through the signed checkpoint, not through the proof.
        ("size * 2", (leaf, LEAF_INDEX, size * 2, path, root)),
        ("size / 2", (leaf, LEAF_INDEX, size // 2, path, root)),
        ("root changed", (leaf, LEAF_INDEX, size, path, _flip(root, 0))),
        ("proof truncated", (leaf, LEAF_INDEX, size, path[:-1], root)),
        ("garbage appended", (leaf, LEAF_INDEX, size, [*path, root], root)),
        ("garbage prepended", (leaf, LEAF_INDEX, size, [root, *path], root)),
        ("two hashes swapped", (leaf, LEAF_INDEX, size, [path[1], path[0], *path[2:]], root)),
        ("hash shortened", (leaf, LEAF_INDEX, size, [path[0][:31], *path[1:]], root)),
    ]
    out += [
        (
            f"hash {i} bit flipped",
            (leaf, LEAF_INDEX, size, [*path[:i], _flip(h, 3), *path[i + 1 :]], root),
        )
        for i, h in enumerate(path)
    ]
    return out


def test_inclusion_mutations_refused(argon: dict[str, Any]) -> None:
    for what, args in _inclusion_mutations(argon):
        with pytest.raises(ProofError):
            verify_inclusion(*args)
            pytest.fail(f"accepted a mutated inclusion proof: {what}")


def test_consistency_mutations_refused(argon: dict[str, Any]) -> None:
    proof, size, root = argon["consistency"], argon["size"], argon["root"]
    cases: list[tuple[str, tuple[Any, ...]]] = [
        ("old size + 1", (OLD_SIZE + 1, size, proof, OLD_ROOT, root)),
        ("old size - 1", (OLD_SIZE - 1, size, proof, OLD_ROOT, root)),
        ("new size * 2", (OLD_SIZE, size * 2, proof, OLD_ROOT, root)),
        ("new size / 2", (OLD_SIZE, size // 2, proof, OLD_ROOT, root)),
        ("old root changed", (OLD_SIZE, size, proof, _flip(OLD_ROOT, 1), root)),
        ("new root changed", (OLD_SIZE, size, proof, OLD_ROOT, _flip(root, 1))),
        ("roots swapped", (OLD_SIZE, size, proof, root, OLD_ROOT)),
        ("proof truncated", (OLD_SIZE, size, proof[:-1], OLD_ROOT, root)),
        ("garbage appended", (OLD_SIZE, size, [*proof, root], OLD_ROOT, root)),
        ("first hash dropped", (OLD_SIZE, size, proof[1:], OLD_ROOT, root)),
        ("sizes swapped", (size, OLD_SIZE, proof, root, OLD_ROOT)),
    ]
    cases += [
        (
            f"hash {i} bit flipped",
            (OLD_SIZE, size, [*proof[:i], _flip(h, 5), *proof[i + 1 :]], OLD_ROOT, root),
        )
        for i, h in enumerate(proof)
    ]
    for what, args in cases:
        with pytest.raises(ProofError):
            verify_consistency(*args)
            pytest.fail(f"accepted a mutated consistency proof: {what}")
