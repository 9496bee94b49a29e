"""DSSE envelopes (protocol v1) carrying statements (SPEC §2).

Invariants:
- `Envelope.payload` holds the exact bytes that were signed; they are the JCS form of the
  statement, checked at parse time, and are never re-serialised;
- base64 fields are accepted only in their canonical spelling, so `Envelope.to_json()` reproduces
  the submitted envelope object exactly;
- key ids are distinct within an envelope.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import MalformedStatementError
from domain.statements import Statement, parse_statement
from verify.errors import MalformedEnvelopeError, NotCanonicalError, SignatureError
from verify.jcs import canonical, parse_canonical, parse_json
from verify.keys import Signer, key_id, verify_signature

PAYLOAD_TYPE = "application/vnd.rsp-ledger.statement.v1+json"
MAX_ENVELOPE_BYTES = 1 << 20
MAX_SIGNATURES = 16
_ENVELOPE_FIELDS = frozenset({"payloadType", "payload", "signatures"})


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedEnvelopeError(
            f"{what}: expected a base64 string, found {type(value).__name__}"
        )
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedEnvelopeError(f"{what}: expected standard base64, found invalid text") from e
    if base64.b64encode(raw).decode() != value:
        raise MalformedEnvelopeError(f"{what}: expected canonical standard base64 with padding")
    return raw


@dataclass(frozen=True, slots=True)
class EnvelopeSignature:
    keyid: str
    sig: bytes

    def to_json(self) -> dict[str, str]:
        return {"keyid": self.keyid, "sig": base64.b64encode(self.sig).decode()}


@dataclass(frozen=True, slots=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]
    statement: Statement

    @property
    def statement_id(self) -> str:
        return self.statement.id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(s.keyid for s in self.signatures)

    def to_json(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode(),
            "signatures": [s.to_json() for s in self.signatures],
        }

    def signing_input(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def same_as(self, other: Envelope) -> bool:
        """SPEC §2 resubmission: same payload bytes and the same set of (keyid, sig) pairs."""
        return self.payload == other.payload and set(self.signatures) == set(other.signatures)


def parse_envelope(obj: object) -> Envelope:
    """A JSON object becomes an `Envelope`, or `MalformedEnvelopeError` says why not.

    The payload must be exactly the JCS form of a schema-valid statement (SPEC §2).
    """
    if not isinstance(obj, dict):
        raise MalformedEnvelopeError(f"expected a DSSE envelope object, found {type(obj).__name__}")
    unknown = set(obj) - _ENVELOPE_FIELDS
    if unknown:
        raise MalformedEnvelopeError(f"envelope: unexpected field {sorted(unknown)[0]!r}")
    missing = _ENVELOPE_FIELDS - set(obj)
    if missing:
        raise MalformedEnvelopeError(f"envelope: missing field {sorted(missing)[0]!r}")
    if obj["payloadType"] != PAYLOAD_TYPE:
        raise MalformedEnvelopeError(
            f"payloadType: expected {PAYLOAD_TYPE!r}, found {str(obj['payloadType'])[:80]!r}"
        )
    payload = _b64(obj["payload"], "payload")
    sigs = obj["signatures"]
    if not isinstance(sigs, list) or not sigs:
        raise MalformedEnvelopeError("signatures: expected a non-empty list")
    if len(sigs) > MAX_SIGNATURES:
        raise MalformedEnvelopeError(
            f"signatures: expected at most {MAX_SIGNATURES}, found {len(sigs)}"
        )
    parsed: list[EnvelopeSignature] = []
    for i, s in enumerate(sigs):
        if not isinstance(s, dict) or set(s) != {"keyid", "sig"}:
            raise MalformedEnvelopeError(f"signatures[{i}]: expected exactly keyid and sig")
        kid = s["keyid"]
        if not isinstance(kid, str) or len(kid) != 64 or kid.strip("0123456789abcdef"):
            raise MalformedEnvelopeError(
                f"signatures[{i}].keyid: expected 64 lowercase hex, found {str(kid)[:70]!r}"
            )
        sig = _b64(s["sig"], f"signatures[{i}].sig")
        if len(sig) != 64:
            raise MalformedEnvelopeError(
                f"signatures[{i}].sig: expected a 64-byte Ed25519 signature, found {len(sig)} bytes"
            )
        parsed.append(EnvelopeSignature(kid, sig))
    if len({p.keyid for p in parsed}) != len(parsed):
        raise MalformedEnvelopeError("signatures: expected distinct key ids, found a repeat")
    try:
        statement_obj = parse_canonical(payload)
    except NotCanonicalError as e:
        raise MalformedEnvelopeError(f"payload: {e}") from e
    try:
        statement = parse_statement(statement_obj)
    except MalformedStatementError as e:
        raise MalformedEnvelopeError(f"payload: {e}") from e
    return Envelope(PAYLOAD_TYPE, payload, tuple(parsed), statement)


def parse_envelope_bytes(data: bytes) -> Envelope:
    """Envelope JSON as read from a file or a request (any JSON spelling of the envelope)."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise MalformedEnvelopeError(
            f"expected an envelope of at most {MAX_ENVELOPE_BYTES} bytes, found {len(data)}"
        )
    try:
        obj = parse_json(data)
    except NotCanonicalError as e:
        raise MalformedEnvelopeError(f"envelope: {e}") from e
    return parse_envelope(obj)


def verify_envelope_signatures(envelope: Envelope, keys: Mapping[str, bytes]) -> None:
    """Every signature must verify with the key its key id names (SPEC §2)."""
    message = envelope.signing_input()
    for s in envelope.signatures:
        public_raw = keys.get(s.keyid)
        if public_raw is None:
            raise SignatureError(
                f"signature by unknown key {s.keyid[:16]}…: no such registered key"
            )
        verify_signature(public_raw, s.sig, message)


def sign_payload(payload: bytes, signer: Signer) -> EnvelopeSignature:
    return EnvelopeSignature(key_id(signer.public_raw), signer.sign(pae(PAYLOAD_TYPE, payload)))


def envelope_for_statement(statement_obj: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """A new envelope object around the JCS form of a statement, signed once."""
    payload = canonical(dict(statement_obj))
    parse_statement(parse_canonical(payload))  # refuse to sign what no ledger would accept
    sig = sign_payload(payload, signer)
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [sig.to_json()],
    }


def add_signature(envelope: Envelope, signer: Signer) -> Envelope:
    """Co-sign: the same payload bytes gain one more signature (an approval, SPEC §2)."""
    sig = sign_payload(envelope.payload, signer)
    if sig.keyid in envelope.key_ids:
        raise MalformedEnvelopeError(
            f"envelope already carries a signature by key {sig.keyid[:16]}…"
        )
    return Envelope(
        envelope.payload_type, envelope.payload, (*envelope.signatures, sig), envelope.statement
    )
