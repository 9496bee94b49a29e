"""DSSE interoperability with securesystemslib, an implementation nobody here wrote."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from domain.statements import NoncomplianceReported
from verify.dsse import (
    PAYLOAD_TYPE,
    envelope_for_statement,
    parse_envelope,
    verify_envelope_signatures,
)
from verify.jcs import canonical
from verify.keys import Ed25519Signer, key_id

STATEMENT = {
    "type": "noncompliance_reported",
    "id": "nc-0001",
    "issued_at": "2025-06-01T12:00:00Z",
    "issuer": "alice",
    "regarding": None,
    "summary": "late notification of the board",
}


def sslib_key(signer: Ed25519Signer) -> SSlibKey:
    return SSlibKey(
        keyid=signer.key_id,
        keytype="ed25519",
        scheme="ed25519",
        keyval={"public": signer.public_raw.hex()},
    )


def test_securesystemslib_verifies_our_envelope() -> None:
    signer = Ed25519Signer.generate()
    ours = envelope_for_statement(STATEMENT, signer)
    theirs = SslibEnvelope.from_dict(ours)
    verified = theirs.verify([sslib_key(signer)], 1)
    assert set(verified) == {signer.key_id}


def test_securesystemslib_rejects_our_envelope_with_a_changed_payload() -> None:
    signer = Ed25519Signer.generate()
    ours = envelope_for_statement(STATEMENT, signer)
    changed = dict(STATEMENT, summary="nothing happened")
    ours["payload"] = base64.b64encode(canonical(changed)).decode()
    theirs = SslibEnvelope.from_dict(ours)
    with pytest.raises(SslibVerificationError):
        theirs.verify([sslib_key(signer)], 1)


def _sslib_signed(private: Ed25519PrivateKey) -> tuple[dict[str, object], Ed25519Signer]:
    ours = Ed25519Signer(private)
    public = sslib_key(ours)
    env = SslibEnvelope(payload=canonical(STATEMENT), payload_type=PAYLOAD_TYPE, signatures={})
    env.sign(CryptoSigner(private, public))
    return env.to_dict(), ours


def test_we_verify_an_envelope_signed_by_securesystemslib() -> None:
    as_dict, ours = _sslib_signed(Ed25519PrivateKey.generate())
    parsed = parse_envelope(as_dict)
    assert isinstance(parsed.statement, NoncomplianceReported)
    assert parsed.key_ids == (key_id(ours.public_raw),)
    verify_envelope_signatures(parsed, {ours.key_id: ours.public_raw})


def test_ledger_accepts_an_envelope_signed_by_securesystemslib(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from ledger.history import HistoryWriter
    from ledger.store import Ledger

    private = Ed25519PrivateKey.generate()
    with Ledger(f"sqlite:///{tmp_path}/l.db", signer=Ed25519Signer.generate()) as ledger:
        h = HistoryWriter(ledger, datetime(2025, 6, 1, 11, tzinfo=UTC))
        alice = h.principal("alice", "ledger-admin")
        alice.signer = Ed25519Signer(private)
        ledger.initialize(h.genesis_envelope("example.org/l", "alice"), recorded_at=h.clock)
        as_dict, _ = _sslib_signed(private)
        entry = ledger.submit(parse_envelope(as_dict), recorded_at=h.advance(hours=1))
        assert entry.seq == 1 and entry.statement_id == "nc-0001"
        stored = ledger.entry(1)
        assert stored.envelope.to_json() == as_dict
