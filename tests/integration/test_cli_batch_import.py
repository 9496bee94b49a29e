"""A large batch import through the real `rsp-ledger submit FILE.jsonl`: past STREAM_THRESHOLD
lines its signatures are checked by worker processes while the file is still being parsed.
All or nothing holds there as in a small batch, a key the batch registers signs later lines, and
a key used before the line that registers it is refused at that line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cli.entries import STREAM_CHUNK, STREAM_THRESHOLD
from ledger.history import Principal
from verify.dsse import Envelope
from verify.keys import Ed25519Signer, encode_public_key

from .conftest import LedgerFixture, Result, assert_clean_error

# Past the threshold and across several chunks, so lines land in different worker jobs.
N = max(STREAM_THRESHOLD, 2 * STREAM_CHUNK) + 37


def reports(fx: LedgerFixture, n: int, prefix: str, issuer: str = "eve") -> list[Envelope]:
    out = []
    for i in range(n):
        st = fx.writer.statement(
            "noncompliance_reported", issuer, id=f"{prefix}-{i:05d}", regarding=None, summary="x"
        )
        out.append(fx.writer.envelope(st, [issuer]))
    return out


def newcomer(fx: LedgerFixture, name: str) -> Envelope:
    """A new evaluator with a key of its own, and the admin's envelope that registers them."""
    principal = Principal(name, ("evaluator",), Ed25519Signer.generate())
    fx.writer.principals[name] = principal
    return fx.writer.envelope(
        fx.writer.statement(
            "principal_registered",
            "alice",
            principal=name,
            roles=["evaluator"],
            public_keys=[encode_public_key(principal.signer.public_raw)],
        ),
        ["alice"],
    )


def write_jsonl(fx: LedgerFixture, name: str, lines: list[dict[str, object]]) -> Path:
    path = fx.dir / name
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def submit(fx: LedgerFixture, path: Path, *extra: str) -> Result:
    return fx.cli("submit", str(path), "--no-check", *extra)


def test_a_large_import_is_recorded_whole(system_ledger: LedgerFixture) -> None:
    fx = system_ledger
    before = fx.size()
    envs = reports(fx, N, "big")
    r = submit(fx, write_jsonl(fx, "big.jsonl", [e.to_json() for e in envs]), "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["recorded"] == N
    assert [e["seq"] for e in out["entries"]] == list(range(before, before + N))
    assert fx.size() == before + N


def test_a_bad_signature_deep_in_a_large_import_records_nothing(
    system_ledger: LedgerFixture,
) -> None:
    fx = system_ledger
    before = fx.size()
    lines = [e.to_json() for e in reports(fx, N, "bad")]
    bad = N - STREAM_CHUNK // 2  # in the last chunk handed to the workers
    sig = bytearray(base64.b64decode(lines[bad]["signatures"][0]["sig"]))
    sig[5] ^= 1
    lines[bad]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    r = submit(fx, write_jsonl(fx, "bad.jsonl", lines))
    assert_clean_error(r, 1, f"line {bad + 1}", "does not verify")
    assert fx.size() == before


def test_a_key_the_import_registers_signs_its_later_lines(system_ledger: LedgerFixture) -> None:
    fx = system_ledger
    before = fx.size()
    registration = newcomer(fx, "nina")
    early = reports(fx, STREAM_CHUNK + 5, "early")
    late = reports(fx, 50, "late", issuer="nina")
    lines = [e.to_json() for e in [*early, registration, *late]]
    r = submit(fx, write_jsonl(fx, "keys.jsonl", lines), "--json")
    assert r.code == 0, r.err
    assert fx.size() == before + len(lines)


def test_a_key_used_before_the_line_that_registers_it_is_refused_there(
    system_ledger: LedgerFixture,
) -> None:
    fx = system_ledger
    before = fx.size()
    registration = newcomer(fx, "omar")
    fillers = reports(fx, N, "fill")
    too_soon = reports(fx, 1, "soon", issuer="omar")
    lines = [e.to_json() for e in [*fillers[:10], *too_soon, *fillers[10:], registration]]
    r = submit(fx, write_jsonl(fx, "early.jsonl", lines))
    assert_clean_error(r, 1, "line 11", "registered key")
    assert fx.size() == before
