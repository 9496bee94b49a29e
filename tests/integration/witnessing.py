"""Helpers of the witness tests: a ledger that grows, a witness on disk, a real
`rsp-ledger witness serve` on a free loopback port (its own process group, stopped by the test),
and an independently written check of the C2SP cosignature layout."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .conftest import RSP_LEDGER, LedgerFixture, Result, run_cli
from .pg import free_port
from .served import ServiceProcess

READY_TIMEOUT_S = 30.0


def grow(fx: LedgerFixture, entries: int) -> int:
    """Record `entries` more statements; returns the new size."""
    for _ in range(entries):
        fx.writer.advance(minutes=1)
        fx.writer.submit("noncompliance_reported", "alice", regarding=None, summary="test")
    return fx.size()


def ledger_vkey(fx: LedgerFixture) -> str:
    r = fx.cli("ledger-key")
    assert r.code == 0, r.err
    return r.out.strip()


@dataclass
class WitnessDir:
    state: Path
    key: Path
    vkey: str

    def cli(self, *args: str, cwd: Path | None = None) -> Result:
        return run_cli("witness", args[0], "--state", str(self.state), *args[1:], cwd=cwd)


def make_witness(tmp_path: Path, name: str, follows: LedgerFixture | None = None) -> WitnessDir:
    short = name.replace("/", "_")
    state, key = tmp_path / f"{short}-state", tmp_path / f"{short}.pem"
    r = run_cli("witness", "init", "--key", str(key), "--state", str(state), "--name", name)
    assert r.code == 0, r.err
    w = WitnessDir(state, key, r.out.strip())
    if follows is not None:
        origin = ledger_vkey(follows).split("+")[0]
        r = run_cli(
            "witness", "add-log", "--state", str(state), "--origin", origin,
            "--ledger-key", ledger_vkey(follows),
        )  # fmt: skip
        assert r.code == 0, r.err
    return w


# A witness server is stopped and read exactly like a ledger service process.
WitnessServer = ServiceProcess


def start_witness_server(state: Path, workdir: Path) -> WitnessServer:
    """`rsp-ledger witness serve` on 127.0.0.1 and a free port; returns once it answers."""
    port = free_port()
    log = workdir / f"witness-{port}.log"
    argv = [RSP_LEDGER, "witness", "serve", "--state", str(state), "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSP_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = WitnessServer(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"witness serve exited {process.returncode}: {server.output()}")
        try:
            # An empty body is a malformed request: 400 means the witness is up.
            if httpx.post(f"{server.url}/add-checkpoint", content=b"", timeout=1.0).status_code:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"witness serve did not answer in {READY_TIMEOUT_S}s: {server.output()}")


def check_cosignature_layout(line: str, checkpoint_body: str, witness_vkey: str) -> int:
    """Written from c2sp.org/tlog-cosignature and c2sp.org/signed-note alone, sharing no code with
    verify/: `— <name> base64(key id ‖ u64 big-endian timestamp ‖ Ed25519 signature)`, key id =
    SHA-256(name ‖ "\\n" ‖ 0x04 ‖ public key)[:4], the signature over "cosignature/v1\\n",
    "time <decimal>\\n" and the checkpoint body. Returns the timestamp."""
    name, key_id_hex, key_b64 = witness_vkey.split("+", 2)
    material = base64.b64decode(key_b64)
    assert material[0] == 0x04 and len(material) == 33
    public = material[1:]
    expected_id = hashlib.sha256(name.encode() + b"\n" + b"\x04" + public).digest()[:4]
    assert expected_id.hex() == key_id_hex
    assert line.startswith("\u2014 ") and line.endswith("\n")
    line_name, encoded = line[2:-1].split(" ")
    assert line_name == name
    raw = base64.b64decode(encoded, validate=True)
    assert len(raw) == 4 + 8 + 64
    assert raw[:4] == expected_id
    timestamp = int.from_bytes(raw[4:12], "big")
    assert timestamp < 2**63
    message = b"cosignature/v1\n" + b"time %d\n" % timestamp + checkpoint_body.encode()
    Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], message)  # raises if not
    return timestamp
