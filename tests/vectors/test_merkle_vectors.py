"""Every Merkle vector of transparency-dev/merkle (../shared/testdata/merkle) through verify/merkle.

- `inclusion/`, `consistency/`: RFC 9162 proofs. Each happy path is accepted and each mutated case
  (`wantErr: true`) refused, with one deliberate exception (`SIZE_ZERO_DECISION`, below).
- `subtreeinclusion/`, `subtreeconsistency/`: the subtree proofs of
  draft-ietf-plants-merkle-tree-certs, a generalisation of RFC 9162's (the subtree [0, n) is the
  tree of size n). verify/merkle supports them, so they run here too, with no exception.

A missing vector folder fails (the `testdata_dir` fixture); so does a folder this file does not
know, and so does a count lower than the vectors' known size, so nothing is skipped silently.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from verify.merkle import (
    EMPTY_ROOT,
    ProofError,
    verify_consistency,
    verify_inclusion,
    verify_subtree_consistency,
    verify_subtree_inclusion,
)

_MERKLE = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "merkle"
_KINDS = ("inclusion", "consistency", "subtreeinclusion", "subtreeconsistency")
# The number of vector files in transparency-dev/merkle's testdata as copied to ../shared.
_EXPECTED_FILES = 518

# The one vector where our documented decision (docs/merkle.md, verify/merkle.py) differs from
# transparency-dev's: a consistency proof from size 0 with an empty proof and the empty tree's
# root as the old root. transparency-dev refuses every proof from size 0; we follow C2SP
# tlog-witness, where old size 0 with an empty proof is valid, because every tree extends the
# empty one. The vector's new root ("don't care 2") is not even 32 bytes: a proof from size 0
# constrains no new root, so it is not looked at (a checkpoint parser refuses such a root anyway).
SIZE_ZERO_DECISION = "consistency/additional/size1-is-zero-and-size2-is-not-zero.json"


def _case_ids() -> list[str]:
    if not _MERKLE.is_dir():
        return ["<missing ../shared/testdata/merkle>"]
    return sorted(p.relative_to(_MERKLE).as_posix() for p in _MERKLE.rglob("*.json"))


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "", validate=True)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in case["proof"] or []]


def _run(kind: str, case: dict[str, Any]) -> None:
    if kind == "inclusion":
        verify_inclusion(
            _b64(case["leafHash"]),
            case["leafIdx"],
            case["treeSize"],
            _proof(case),
            _b64(case["root"]),
        )
    elif kind == "consistency":
        verify_consistency(
            case["size1"], case["size2"], _proof(case), _b64(case["root1"]), _b64(case["root2"])
        )
    elif kind == "subtreeinclusion":
        verify_subtree_inclusion(
            _b64(case["leafHash"]),
            case["leafIdx"],
            case["start"],
            case["end"],
            _proof(case),
            _b64(case["root"]),
        )
    elif kind == "subtreeconsistency":
        verify_subtree_consistency(
            case["start"],
            case["end"],
            case["size"],
            _proof(case),
            _b64(case["root1"]),
            _b64(case["root2"]),
        )
    else:
        pytest.fail(f"unknown vector folder {kind!r}: decide how it applies before running it")


def test_every_vector_folder_is_present(testdata_dir: Path) -> None:
    merkle = testdata_dir / "merkle"
    assert sorted(p.name for p in merkle.iterdir() if p.is_dir()) == sorted(_KINDS)
    files = list(merkle.rglob("*.json"))
    assert len(files) >= _EXPECTED_FILES, f"expected {_EXPECTED_FILES} vectors, found {len(files)}"
    for kind in _KINDS:
        cases = [json.loads(p.read_text()) for p in (merkle / kind).rglob("*.json")]
        assert any(not c["wantErr"] for c in cases), f"{kind}: no happy path"
        assert any(c["wantErr"] for c in cases), f"{kind}: no mutated case"


@pytest.mark.parametrize("name", _case_ids())
def test_vector(testdata_dir: Path, name: str) -> None:
    case = json.loads((testdata_dir / "merkle" / name).read_text())
    kind = name.split("/", 1)[0]
    if name == SIZE_ZERO_DECISION:
        # Shown, not skipped: transparency-dev wants an error, we accept (see SIZE_ZERO_DECISION).
        assert case["wantErr"] is True
        assert (case["size1"], case["proof"], _b64(case["root1"])) == (0, [], EMPTY_ROOT)
        _run(kind, case)
        return
    if case["wantErr"]:
        with pytest.raises(ProofError):
            _run(kind, case)
    else:
        _run(kind, case)


def test_size_zero_decision_in_full(testdata_dir: Path) -> None:
    """Around the one differing vector: what we accept from size 0, and what we still refuse."""
    case = json.loads((testdata_dir / "merkle" / SIZE_ZERO_DECISION).read_text())
    some_root = bytes(range(32))
    # Accepted (C2SP tlog-witness): old size 0, empty proof, the empty tree's root.
    verify_consistency(0, case["size2"], [], EMPTY_ROOT, some_root)
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    # Refused, as transparency-dev refuses them too: a non-empty proof, an old root that is not
    # the empty tree's, different roots at equal size 0.
    with pytest.raises(ProofError, match="expected an empty proof"):
        verify_consistency(0, case["size2"], [EMPTY_ROOT], EMPTY_ROOT, some_root)
    with pytest.raises(ProofError, match="old tree of size 0"):
        verify_consistency(0, case["size2"], [], some_root, some_root)
    with pytest.raises(ProofError):
        verify_consistency(0, 0, [], EMPTY_ROOT, some_root)
