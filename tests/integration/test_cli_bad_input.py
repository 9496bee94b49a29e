"""Every bad input of issue 2 gets a one-line error, a non-zero exit and records nothing.

Each case runs the real console script against a real SQLite file and then checks that the
ledger's size did not move.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from domain.ids import format_time
from domain.registry import key_id_of
from ledger.keyfile import write_private_key
from verify.dsse import envelope_for_statement
from verify.jcs import canonical
from verify.keys import Ed25519Signer, encode_public_key

from .conftest import LedgerFixture, assert_clean_error, run_cli


def refused(fx: LedgerFixture, envelope_path: Path, *fragments: str, code: int = 1) -> None:
    before = fx.size()
    at = ["--recorded-at", format_time(fx.writer.advance(minutes=1))] if fx.writer.asserted else []
    r = fx.cli("submit", str(envelope_path), *at)
    assert_clean_error(r, code, *fragments)
    assert fx.size() == before, "a refused submission changed the ledger"


def env_file(fx: LedgerFixture, name: str, statement: dict[str, object], *signers: str) -> Path:
    env = fx.writer.envelope(statement, signers)
    return fx.write(name, env.to_json())


def test_invalid_json(asserted_ledger: LedgerFixture) -> None:
    path = asserted_ledger.dir / "bad.json"
    path.write_text('{"payloadType": ')
    refused(asserted_ledger, path, "expected JSON")


def test_payload_not_jcs(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    st = fx.writer.statement("noncompliance_reported", "eve", regarding=None, summary="x")
    payload = json.dumps(st, indent=1).encode()  # valid JSON, not the canonical form
    signer = fx.writer.principals["eve"].signer
    from verify.dsse import PAYLOAD_TYPE, pae

    env = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {
                "keyid": signer.key_id,
                "sig": base64.b64encode(signer.sign(pae(PAYLOAD_TYPE, payload))).decode(),
            }
        ],
    }
    refused(fx, fx.write("nonjcs.json", env), "canonical")


def test_bad_signature(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    st = fx.writer.statement("noncompliance_reported", "eve", regarding=None, summary="x")
    env = fx.writer.envelope(st, ["eve"]).to_json()
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[0] ^= 1
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    refused(fx, fx.write("badsig.json", env), "does not verify")


def test_missing_signature(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    st = fx.writer.statement("noncompliance_reported", "eve", regarding=None, summary="x")
    env = fx.writer.envelope(st, ["eve"]).to_json()
    env["signatures"] = []
    refused(fx, fx.write("nosig.json", env), "signatures")


def test_unknown_key_id(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    stranger = Ed25519Signer.generate()
    st = fx.writer.statement("noncompliance_reported", "eve", regarding=None, summary="x")
    refused(fx, fx.write("unknown.json", envelope_for_statement(st, stranger)), "registered key")


def test_key_revoked_before_recording(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    eve = fx.writer.principals["eve"]
    fx.writer.submit("key_revoked", "eve", key_id=eve.signer.key_id, reason="retired")
    fx.writer.advance(minutes=1)
    st = fx.writer.statement("noncompliance_reported", "eve", regarding=None, summary="x")
    refused(fx, env_file(fx, "revoked.json", st, "eve"), "revoked")


def test_principal_registered_by_non_admin(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    newcomer = Ed25519Signer.generate()
    st = fx.writer.statement(
        "principal_registered",
        "dario",
        principal="mallory",
        roles=["ceo"],
        public_keys=[encode_public_key(newcomer.public_raw)],
    )
    refused(fx, env_file(fx, "nonadmin.json", st, "dario"), "ledger-admin")


def test_second_genesis(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    env = fx.writer.genesis_envelope("example.org/other", "alice")
    refused(fx, fx.write("genesis2.json", env.to_json()), "genesis")
    r = run_cli(
        "init",
        "--ledger",
        fx.url,
        "--genesis",
        str(fx.dir / "genesis2.json"),
        "--recorded-at",
        "2025-05-14T09:00:00Z",
        cwd=fx.dir,
    )
    assert_clean_error(r, 1, "already")


def test_reused_statement_id(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    st = fx.writer.statement(
        "noncompliance_reported", "eve", id="nc-1", regarding=None, summary="first"
    )
    first = env_file(fx, "first.json", st, "eve")
    at = format_time(fx.writer.advance(minutes=1))
    ok = fx.cli("submit", str(first), "--recorded-at", at, "--json")
    assert ok.code == 0, ok.err
    again = fx.cli("submit", str(first), "--recorded-at", at, "--json")
    assert again.code == 0 and again.json()["existing"] is True
    assert again.json()["seq"] == ok.json()["seq"]
    other = dict(st, summary="second")
    refused(fx, env_file(fx, "second.json", other, "eve"), "already recorded")


def test_issued_at_too_far_ahead(system_ledger: LedgerFixture) -> None:
    fx = system_ledger
    fx.writer.clock += timedelta(minutes=10)
    st = fx.writer.statement("noncompliance_reported", "eve", regarding=None, summary="x")
    refused(fx, env_file(fx, "future.json", st, "eve"), "issued_at")


@pytest.mark.parametrize(
    ("mutation", "fragment"),
    [
        ({"type": "capability_guess"}, "type"),
        ({"colour": "blue"}, "colour"),
        ({"issuer": "not a principal!"}, "issuer"),
        ({"issued_at": "2025-05-14 09:00:00"}, "issued_at"),
        ({"issued_at": "2025-05-14T09:00:00+01:00"}, "issued_at"),
    ],
)
def test_schema_violations(
    asserted_ledger: LedgerFixture, mutation: dict[str, str], fragment: str
) -> None:
    fx = asserted_ledger
    st = fx.writer.statement("noncompliance_reported", "eve", regarding=None, summary="x")
    st.update(mutation)
    payload = canonical(st)
    signer = fx.writer.principals["eve"].signer
    from verify.dsse import PAYLOAD_TYPE, pae

    env = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {
                "keyid": signer.key_id,
                "sig": base64.b64encode(signer.sign(pae(PAYLOAD_TYPE, payload))).decode(),
            }
        ],
    }
    refused(fx, fx.write("schema.json", env), fragment)


def test_recorded_at_backwards_in_asserted_mode(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    st = fx.writer.statement("noncompliance_reported", "eve", regarding=None, summary="x")
    path = env_file(fx, "late.json", st, "eve")
    r = fx.cli("submit", str(path), "--recorded-at", "2025-01-01T00:00:00Z")
    assert_clean_error(r, 1, "backwards")
    r = fx.cli("submit", str(path))
    assert_clean_error(r, 2, "--recorded-at is required")


def test_recorded_at_on_a_system_ledger(system_ledger: LedgerFixture) -> None:
    fx = system_ledger
    st = fx.writer.statement("noncompliance_reported", "eve", regarding=None, summary="x")
    path = env_file(fx, "sys.json", st, "eve")
    before = fx.size()
    r = fx.cli("submit", str(path), "--recorded-at", format_time(fx.writer.clock))
    assert_clean_error(r, 1, "refused")
    assert fx.size() == before


def _register(fx: LedgerFixture, principal: str, key: str, *, id_: str | None = None) -> Path:
    st = fx.writer.statement(
        "principal_registered", "alice", principal=principal, roles=[], public_keys=[key]
    )
    return env_file(fx, f"reg-{principal}.json", st, "alice")


def test_refusals_against_the_log_so_far(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    h = fx.writer
    fresh = encode_public_key(Ed25519Signer.generate().public_raw)
    # a principal registered twice
    refused(fx, _register(fx, "dario", fresh), "already registered")
    # a key already registered to anyone
    refused(fx, _register(fx, "newcomer", h.principals["eve"].public_key), "already registered")
    # roles_set and key_added for an unknown principal
    st = h.statement("roles_set", "alice", principal="ghost", roles=["ceo"])
    refused(fx, env_file(fx, "roles.json", st, "alice"), "unknown principal")
    st = h.statement("key_added", "alice", principal="ghost", public_key=fresh)
    refused(fx, env_file(fx, "keyadd.json", st, "alice"), "unknown principal")
    # revoking an unknown key, then an already revoked one
    st = h.statement("key_revoked", "alice", key_id=key_id_of(fresh), reason="retired")
    refused(fx, env_file(fx, "revoke-unknown.json", st, "alice"), "unknown key")
    jared_key = h.principals["jared"].signer.key_id
    h.submit("key_revoked", "alice", key_id=jared_key, reason="rotated")
    h.advance(minutes=1)
    st = h.statement("key_revoked", "alice", key_id=jared_key, reason="retired")
    refused(fx, env_file(fx, "revoke-twice.json", st, "alice"), "already revoked")
    # withdrawing something that is not an earlier attestation
    h.submit("noncompliance_reported", "eve", id="nc-x", regarding=None, summary="x")
    h.advance(minutes=1)
    st = h.statement(
        "attestation_withdrawn",
        "eve",
        statement="nc-x",
        invalid_from=format_time(h.clock),
        reason="oops",
    )
    refused(fx, env_file(fx, "withdraw.json", st, "eve"), "attestation")


def test_world_readable_private_key_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    write_private_key(key, Ed25519Signer.generate())
    os.chmod(key, 0o644)
    st = tmp_path / "s.json"
    st.write_text(
        json.dumps(
            {
                "type": "noncompliance_reported",
                "id": "nc-1",
                "issued_at": "2025-05-14T09:00:00Z",
                "issuer": "alice",
                "regarding": None,
                "summary": "x",
            }
        )
    )
    r = run_cli("sign", str(st), "--key", str(key), cwd=tmp_path)
    assert_clean_error(r, 1, "readable by others")


def test_details_that_do_not_match(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    salt = os.urandom(32)
    digest = "sha256:" + "0" * 64
    st = fx.writer.statement(
        "noncompliance_reported",
        "eve",
        id="nc-d",
        regarding=None,
        summary="x",
        details_digest=digest,
    )
    path = env_file(fx, "d.json", st, "eve")
    details = fx.dir / "details.json"
    details.write_text(
        json.dumps(
            {"statement": "nc-d", "salt": base64.b64encode(salt).decode(), "details": {"a": 1}}
        )
    )
    before = fx.size()
    r = fx.cli(
        "submit",
        str(path),
        "--details",
        str(details),
        "--recorded-at",
        format_time(fx.writer.advance(minutes=1)),
    )
    assert_clean_error(r, 1, "do not match")
    assert fx.size() == before
