"""The witness commands as real subprocesses on real files: the offline exchange for air-gapped
witnesses, a split view, a rollback, a gap, a replay, concurrent cosigns, key files, and the
cosignature's byte layout checked against C2SP by an independent check."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from ledger.keyfile import read_private_key
from verify.merkle import leaf_hash
from verify.note import Checkpoint, Vkey, parse_note, sign_checkpoint, verify_checkpoint

from .conftest import RSP_LEDGER, LedgerFixture, assert_clean_error, make_ledger, run_cli
from .witnessing import (
    WitnessDir,
    check_cosignature_layout,
    grow,
    ledger_vkey,
    make_witness,
)


@pytest.fixture
def fx(tmp_path: Path) -> LedgerFixture:
    return make_ledger(tmp_path, asserted=True)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def checkpoint_file(fx: LedgerFixture, size: int | None = None, name: str = "cp") -> str:
    note = fx.writer.ledger.checkpoint(size)
    # Only the ledger's own signature: what an operator hands a witness.
    text = parse_note(note)
    return write(fx.dir / f"{name}-{size}", text.text + "\n" + text.signatures[0].line)


def witness_size(w: WitnessDir) -> int:
    r = w.cli("status", "--json")
    assert r.code == 0, r.err
    (log,) = r.json()["logs"]
    return int(log["size"])


def forged_checkpoint(fx: LedgerFixture, size: int) -> str:
    """A checkpoint of `size` over another tree, signed by the ledger's own key: one side of a
    split view."""
    signer = read_private_key(fx.key_file)
    origin = fx.writer.ledger.origin
    root = leaf_hash(b"another history")
    return sign_checkpoint(Checkpoint(origin, size, root), origin, signer)


def test_offline_exchange_request_cosign_attach(tmp_path: Path, fx: LedgerFixture) -> None:
    w = make_witness(tmp_path, "regulator.example/w1", follows=fx)
    n = fx.size()
    r = fx.cli("checkpoint", "--witness-request", str(tmp_path / "req1"))
    assert r.code == 0, r.err
    assert (tmp_path / "req1").read_text().startswith("old 0\n\n")
    cos = w.cli("cosign", "--checkpoint", str(tmp_path / "req1"), "--out", str(tmp_path / "c1"))
    assert cos.code == 0, cos.err
    body = parse_note(fx.writer.ledger.checkpoint(n)).text
    check_cosignature_layout(cos.out, body, w.vkey)
    assert (tmp_path / "c1").read_text().endswith(cos.out)
    attach = fx.cli(
        "checkpoint", "--attach", str(tmp_path / "c1"), "--witness-key", w.vkey, "--json"
    )
    assert attach.code == 0, attach.err
    assert attach.json()["witnesses"]["added"] == [Vkey.parse(w.vkey).label]
    assert attach.json()["note"].endswith(cos.out)
    verify_checkpoint(
        fx.writer.ledger.checkpoint(n), Vkey.parse(ledger_vkey(fx)), witnesses=[Vkey.parse(w.vkey)]
    )

    m = grow(fx, 3)
    stale = fx.cli("checkpoint", "--witness-request", str(tmp_path / "req2"))
    assert stale.code == 0, stale.err
    refused = w.cli("cosign", "--checkpoint", str(tmp_path / "req2"))
    assert_clean_error(refused, 1, f"expected old size {n}", "found 0")
    r = fx.cli("checkpoint", "--witness-request", str(tmp_path / "req2"), "--old", str(n))
    assert r.code == 0, r.err
    cos2 = w.cli("cosign", "--checkpoint", str(tmp_path / "req2"), "--out", str(tmp_path / "c2"))
    assert cos2.code == 0, cos2.err
    assert witness_size(w) == m
    attach2 = fx.cli("checkpoint", "--attach", str(tmp_path / "c2"), "--witness-key", w.vkey)
    assert attach2.code == 0, attach2.err
    assert fx.writer.ledger.checkpoint(m).endswith(cos2.out)
    # Attaching the same file again adds nothing, and is not an error.
    again = fx.cli(
        "checkpoint", "--attach", str(tmp_path / "c2"), "--witness-key", w.vkey, "--json"
    )
    assert again.code == 0 and again.json()["witnesses"]["added"] == []


def test_interop_cosignature_json_and_layout(tmp_path: Path, fx: LedgerFixture) -> None:
    w = make_witness(tmp_path, "auditor.example/witness", follows=fx)
    r = w.cli("cosign", "--checkpoint", checkpoint_file(fx), "--json")
    assert r.code == 0, r.err
    data = r.json()
    body = parse_note(data["note"]).text
    assert body == f"{data['origin']}\n{data['size']}\n{data['root']}\n"
    assert check_cosignature_layout(data["line"], body, w.vkey) == data["timestamp"]
    assert data["witness"] == w.vkey


def test_proof_file_gap_and_bad_proof(tmp_path: Path, fx: LedgerFixture) -> None:
    w = make_witness(tmp_path, "regulator.example/w1", follows=fx)
    n = fx.size()
    assert w.cli("cosign", "--checkpoint", checkpoint_file(fx, n)).code == 0
    m = grow(fx, 5)
    cp_m = checkpoint_file(fx, m)
    gap = w.cli("cosign", "--checkpoint", cp_m)  # no proof: a gap it cannot bridge
    assert_clean_error(gap, 1, f"consistency proof from size {n}")
    proof = fx.cli("prove", "consistency", str(n), str(m))
    assert proof.code == 0, proof.err
    lines = proof.out.splitlines()
    damaged = write(tmp_path / "bad", "".join(ln + "\n" for ln in [*lines[:-1], lines[0]]))
    bad = w.cli("cosign", "--checkpoint", cp_m, "--proof", damaged)
    assert_clean_error(bad, 1, "does not verify")
    assert witness_size(w) == n
    good = w.cli("cosign", "--checkpoint", cp_m, "--proof", write(tmp_path / "p", proof.out))
    assert good.code == 0, good.err
    assert witness_size(w) == m
    # A proof file may name its old size; a stale one is refused with the size to use.
    grow(fx, 1)
    named = write(tmp_path / "named", f"old {n}\n" + proof.out)
    stale = w.cli("cosign", "--checkpoint", checkpoint_file(fx), "--proof", named)
    assert_clean_error(stale, 1, f"expected old size {m}")


def test_split_view_first_cosigned_second_refused(tmp_path: Path, fx: LedgerFixture) -> None:
    n = fx.size()
    real = checkpoint_file(fx, n)
    forged = write(tmp_path / "forged", forged_checkpoint(fx, n))
    vkey = Vkey.parse(ledger_vkey(fx))
    for path in (real, forged):  # both really are signed by the ledger key
        verify_checkpoint((Path(path)).read_text(), vkey)

    w1 = make_witness(tmp_path, "w1.example/w", follows=fx)
    assert w1.cli("cosign", "--checkpoint", real).code == 0
    refused = w1.cli("cosign", "--checkpoint", forged)
    assert_clean_error(refused, 1, "split view", f"size {n}")
    assert len(list((w1.state / "evidence").glob("*.txt"))) == 1

    # The other order, on another witness: the forged tree wins there, and the real is refused.
    w2 = make_witness(tmp_path, "w2.example/w", follows=fx)
    out = tmp_path / "forged-cosigned"
    assert w2.cli("cosign", "--checkpoint", forged, "--out", str(out)).code == 0
    assert_clean_error(w2.cli("cosign", "--checkpoint", real), 1, "split view")
    # The ledger will not attach a cosignature of a tree it does not have.
    attach = fx.cli("checkpoint", "--attach", str(out), "--witness-key", w2.vkey)
    assert_clean_error(attach, 1, "not this ledger's")
    assert fx.writer.ledger.checkpoint(n) == Path(real).read_text()


def test_rollback_refused_and_replay_answered(tmp_path: Path, fx: LedgerFixture) -> None:
    w = make_witness(tmp_path, "w1.example/w", follows=fx)
    n = fx.size()
    old_cp = checkpoint_file(fx, n)
    m = grow(fx, 4)
    assert w.cli("cosign", "--checkpoint", checkpoint_file(fx, m)).code == 0
    rollback = w.cli("cosign", "--checkpoint", old_cp)
    assert_clean_error(rollback, 1, "rollback", f"size {m}")
    request = write(tmp_path / "rq", f"old {n}\n\n" + Path(old_cp).read_text())
    assert_clean_error(w.cli("cosign", "--checkpoint", request), 1, f"expected old size {m}")
    assert witness_size(w) == m
    # The latest checkpoint again: C2SP's checks all pass, so it is cosigned again, the state
    # unchanged (idempotent).
    again = w.cli("cosign", "--checkpoint", checkpoint_file(fx, m), "--json")
    assert again.code == 0, again.err
    assert again.json()["size"] == m and witness_size(w) == m


def test_concurrent_cosign_processes_have_one_winner_per_round(
    tmp_path: Path, fx: LedgerFixture
) -> None:
    """Processes racing from the same old size: exactly one moves the state; the others are
    told the size it moved to (or re-cosign the known size, which moves nothing)."""
    w = make_witness(tmp_path, "w1.example/w", follows=fx)
    ledger = fx.writer.ledger
    first = fx.size()
    top = grow(fx, 6)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSP_")}
    old = 0
    for round_, sizes in enumerate([list(range(first, top + 1)), None]):
        sizes = sizes or list(range(old, top + 1))
        files = []
        for size in sizes:
            proof = ledger.consistency_proof(old, size) if old else []
            hashes = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
            body = f"old {old}\n{hashes}\n{ledger.checkpoint(size)}"
            files.append(write(tmp_path / f"r{round_}-{size}", body))
        procs = [
            subprocess.Popen(
                [RSP_LEDGER, "witness", "cosign", "--state", str(w.state), "--checkpoint", f],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for f in files
        ]
        outcomes = [(p.communicate(timeout=120), p.returncode) for p in procs]
        moved = [s for s, (_, code) in zip(sizes, outcomes, strict=True) if code == 0 and s != old]
        assert len(moved) == 1, outcomes
        for (_, err), code in outcomes:
            assert code == 0 or (code == 1 and "expected old size" in err), err
        state = json.loads(next((w.state / "logs").glob("*.json")).read_text())
        assert state["size"] == moved[0]
        assert state["root"] == base64.b64encode(ledger.signed_root(moved[0])).decode()
        old = moved[0]


def test_key_files_are_0600_and_refused_otherwise(tmp_path: Path, fx: LedgerFixture) -> None:
    loose = tmp_path / "loose.pem"
    assert run_cli("key", "generate", "--out", str(loose)).code == 0
    os.chmod(loose, 0o644)
    r = run_cli(
        "witness",
        "init",
        "--key",
        str(loose),
        "--state",
        str(tmp_path / "s"),
        "--name",
        "a.example/w",
    )
    assert_clean_error(r, 1, "readable by others")
    w = make_witness(tmp_path, "w1.example/w", follows=fx)
    assert oct(w.key.stat().st_mode & 0o777) == oct(0o600)
    os.chmod(w.key, 0o640)
    assert_clean_error(
        w.cli("cosign", "--checkpoint", checkpoint_file(fx)), 1, "readable by others"
    )


def test_usage_errors_exit_2(tmp_path: Path, fx: LedgerFixture) -> None:
    w = make_witness(tmp_path, "w1.example/w")
    vkey = ledger_vkey(fx)
    assert_clean_error(fx.cli("checkpoint", "--witness", "http://127.0.0.1:9"), 2, "--witness-key")
    assert_clean_error(fx.cli("checkpoint", "--attach", checkpoint_file(fx)), 2, "--witness-key")
    assert_clean_error(
        fx.cli("checkpoint", "--attach", checkpoint_file(fx), "--witness-key", vkey),
        2,
        "expected signature type 0x04",
    )
    assert_clean_error(fx.cli("checkpoint", "--old", "1"), 2, "--witness-request")
    assert_clean_error(fx.cli("checkpoint", "--witness-key", w.vkey), 2, "--attach")
    assert_clean_error(
        w.cli("add-log", "--origin", "other.example/log", "--ledger-key", vkey), 2, "origin"
    )
    assert_clean_error(w.cli("add-log", "--origin", "x", "--ledger-key", "x+1+2"), 2, "vkey")
    assert_clean_error(
        w.cli("add-log", "--origin", "w1.example/w", "--ledger-key", w.vkey), 2, "type 0x01"
    )
    assert_clean_error(w.cli("serve", "--host", "0.0.0.0"), 2, "loopback")
    assert_clean_error(w.cli("cosign", "--checkpoint", str(tmp_path / "none")), 2, "found none")
    unknown = w.cli("cosign", "--checkpoint", checkpoint_file(fx))
    assert_clean_error(unknown, 1, "does not follow")
    assert_clean_error(
        run_cli("witness", "status", "--state", str(tmp_path / "nope")), 1, "witness init"
    )


def test_sigkill_at_random_moments_never_leaves_an_uncosigned_size(
    tmp_path: Path, fx: LedgerFixture
) -> None:
    """Kill `witness cosign` at random moments: the state file always parses, and its size is one
    the witness cosigned: its recorded cosignature verifies over its recorded checkpoint."""
    import random

    w = make_witness(tmp_path, "w1.example/w", follows=fx)
    ledger = fx.writer.ledger
    first = fx.size()
    top = grow(fx, 8)
    wkey = Vkey.parse(w.vkey)
    rng = random.Random(8)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSP_")}

    def cosign(old: int, size: int, kill_after_s: float | None) -> bool:
        proof = ledger.consistency_proof(old, size) if old else []
        hashes = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
        req = write(tmp_path / f"k-{size}", f"old {old}\n{hashes}\n{ledger.checkpoint(size)}")
        p = subprocess.Popen(
            [RSP_LEDGER, "witness", "cosign", "--state", str(w.state), "--checkpoint", req],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            p.wait(timeout=kill_after_s)
            return False
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=60)
            return True

    def state() -> dict[str, object]:
        data = json.loads(next((w.state / "logs").glob("*.json")).read_text())
        assert isinstance(data, dict)
        return data

    # Kill moments spread over the command's own run time (measured here, uninterrupted): a fixed
    # range would miss it entirely once the command got faster.
    started = time.monotonic()
    cosign(0, first, None)
    took = time.monotonic() - started
    assert state()["size"] == first
    old, killed = first, 0
    for size in range(first + 1, top + 1):
        killed += cosign(old, size, rng.uniform(0.1 * took, 1.1 * took))
        now = state()
        assert now["size"] in (old, size)
        if now["size"]:
            text, line = str(now["checkpoint"]), str(now["cosignature"])
            (sig,) = parse_note(text + "\n" + line).signatures
            wkey.verify(text.encode(), sig.signature)  # raises unless it cosigned this text
            assert parse_note(ledger.checkpoint(int(str(now["size"])))).text == text
        old = int(str(now["size"]))
    assert killed > 0  # the loop did crash it
    # And after the crashes it still cosigns from what it believes.
    cosign(old, top, None)
    assert state()["size"] == top
