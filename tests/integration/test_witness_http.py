"""`rsp-ledger witness serve` as a real server on 127.0.0.1 and a free port: every status of
c2sp.org/tlog-witness `add-checkpoint`, concurrent requests, and `rsp-ledger checkpoint --witness
URL` pushing to it and storing the cosignatures."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger.keyfile import read_private_key
from verify.keys import Ed25519Signer
from verify.merkle import leaf_hash
from verify.note import Checkpoint, Vkey, parse_note, sign_checkpoint, verify_checkpoint
from verify.witness import AddCheckpointRequest

from .conftest import LedgerFixture, assert_clean_error, make_ledger
from .pg import free_port
from .witnessing import (
    WitnessDir,
    WitnessServer,
    check_cosignature_layout,
    grow,
    ledger_vkey,
    make_witness,
    start_witness_server,
)


@pytest.fixture
def fx(tmp_path: Path) -> LedgerFixture:
    return make_ledger(tmp_path, asserted=True)


@pytest.fixture
def witness(tmp_path: Path, fx: LedgerFixture) -> WitnessDir:
    return make_witness(tmp_path, "regulator.example/w1", follows=fx)


@pytest.fixture
def server(tmp_path: Path, witness: WitnessDir) -> Iterator[WitnessServer]:
    s = start_witness_server(witness.state, tmp_path)
    try:
        yield s
    finally:
        s.stop()


def post(server: WitnessServer, body: str | bytes) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return httpx.post(f"{server.url}/add-checkpoint", content=content, timeout=30)


def body(fx: LedgerFixture, old: int, size: int) -> str:
    ledger = fx.writer.ledger
    proof = tuple(ledger.consistency_proof(old, size)) if old else ()
    return AddCheckpointRequest(old, proof, ledger.checkpoint(size)).to_text()


def test_every_status_of_add_checkpoint(
    tmp_path: Path, fx: LedgerFixture, witness: WitnessDir, server: WitnessServer
) -> None:
    ledger = fx.writer.ledger
    n = ledger.size()
    ok = post(server, body(fx, 0, n))
    assert ok.status_code == 200, ok.text
    check_cosignature_layout(ok.text, parse_note(ledger.checkpoint(n)).text, witness.vkey)

    m = grow(fx, 3)
    stale = post(server, body(fx, 0, m))
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "text/x.tlog.size"
    assert stale.content == f"{n}\n".encode()

    bad_proof = body(fx, n, m).replace("old", "old", 1).split("\n")
    bad_proof[1] = base64.b64encode(bytes(32)).decode()
    assert post(server, "\n".join(bad_proof)).status_code == 422
    assert post(server, f"old {m + 1}\n\n" + ledger.checkpoint(m)).status_code == 400
    assert post(server, b"not a request").status_code == 400
    assert post(server, b"old 0\n\n\xff\xfe").status_code == 400

    other = Ed25519Signer.generate()
    origin = ledger.origin
    wrong_key = sign_checkpoint(Checkpoint(origin, m, ledger.signed_root(m)), origin, other)
    assert post(server, f"old {n}\n\n{wrong_key}").status_code == 403
    stranger = sign_checkpoint(
        Checkpoint("other.example/log", 1, leaf_hash(b"x")), "other.example/log", other
    )
    assert post(server, f"old 0\n\n{stranger}").status_code == 404

    # A split view: the ledger's own key over another tree of the size already cosigned.
    signer = read_private_key(fx.key_file)
    forged = sign_checkpoint(Checkpoint(origin, n, leaf_hash(b"forged")), origin, signer)
    split = post(server, f"old {n}\n\n{forged}")
    assert split.status_code == 409
    assert split.headers["content-type"].startswith("text/plain")
    assert "split view" in split.text

    assert httpx.get(f"{server.url}/add-checkpoint", timeout=10).status_code == 405
    huge = post(server, b"old 0\n\n" + b"x" * (2 << 20))
    assert huge.status_code == 413

    # After all those refusals the witness is where it was, and extends from there.
    assert post(server, body(fx, n, m)).status_code == 200
    status = witness.cli("status", "--json").json()
    assert status["logs"][0]["size"] == m


def test_replay_of_an_old_checkpoint_is_409_with_the_known_size(
    fx: LedgerFixture, server: WitnessServer
) -> None:
    n = fx.size()
    assert post(server, body(fx, 0, n)).status_code == 200
    m = grow(fx, 2)
    assert post(server, body(fx, n, m)).status_code == 200
    replay = post(server, body(fx, 0, n))
    assert (replay.status_code, replay.text) == (409, f"{m}\n")
    # The latest one again passes every check of the spec: cosigned again.
    assert post(server, body(fx, m, m)).status_code == 200


def test_concurrent_requests_from_one_old_size_have_one_winner(
    fx: LedgerFixture, server: WitnessServer
) -> None:
    first = fx.size()
    top = grow(fx, 7)
    bodies = [body(fx, 0, s) for s in range(first, top + 1)]
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = []
    lock = threading.Lock()

    def send(b: str) -> None:
        barrier.wait()
        r = post(server, b)
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [200] + [409] * (len(bodies) - 1)


def test_checkpoint_witness_pushes_and_stores(
    tmp_path: Path, fx: LedgerFixture, witness: WitnessDir, server: WitnessServer
) -> None:
    vkey = Vkey.parse(ledger_vkey(fx))
    wkey = Vkey.parse(witness.vkey)
    push = fx.cli("checkpoint", "--witness", server.url, "--witness-key", witness.vkey, "--json")
    assert push.code == 0, push.err
    assert push.json()["witnesses"] == {"added": [wkey.label], "errors": []}
    verify_checkpoint(push.json()["note"], vkey, witnesses=[wkey])
    # Later: the witness answers 409 with its size, the ledger proves consistency from it.
    m = grow(fx, 5)
    again = fx.cli("checkpoint", "--witness", server.url + "/", "--witness-key", witness.vkey)
    assert again.code == 0, again.err
    verify_checkpoint(again.out, vkey, witnesses=[wkey])
    assert parse_note(again.out).text.split("\n")[1] == str(m)
    assert witness.cli("status", "--json").json()["logs"][0]["size"] == m
    # What is stored is what every later reader gets, exports included.
    assert fx.writer.ledger.checkpoint(m) == again.out


def test_one_witness_down_the_others_still_stored(
    tmp_path: Path, fx: LedgerFixture, witness: WitnessDir, server: WitnessServer
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    r = fx.cli(
        "checkpoint", "--witness", down, "--witness", server.url, "--witness-key", witness.vkey
    )
    assert_clean_error(r, 1, down, "cannot reach")
    verify_checkpoint(r.out, Vkey.parse(ledger_vkey(fx)), witnesses=[Vkey.parse(witness.vkey)])


def test_an_answer_from_an_unexpected_key_is_not_stored(
    tmp_path: Path, fx: LedgerFixture, server: WitnessServer
) -> None:
    other = make_witness(tmp_path, "other.example/w")
    n = fx.size()
    r = fx.cli("checkpoint", "--witness", server.url, "--witness-key", other.vkey)
    assert_clean_error(r, 1, "expected a cosignature by --witness-key")
    assert len(parse_note(fx.writer.ledger.checkpoint(n)).signatures) == 1


def test_a_witness_that_saw_a_larger_tree_is_reported(
    tmp_path: Path, fx: LedgerFixture, witness: WitnessDir, server: WitnessServer
) -> None:
    n = fx.size()
    m = grow(fx, 2)
    assert post(server, body(fx, 0, m)).status_code == 200
    r = fx.cli(
        "checkpoint", "--size", str(n), "--witness", server.url, "--witness-key", witness.vkey
    )
    assert_clean_error(r, 1, f"cosigned size {m}", f"checkpoint's size {n}")


def test_after_a_ledger_key_rotation_the_witness_follows_the_new_key_from_its_state(
    tmp_path: Path, fx: LedgerFixture, witness: WitnessDir, server: WitnessServer
) -> None:
    from ledger.store import Ledger

    push = ("checkpoint", "--witness", server.url, "--witness-key", witness.vkey)
    assert fx.cli(*push).code == 0
    old_vkey = ledger_vkey(fx)
    rotate = fx.cli("ledger-key", "rotate")
    assert rotate.code == 0, rotate.err
    new_vkey = rotate.out.strip()
    assert new_vkey != old_vkey and ledger_vkey(fx) == new_vkey
    fx.writer.ledger = Ledger(fx.url, signer=read_private_key(fx.key_file))
    m = grow(fx, 2)
    refused = fx.cli(*push)
    assert_clean_error(refused, 1, "403")
    origin = new_vkey.split("+")[0]
    r = witness.cli("add-log", "--origin", origin, "--ledger-key", new_vkey, "--rotate")
    assert r.code == 0, r.err
    after = fx.cli(*push)
    assert after.code == 0, after.err
    verify_checkpoint(after.out, Vkey.parse(new_vkey), witnesses=[Vkey.parse(witness.vkey)])
    assert witness.cli("status", "--json").json()["logs"][0]["size"] == m
