"""Ed25519 keys: key ids (SPEC §1), raw and base64 public keys, signing and verification.

Signing goes through the small `Signer` protocol so that a KMS or HSM can take the place of a key
held in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from verify.errors import MalformedKeyError, SignatureError


def key_id(public_raw: bytes) -> str:
    """SPEC §1: lowercase hex SHA-256 of the raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_raw).hexdigest()


def decode_public_key(b64: str) -> bytes:
    """Standard base64 (with padding) of 32 raw bytes, as in statements."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedKeyError(f"expected base64 of a 32-byte Ed25519 key: {e}") from e
    if len(raw) != 32 or base64.b64encode(raw).decode() != b64:
        raise MalformedKeyError(f"expected 32 raw bytes in canonical base64, found {len(raw)}")
    return raw


def encode_public_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class Signer(Protocol):
    """Anything that can make Ed25519 signatures: a key in memory, a KMS, an HSM."""

    @property
    def public_raw(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class Ed25519Signer:
    """A `Signer` holding its private key in memory."""

    __slots__ = ("_key", "_public_raw")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._public_raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> Ed25519Signer:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as e:
            raise MalformedKeyError(f"expected a PKCS#8 PEM Ed25519 private key: {e}") from e
        if not isinstance(key, Ed25519PrivateKey):
            raise MalformedKeyError(f"expected an Ed25519 private key, found {type(key).__name__}")
        return cls(key)

    def to_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_raw(self) -> bytes:
        return self._public_raw

    @property
    def key_id(self) -> str:
        return key_id(self._public_raw)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:  # never show key material
        return f"Ed25519Signer(key_id={self.key_id[:16]}…)"


def verify_signature(public_raw: bytes, signature: bytes, message: bytes) -> None:
    """Raises `SignatureError` unless `signature` is a valid Ed25519 signature of `message`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, message)
    except InvalidSignature as e:
        raise SignatureError(
            f"signature does not verify with key {key_id(public_raw)[:16]}…"
        ) from e
    except ValueError as e:
        raise MalformedKeyError(f"expected a 32-byte Ed25519 public key: {e}") from e
