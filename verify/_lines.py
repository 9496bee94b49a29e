"""Checking entry lines in bulk: the costly, parallel part of verifying a bundle.

`check_lines(chunk, keys)` reads a block of whole lines of `entries.jsonl` and, for each line,
hashes the leaf, checks that the line is the JCS form of an entry and its payload the JCS form of
a JSON object (exactly as `verify.entry.parse_entry` does, without building the typed statement),
and verifies every signature whose key it knows. The typed statement, and everything that needs
the log so far (which keys may sign, the Merkle tree, the compliance engine), is the main
process's, in order (verify/verifier.py).

Keys: a key id is the SHA-256 of its public key, so any public key whose hash is the key id is
the right key, wherever it was found. A worker knows the keys the main process has seen so far
(sent with each chunk, by version) and the keys introduced by statements in its own chunk.
A signature by a key it does not know yet is returned as pending and verified by the main
process, which by then knows every key introduced before that entry.

Each result is a plain tuple (cheap to pickle):
- `(seq, recorded_at, payload, key_ids, leaf_hash, pending, error)` for a well-formed entry;
  `pending` holds `(key_id, sig)` pairs not yet verified, `error` says why a signature failed;
- `(None, message, leaf_hash)` for a line that is not a well-formed entry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import pickle
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.ids import TimeFormatError, parse_time
from verify.dsse import MAX_SIGNATURES, PAYLOAD_TYPE, pae
from verify.errors import NotCanonicalError
from verify.jcs import parse_canonical

Pending = tuple[tuple[str, bytes], ...]
GoodLine = tuple[int, datetime, bytes, tuple[str, ...], bytes, Pending, str | None]
BadLine = tuple[None, str, bytes]
LineResult = GoodLine | BadLine

_ENTRY_FIELDS = frozenset({"seq", "recorded_at", "envelope"})
_ENVELOPE_FIELDS = frozenset({"payloadType", "payload", "signatures"})
_HEX = frozenset("0123456789abcdef")
_LEAF_PREFIX = b"\x00"


class _Malformed(Exception):
    pass


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise _Malformed(f"{what}: expected a base64 string, found {type(value).__name__}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise _Malformed(f"{what}: expected standard base64, found invalid text") from e
    if base64.b64encode(raw).decode() != value:
        raise _Malformed(f"{what}: expected canonical standard base64 with padding")
    return raw


def _introduced(statement: dict[str, Any]) -> list[Any]:
    """Public keys (base64) a statement introduces: genesis admins, registrations, additions."""
    kind = statement.get("type")
    if kind == "ledger_genesis":
        admins = statement.get("admins")
        if isinstance(admins, list):
            return [a.get("public_key") for a in admins if isinstance(a, dict)]
    elif kind == "principal_registered":
        keys = statement.get("public_keys")
        if isinstance(keys, list):
            return keys
    elif kind == "key_added":
        return [statement.get("public_key")]
    return []


def _scan(leaf: bytes) -> tuple[int, datetime, bytes, list[tuple[str, bytes]], dict[str, Any]]:
    """The checks of `parse_entry` and `parse_envelope`, up to the statement's schema."""
    try:
        obj = parse_canonical(leaf)
    except NotCanonicalError as e:
        raise _Malformed(f"entry: {e}") from e
    if not isinstance(obj, dict) or obj.keys() != _ENTRY_FIELDS:
        found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise _Malformed(f"entry: expected exactly seq, recorded_at, envelope; found {found}")
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise _Malformed(f"entry: expected seq as a whole number ≥ 0, found {seq!r}")
    try:
        recorded_at = parse_time(obj["recorded_at"])
    except TimeFormatError as e:
        raise _Malformed(f"entry {seq}: recorded_at: {e}") from e
    env = obj["envelope"]
    if not isinstance(env, dict):
        raise _Malformed(
            f"entry {seq}: expected a DSSE envelope object, found {type(env).__name__}"
        )
    if env.keys() != _ENVELOPE_FIELDS:
        unknown = set(env) - _ENVELOPE_FIELDS
        if unknown:
            raise _Malformed(f"entry {seq}: envelope: unexpected field {sorted(unknown)[0]!r}")
        missing = sorted(_ENVELOPE_FIELDS - set(env))[0]
        raise _Malformed(f"entry {seq}: envelope: missing field {missing!r}")
    if env["payloadType"] != PAYLOAD_TYPE:
        raise _Malformed(
            f"entry {seq}: payloadType: expected {PAYLOAD_TYPE!r}, "
            f"found {str(env['payloadType'])[:80]!r}"
        )
    payload = _b64(env["payload"], f"entry {seq}: payload")
    sigs = env["signatures"]
    if not isinstance(sigs, list) or not sigs:
        raise _Malformed(f"entry {seq}: signatures: expected a non-empty list")
    if len(sigs) > MAX_SIGNATURES:
        raise _Malformed(
            f"entry {seq}: signatures: expected at most {MAX_SIGNATURES}, found {len(sigs)}"
        )
    parsed: list[tuple[str, bytes]] = []
    for i, s in enumerate(sigs):
        if not isinstance(s, dict) or s.keys() != {"keyid", "sig"}:
            raise _Malformed(f"entry {seq}: signatures[{i}]: expected exactly keyid and sig")
        kid = s["keyid"]
        if not isinstance(kid, str) or len(kid) != 64 or not _HEX.issuperset(kid):
            raise _Malformed(
                f"entry {seq}: signatures[{i}].keyid: expected 64 lowercase hex, "
                f"found {str(kid)[:70]!r}"
            )
        sig = _b64(s["sig"], f"entry {seq}: signatures[{i}].sig")
        if len(sig) != 64:
            raise _Malformed(
                f"entry {seq}: signatures[{i}].sig: expected a 64-byte Ed25519 signature, "
                f"found {len(sig)} bytes"
            )
        parsed.append((kid, sig))
    if len({kid for kid, _ in parsed}) != len(parsed):
        raise _Malformed(f"entry {seq}: signatures: expected distinct key ids, found a repeat")
    try:
        statement = parse_canonical(payload)
    except NotCanonicalError as e:
        raise _Malformed(f"entry {seq}: payload: {e}") from e
    if not isinstance(statement, dict):
        raise _Malformed(
            f"entry {seq}: payload: expected a statement as a JSON object, "
            f"found {type(statement).__name__}"
        )
    return seq, recorded_at, payload, parsed, statement


class KeyCache:
    """Public keys by key id, as loaded `Ed25519PublicKey`s, replaced when a newer set arrives."""

    def __init__(self) -> None:
        self.version = -1
        self.raw: dict[str, bytes] = {}
        self._loaded: dict[str, Ed25519PublicKey] = {}

    def update(self, version: int, blob: bytes | None) -> None:
        if version != self.version and blob is not None:
            self.set(version, pickle.loads(blob))

    def set(self, version: int, raw: dict[str, bytes]) -> None:
        self.raw = raw
        self.version = version

    def key(self, kid: str, extra: Mapping[str, bytes]) -> Ed25519PublicKey | None:
        loaded = self._loaded.get(kid)
        if loaded is None:
            raw = self.raw.get(kid) or extra.get(kid)
            if raw is None:
                return None
            loaded = Ed25519PublicKey.from_public_bytes(raw)
            self._loaded[kid] = loaded
        return loaded


_CACHE = KeyCache()


def check_lines(chunk: bytes, keys: KeyCache) -> list[LineResult]:
    """Every line of `chunk` (whole lines; the last may lack its newline), checked."""
    scanned: list[Any] = []
    introduced: dict[str, bytes] = {}
    sha256 = hashlib.sha256
    leaves = chunk.split(b"\n")
    if leaves[-1] == b"":
        leaves.pop()  # the chunk ends with a newline, as every whole line does
    for leaf in leaves:
        leaf_hash = sha256(_LEAF_PREFIX + leaf).digest()
        try:
            seq, recorded_at, payload, sigs, statement = _scan(leaf)
        except _Malformed as e:
            scanned.append((None, str(e), leaf_hash))
            continue
        for pk in _introduced(statement):
            try:
                raw = base64.b64decode(pk, validate=True) if isinstance(pk, str) else b""
            except (binascii.Error, ValueError):
                continue
            if len(raw) == 32:
                introduced[hashlib.sha256(raw).hexdigest()] = raw
        scanned.append((seq, recorded_at, payload, sigs, leaf_hash))
    out: list[LineResult] = []
    for item in scanned:
        if item[0] is None:
            out.append(item)
            continue
        seq, recorded_at, payload, sigs, leaf_hash = item
        message = pae(PAYLOAD_TYPE, payload)
        pending: list[tuple[str, bytes]] = []
        error: str | None = None
        for kid, sig in sigs:
            key = keys.key(kid, introduced)
            if key is None:
                pending.append((kid, sig))
                continue
            try:
                key.verify(sig, message)
            except InvalidSignature:
                error = signature_failure(kid)
                break
        out.append(
            (
                seq,
                recorded_at,
                payload,
                tuple(kid for kid, _ in sigs),
                leaf_hash,
                tuple(pending),
                error,
            )
        )
    return out


def signature_failure(kid: str) -> str:
    return f"signature by key {kid[:16]}… does not verify over this payload"


def verify_signatures(batch: list[tuple[int, bytes, bytes, bytes]]) -> list[tuple[int, str]]:
    """`(seq, public key, signature, message)` checked; the failures as `(seq, message)`."""
    failures = []
    for seq, public_raw, sig, message in batch:
        try:
            Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, message)
        except InvalidSignature:
            kid = hashlib.sha256(public_raw).hexdigest()
            failures.append((seq, signature_failure(kid)))
    return failures


def check_chunk(chunk: bytes, keys_version: int, keys_blob: bytes | None) -> list[LineResult]:
    """The worker's entry point: keys arrive pickled, by version, and are cached per process."""
    _CACHE.update(keys_version, keys_blob)
    return check_lines(chunk, _CACHE)


__all__ = [
    "BadLine",
    "GoodLine",
    "KeyCache",
    "LineResult",
    "check_chunk",
    "check_lines",
    "signature_failure",
    "verify_signatures",
]
