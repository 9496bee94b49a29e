"""Redactable details (SPEC §7): `{"statement", "salt", "details"}`, bound to a statement by
`details_digest` = "sha256:" + hex SHA-256(salt ‖ JCS(details)), salt = 32 random bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from domain.errors import VerificationError
from domain.ids import is_statement_id
from verify.errors import NotCanonicalError
from verify.jcs import canonical, parse_json

SALT_BYTES = 32
MAX_DETAIL_BYTES = 1 << 20


class DetailError(VerificationError):
    """A detail is malformed or does not match its statement's digest."""


@dataclass(frozen=True, slots=True)
class Detail:
    statement: str
    salt: bytes
    details: Any  # any JSON value
    details_jcs: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "salt": base64.b64encode(self.salt).decode(),
            "details": self.details,
        }

    def line(self) -> bytes:
        """One line of details.jsonl: JCS bytes and a newline."""
        return canonical(self.to_json()) + b"\n"


def details_digest(salt: bytes, details_jcs: bytes) -> str:
    return "sha256:" + hashlib.sha256(salt + details_jcs).hexdigest()


def make_detail(statement_id: str, salt: bytes, details: Any) -> Detail:
    return Detail(statement_id, salt, details, canonical(details))


def parse_detail(obj: object) -> Detail:
    if not isinstance(obj, dict) or set(obj) != {"statement", "salt", "details"}:
        raise DetailError('expected a detail object with exactly "statement", "salt", "details"')
    sid = obj["statement"]
    if not isinstance(sid, str) or not is_statement_id(sid):
        raise DetailError(f"detail: expected a statement id, found {str(sid)[:60]!r}")
    salt_text = obj["salt"]
    try:
        salt = base64.b64decode(salt_text, validate=True) if isinstance(salt_text, str) else b""
    except (binascii.Error, ValueError) as e:
        raise DetailError("detail: salt must be standard base64") from e
    if len(salt) != SALT_BYTES:
        raise DetailError(f"detail: expected a {SALT_BYTES}-byte salt, found {len(salt)} bytes")
    try:
        details_jcs = canonical(obj["details"])
    except NotCanonicalError as e:
        raise DetailError(f"detail: {e}") from e
    if len(details_jcs) > MAX_DETAIL_BYTES:
        raise DetailError(
            f"detail: expected at most {MAX_DETAIL_BYTES} bytes of details, found {len(details_jcs)}"
        )
    return Detail(sid, salt, obj["details"], details_jcs)


def parse_detail_bytes(data: bytes) -> Detail:
    if len(data) > MAX_DETAIL_BYTES * 2:
        raise DetailError(
            f"detail: expected at most {MAX_DETAIL_BYTES * 2} bytes, found {len(data)}"
        )
    try:
        return parse_detail(parse_json(data))
    except NotCanonicalError as e:
        raise DetailError(f"detail: {e}") from e


def verify_detail(detail: Detail, digest: str | None) -> None:
    """Raise `DetailError` unless the detail matches the statement's `details_digest`."""
    if digest is None:
        raise DetailError(f"statement {detail.statement!r} has no details_digest to match")
    actual = details_digest(detail.salt, detail.details_jcs)
    if not hmac.compare_digest(actual, digest):
        raise DetailError(
            f"details of {detail.statement!r} do not match: expected {digest}, found {actual}"
        )
