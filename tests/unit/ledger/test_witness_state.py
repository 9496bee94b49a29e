"""ledger/witness: the witness's state directory: key files, logs followed, atomic persistence
under the log's lock, and what a crash leaves behind."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from ledger import witness as witness_module
from ledger.errors import KeyFileError
from ledger.keyfile import write_private_key
from ledger.witness import Witness, WitnessBusyError, WitnessStateError
from tests.rfc9162_reference import leaves, mth, proof
from verify.errors import MalformedKeyError
from verify.keys import Ed25519Signer
from verify.merkle import leaf_hash
from verify.note import Checkpoint, Vkey, open_note, sign_checkpoint
from verify.witness import (
    AddCheckpointRequest,
    InconsistentCheckpointError,
    SplitViewError,
    StaleOldSizeError,
    UnknownLogError,
    UntrustedCheckpointError,
)

ORIGIN = "example.org/log"
LOG = Ed25519Signer.generate()
LOG_VKEY = Vkey.ed25519(ORIGIN, LOG.public_raw)
TREE = leaves(16)


def signed(size: int, tree: list[bytes] = TREE) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, mth(tree[:size])), ORIGIN, LOG)


def request(old: int, new: int, tree: list[bytes] = TREE) -> AddCheckpointRequest:
    return AddCheckpointRequest(old, tuple(proof(old, tree[:new])), signed(new, tree))


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    w = Witness.init(tmp_path / "state", tmp_path / "w.pem", "regulator.example/w1")
    w.add_log(LOG_VKEY)
    return Witness.open(tmp_path / "state", clock=lambda: 1_700_000_000.5)


def test_init_creates_a_0600_key_a_0700_directory_and_opens_again(tmp_path: Path) -> None:
    w = Witness.init(tmp_path / "state", tmp_path / "w.pem", "regulator.example/w1")
    assert stat.S_IMODE((tmp_path / "w.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert w.vkey.sig_type == 0x04 and w.vkey.name == "regulator.example/w1"
    assert str(Witness.open(tmp_path / "state").vkey) == str(w.vkey)
    with pytest.raises(WitnessStateError, match="already there"):
        Witness.init(tmp_path / "state", tmp_path / "w.pem", "regulator.example/w1")


def test_init_uses_an_existing_key_and_refuses_one_readable_by_others(tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    write_private_key(tmp_path / "k.pem", signer)
    w = Witness.init(tmp_path / "a", tmp_path / "k.pem", "w.example/a")
    assert w.vkey.public_raw == signer.public_raw
    os.chmod(tmp_path / "k.pem", 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        Witness.init(tmp_path / "b", tmp_path / "k.pem", "w.example/b")
    with pytest.raises(KeyFileError, match="readable by others"):
        Witness.open(tmp_path / "a")


def test_open_refuses_a_missing_state_and_a_swapped_key(tmp_path: Path) -> None:
    with pytest.raises(WitnessStateError, match="witness init"):
        Witness.open(tmp_path / "nothing")
    Witness.init(tmp_path / "s", tmp_path / "k.pem", "w.example/a")
    (tmp_path / "k.pem").unlink()
    write_private_key(tmp_path / "k.pem", Ed25519Signer.generate())
    with pytest.raises(WitnessStateError, match="another key"):
        Witness.open(tmp_path / "s")


def test_add_log_is_idempotent_and_refuses_another_key(witness: Witness) -> None:
    assert witness.add_log(LOG_VKEY).state.size == 0
    witness.add_checkpoint(request(0, 3))
    assert witness.add_log(LOG_VKEY).state.size == 3  # nothing forgotten
    other = Vkey.ed25519(ORIGIN, Ed25519Signer.generate().public_raw)
    with pytest.raises(WitnessStateError, match="already followed"):
        witness.add_log(other)
    with pytest.raises(MalformedKeyError, match="type 0x01"):
        witness.add_log(Vkey.cosignature(ORIGIN, LOG.public_raw))


def test_a_rotated_log_key_replaces_the_old_one_and_the_state_stays(witness: Witness) -> None:
    witness.add_checkpoint(request(0, 6))
    new_key = Ed25519Signer.generate()
    new_vkey = Vkey.ed25519(ORIGIN, new_key.public_raw)
    with pytest.raises(WitnessStateError, match="--rotate"):
        witness.add_log(new_vkey)
    rotated = witness.add_log(new_vkey, rotate=True)
    assert (rotated.state.vkey, rotated.state.size) == (new_vkey, 6)

    def by_new_key(size: int, tree: list[bytes] = TREE) -> str:
        return sign_checkpoint(Checkpoint(ORIGIN, size, mth(tree[:size])), ORIGIN, new_key)

    # The old key no longer counts; the new one must still extend what was cosigned.
    with pytest.raises(UntrustedCheckpointError):
        witness.add_checkpoint(request(6, 9))
    forked = [leaf_hash(b"fork %d" % i) for i in range(9)]
    with pytest.raises(InconsistentCheckpointError):
        witness.add_checkpoint(
            AddCheckpointRequest(6, tuple(proof(6, forked)), by_new_key(9, forked))
        )
    good = AddCheckpointRequest(6, tuple(proof(6, TREE[:9])), by_new_key(9))
    assert witness.add_checkpoint(good).checkpoint.size == 9
    with pytest.raises(WitnessStateError, match="not followed"):
        witness.add_log(Vkey.ed25519("example.org/new", new_key.public_raw), rotate=True)


def test_cosign_records_the_state_and_the_cosignature_before_answering(witness: Witness) -> None:
    result = witness.add_checkpoint(request(0, 5))
    assert result.timestamp == 1_700_000_000
    note = open_note(result.note, [LOG_VKEY, witness.vkey])
    assert note.verified_by(witness.vkey) and note.verified_by(LOG_VKEY)
    assert result.note.endswith(result.line)
    log = witness.log(ORIGIN)
    assert (log.state.size, log.state.root) == (5, mth(TREE[:5]))
    assert log.cosignature == result.line
    assert log.cosigned_at == 1_700_000_000
    record = json.loads(next((witness.state_dir / "logs").glob("*.json")).read_text())
    assert record["size"] == 5 and record["cosignature"] == result.line
    assert witness.add_checkpoint(request(5, 12)).checkpoint.size == 12


def test_unknown_log_is_refused(witness: Witness) -> None:
    other = Ed25519Signer.generate()
    note = sign_checkpoint(Checkpoint("example.org/b", 1, TREE[0]), "example.org/b", other)
    with pytest.raises(UnknownLogError):
        witness.add_checkpoint(AddCheckpointRequest(0, (), note))


def test_a_split_view_is_refused_and_kept_as_evidence(witness: Witness) -> None:
    witness.add_checkpoint(request(0, 6))
    other_tree = [leaf_hash(b"forged %d" % i) for i in range(6)]
    forged = AddCheckpointRequest(6, (), signed(6, other_tree))
    with pytest.raises(SplitViewError):
        witness.add_checkpoint(forged)
    assert witness.log(ORIGIN).state.root == mth(TREE[:6])
    kept = list((witness.state_dir / "evidence").glob("*.txt"))
    assert [p.read_text() for p in kept] == [forged.to_text()]


@pytest.mark.parametrize("failing", ["replace", "fsync", "sign"])
def test_a_crash_before_the_rename_leaves_the_old_state(
    witness: Witness, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    witness.add_checkpoint(request(0, 4))

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError(5, "simulated crash")

    if failing == "sign":
        monkeypatch.setattr(witness_module, "cosign_checkpoint", crash)
    else:
        monkeypatch.setattr(witness_module.os, failing, crash)
    with pytest.raises(OSError, match="simulated crash"):
        witness.add_checkpoint(request(4, 9))
    monkeypatch.undo()
    # Believes size 4, the last one it cosigned, and still cosigns from there.
    assert witness.log(ORIGIN).state.size == 4
    assert witness.add_checkpoint(request(4, 9)).checkpoint.size == 9


def test_a_leftover_temporary_file_is_ignored(witness: Witness) -> None:
    witness.add_checkpoint(request(0, 4))
    state_file = next((witness.state_dir / "logs").glob("*.json"))
    state_file.with_name(state_file.name + ".tmp").write_text('{"half": ')
    assert witness.log(ORIGIN).state.size == 4
    witness.add_checkpoint(request(4, 8))
    assert witness.log(ORIGIN).state.size == 8


def test_a_corrupted_state_file_is_refused_not_reset(witness: Witness) -> None:
    state_file = next((witness.state_dir / "logs").glob("*.json"))
    state_file.write_text("{}")
    with pytest.raises(WitnessStateError, match="expected the state of log"):
        witness.add_checkpoint(request(0, 4))


def test_concurrent_cosigns_from_one_old_size_have_exactly_one_winner(witness: Witness) -> None:
    sizes = [3, 5, 7, 9, 11, 13, 15, 16]
    barrier = threading.Barrier(len(sizes))
    outcomes: dict[int, str] = {}

    def cosign(size: int) -> None:
        barrier.wait()
        try:
            witness.add_checkpoint(request(0, size))
            outcomes[size] = "cosigned"
        except StaleOldSizeError:
            outcomes[size] = "stale"

    threads = [threading.Thread(target=cosign, args=(s,)) for s in sizes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [s for s, o in outcomes.items() if o == "cosigned"]
    assert len(outcomes) == len(sizes) and len(winners) == 1
    log = witness.log(ORIGIN)
    assert (log.state.size, log.state.root) == (winners[0], mth(TREE[: winners[0]]))


def test_a_held_lock_makes_a_request_wait_then_give_up(
    witness: Witness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(witness_module, "LOCK_TIMEOUT_S", 0.2)
    lock_file = next((witness.state_dir / "logs").glob("*.lock"), None)
    if lock_file is None:
        witness.add_log(LOG_VKEY)
        lock_file = next((witness.state_dir / "logs").glob("*.lock"))
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(WitnessBusyError, match="retry"):
            witness.add_checkpoint(request(0, 4))
    finally:
        os.close(fd)
    assert witness.add_checkpoint(request(0, 4)).checkpoint.size == 4
