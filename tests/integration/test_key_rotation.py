"""Ledger key rotation (issue 9): checkpoints after the rotation verify with the new key, every
earlier checkpoint still verifies with the old one, and an auditor holding only the old vkey
follows the key history to the new key — and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.errors import KeyFileError
from verify.key_history import (
    KeyHistoryError,
    parse_key_history,
    sign_transition,
    verify_key_history,
)
from verify.keys import Ed25519Signer
from verify.note import Vkey, verify_checkpoint

from .conftest import LedgerFixture, run_cli


def test_rotation_end_to_end(system_ledger: LedgerFixture) -> None:
    fx = system_ledger
    old_vkey = Vkey.parse(fx.cli("ledger-key").out.strip())
    before = fx.size()
    old_cp = fx.cli("checkpoint").out

    rotated = fx.cli("ledger-key", "rotate", "--json")
    assert rotated.code == 0, rotated.err
    data = rotated.json()
    new_vkey = Vkey.parse(data["vkey"])
    assert new_vkey != old_vkey and data["from_size"] == before
    assert Path(f"{fx.key_file}.retired-{before}").exists()
    assert fx.cli("ledger-key").out.strip() == str(new_vkey)

    # A process still holding the retired key may not sign for the log any more.
    with pytest.raises(KeyFileError, match="rotated"):
        fx.writer.submit("noncompliance_reported", "eve", regarding=None, summary="stale key")
    assert fx.size() == before

    # New entries are checkpointed by the new key; the old checkpoint still verifies with the old.
    st = fx.writer.statement("noncompliance_reported", "eve", regarding=None, summary="rotated")
    path = fx.write("after.json", fx.writer.envelope(st, ["eve"]).to_json())
    assert fx.cli("submit", str(path)).code == 0
    new_cp = fx.cli("checkpoint").out
    cp, _ = verify_checkpoint(new_cp, new_vkey)
    assert cp.size == before + 1
    with pytest.raises(Exception, match="signature"):
        verify_checkpoint(new_cp, old_vkey)
    assert verify_checkpoint(old_cp, old_vkey)[0].size == before
    assert verify_checkpoint(fx.cli("checkpoint", "--size", str(before)).out, old_vkey)

    # The auditor who trusted the old key follows the history to the new one.
    history = fx.cli("ledger-key", "history")
    chain = verify_key_history(old_vkey, parse_key_history(history.out.encode()))
    assert chain.current == new_vkey
    assert chain.keys_for_size(before) == [old_vkey, new_vkey]
    assert chain.keys_for_size(before + 1) == [new_vkey]  # a retired key signs nothing newer


def test_rotate_with_a_wrong_key_is_refused(system_ledger: LedgerFixture, tmp_path: Path) -> None:
    fx = system_ledger
    other = tmp_path / "other.pem"
    assert run_cli("key", "generate", "--out", str(other)).code == 0
    r = fx.cli("ledger-key", "rotate", "--ledger-key-file", str(other))
    assert r.code == 1 and "not the ledger's current key" in r.err


ORIGIN = "example.org/log"


def _keys() -> tuple[Ed25519Signer, Ed25519Signer, Vkey]:
    a, b = Ed25519Signer.generate(), Ed25519Signer.generate()
    return a, b, Vkey.ed25519(ORIGIN, a.public_raw)


def test_history_needs_both_signatures_and_the_right_origin() -> None:
    a, b, root = _keys()
    good = sign_transition(ORIGIN, 10, a, b)
    assert verify_key_history(root, [good]).current == Vkey.ed25519(ORIGIN, b.public_raw)

    stranger = Ed25519Signer.generate()
    with pytest.raises(KeyHistoryError, match="outgoing key"):
        verify_key_history(root, [sign_transition(ORIGIN, 10, stranger, b)])
    only_old = good.rsplit("— ", 1)[0]  # drop the incoming key's line
    with pytest.raises(KeyHistoryError, match="incoming key"):
        verify_key_history(root, [only_old])
    with pytest.raises(KeyHistoryError):
        verify_key_history(root, [sign_transition("other.org/log", 10, a, b)])


def test_history_sizes_never_go_back() -> None:
    a, b, root = _keys()
    c = Ed25519Signer.generate()
    with pytest.raises(KeyHistoryError, match="goes back"):
        verify_key_history(
            root, [sign_transition(ORIGIN, 10, a, b), sign_transition(ORIGIN, 5, b, c)]
        )
    chain = verify_key_history(
        root, [sign_transition(ORIGIN, 10, a, b), sign_transition(ORIGIN, 20, b, c)]
    )
    assert [link.until_size for link in chain.links] == [10, 20, None]


def test_history_file_format() -> None:
    with pytest.raises(KeyHistoryError):
        parse_key_history(b'{"format": "nope"}')
    a, b, _ = _keys()
    doc = {
        "format": "rsp-ledger.key-history/v1",
        "origin": ORIGIN,
        "transitions": [sign_transition(ORIGIN, 1, a, b)],
    }
    assert len(parse_key_history(json.dumps(doc).encode())) == 1
