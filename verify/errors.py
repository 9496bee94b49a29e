"""Verification errors, each naming what was expected and what was found."""

from __future__ import annotations

from domain.errors import AcceptanceError, VerificationError


class NotCanonicalError(VerificationError):
    """Bytes that should be RFC 8785 (JCS) canonical JSON are not."""


class MalformedEnvelopeError(VerificationError):
    """A DSSE envelope is not of the form of SPEC §2."""


class SignatureError(VerificationError):
    """A signature does not verify, or comes from a key that may not sign here."""


class MalformedKeyError(VerificationError):
    """A key is not an Ed25519 key in the expected encoding."""


__all__ = [
    "AcceptanceError",
    "MalformedEnvelopeError",
    "MalformedKeyError",
    "NotCanonicalError",
    "SignatureError",
    "VerificationError",
]
