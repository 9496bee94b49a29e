"""C2SP signed notes, checkpoints and cosignatures (SPEC §3): c2sp.org/signed-note,
c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature (Ed25519 `cosignature/v1`, type 0x04).

A note is a text ending in a newline, one blank line, then signature lines
`— <key name> base64(key id ‖ signature)`. The ledger signs checkpoints with signature type 0x01
(Ed25519 over the text); witnesses add type 0x04 lines (Ed25519 over `cosignature/v1`,
`time <ts>` and the text, the signature prefixed with the 8-byte big-endian timestamp).

Invariants:
- the text a signature covers is the exact text of the note as received, never re-serialised;
- opening a note: signatures from unknown keys (name and key id not both matching a verifier)
  are ignored; a signature from a known key that does not verify rejects the whole note; at least
  one known key must have signed;
- a key is identified by (name, key id), key id = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4];
  a vkey whose key id does not match its name and key is refused.

Edge cases decided here (docs/notes.md): a note must be valid UTF-8 of at most `MAX_NOTE_BYTES`;
no ASCII control character but newline (so no `\\r`); it ends with a newline; the text is
separated from the signatures by exactly one blank line and does not itself end with an empty
line; at least 1 and at most `MAX_SIGNATURES` (16) signature lines; base64 only in canonical form;
a signature decodes to at least 5 bytes. A Checkpoint's root is exactly 32 bytes and a size-0
checkpoint's root is the empty tree's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from domain.errors import VerificationError
from verify.errors import MalformedKeyError, SignatureError
from verify.keys import Signer, verify_signature
from verify.merkle import EMPTY_ROOT, HASH_SIZE

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 16  # C2SP signed-note: verifiers MUST accept at least 16; we accept no more.
MAX_NOTE_BYTES = 1 << 20
MAX_TIMESTAMP = (1 << 63) - 1
EM_DASH_PREFIX = "\u2014 "
COSIGNATURE_HEADER = "cosignature/v1\n"

_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_TYPE_NAMES = {SIG_ED25519: "Ed25519", SIG_COSIGNATURE_V1: "cosignature/v1"}


class MalformedNoteError(VerificationError):
    """Text is not a signed note of the form c2sp.org/signed-note, as decided in docs/notes.md."""


class UnverifiedNoteError(VerificationError):
    """A well-formed note carries no signature from any key the verifier knows."""


class MalformedCheckpointError(VerificationError):
    """A note's text is not a c2sp.org/tlog-checkpoint body, or not the expected log's."""


class CosignatureError(VerificationError):
    """Fewer known witnesses cosigned a checkpoint than the threshold requires."""


def _b64decode(text: str, what: str, error: type[VerificationError]) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise error(f"{what}: expected standard base64, found {text[:24]!r}") from e
    if base64.b64encode(raw).decode() != text:
        raise error(f"{what}: expected canonical standard base64 with padding, found {text[:24]!r}")
    return raw


def _check_name(name: str, what: str, error: type[VerificationError]) -> None:
    # c2sp.org/signed-note: non-empty, no Unicode spaces, no '+'; control characters never.
    if not name:
        raise error(f"{what}: expected a non-empty key name")
    for ch in name:
        if ch.isspace() or ch == "+" or ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise error(
                f"{what}: expected a key name without spaces, '+' or controls, found {name!r}"
            )


def note_key_id(name: str, sig_type: int, public_raw: bytes) -> bytes:
    """c2sp.org/signed-note: SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_raw).digest()[
        :4
    ]


def cosignature_message(text: bytes | str, timestamp: int) -> bytes:
    """c2sp.org/tlog-cosignature: the bytes an Ed25519 cosignature/v1 signs, `cosignature/v1`,
    `time <decimal timestamp>`, then the checkpoint's text (its signatures excluded)."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"expected a timestamp in [0, 2^63-1], found {timestamp}")
    body = text.encode("utf-8") if isinstance(text, str) else text
    return f"{COSIGNATURE_HEADER}time {timestamp}\n".encode() + body


class NoteVerifier(Protocol):
    """A known key: it recognises its (name, key id) and checks a signature over a note text."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: bytes, signature: bytes) -> None:
        """Raises `SignatureError` unless `signature` (after the key id) signs `text`."""
        ...


@dataclass(frozen=True, slots=True)
class Vkey:
    """A verifier key `name+hex(key id)+base64(type ‖ public key)`, type 0x01 or 0x04."""

    name: str
    sig_type: int
    public_raw: bytes
    key_id: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_name(self.name, "vkey", MalformedKeyError)
        if self.sig_type not in _TYPE_NAMES:
            raise MalformedKeyError(
                f"vkey {self.name}: expected signature type 0x01 or 0x04, found 0x{self.sig_type:02x}"
            )
        if len(self.public_raw) != 32:
            raise MalformedKeyError(
                f"vkey {self.name}: expected a 32-byte Ed25519 key, found {len(self.public_raw)} bytes"
            )
        object.__setattr__(self, "key_id", note_key_id(self.name, self.sig_type, self.public_raw))

    @classmethod
    def ed25519(cls, name: str, public_raw: bytes) -> Vkey:
        return cls(name, SIG_ED25519, public_raw)

    @classmethod
    def cosignature(cls, name: str, public_raw: bytes) -> Vkey:
        return cls(name, SIG_COSIGNATURE_V1, public_raw)

    @classmethod
    def parse(cls, text: str) -> Vkey:
        """Strict: 8 lowercase hex digits, canonical base64, a key id matching name and key."""
        name, sep1, rest = text.partition("+")
        hex_id, sep2, key_b64 = rest.partition("+")
        if not (sep1 and sep2):
            raise MalformedKeyError(f"expected a vkey name+keyid+key, found {text[:40]!r}")
        _check_name(name, "vkey", MalformedKeyError)
        if not _HEX_KEY_ID.fullmatch(hex_id):
            raise MalformedKeyError(
                f"vkey {name}: expected 8 lowercase hex digits, found {hex_id!r}"
            )
        material = _b64decode(key_b64, f"vkey {name}", MalformedKeyError)
        if not material:
            raise MalformedKeyError(f"vkey {name}: expected a signature type and key, found none")
        vkey = cls(name, material[0], material[1:])
        if vkey.key_id.hex() != hex_id:
            raise MalformedKeyError(
                f"vkey {name}: expected key id {vkey.key_id.hex()} for this name and key, "
                f"found {hex_id}"
            )
        return vkey

    def __str__(self) -> str:
        material = base64.b64encode(bytes([self.sig_type]) + self.public_raw).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"

    def verify(self, text: bytes, signature: bytes) -> None:
        if self.sig_type == SIG_COSIGNATURE_V1:
            timestamp = cosignature_timestamp(signature)
            message = cosignature_message(text, timestamp)
            signature = signature[8:]
        else:
            message = text
        if len(signature) != 64:
            raise SignatureError(
                f"signature by {self.label}: expected 64 Ed25519 bytes, found {len(signature)}"
            )
        try:
            verify_signature(self.public_raw, signature, message)
        except SignatureError as e:
            raise SignatureError(
                f"signature by known key {self.label} ({_TYPE_NAMES[self.sig_type]}) does not "
                "verify over the note text"
            ) from e


def parse_vkey(text: str) -> Vkey:
    return Vkey.parse(text)


def format_vkey(name: str, public_raw: bytes, sig_type: int = SIG_ED25519) -> str:
    """SPEC §3: `name+hex(key id)+base64(type ‖ public key)`; type 0x01 for the ledger key."""
    return str(Vkey(name, sig_type, public_raw))


def cosignature_timestamp(signature: bytes) -> int:
    """The timestamp of a cosignature/v1 signature (the bytes after the key id)."""
    if len(signature) != 8 + 64:
        raise SignatureError(
            f"cosignature: expected 72 bytes (timestamp ‖ Ed25519), found {len(signature)}"
        )
    timestamp = int.from_bytes(signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise SignatureError(f"cosignature: expected a timestamp below 2^63, found {timestamp}")
    return timestamp


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: the key's name and id, and the signature bytes after the id."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        encoded = base64.b64encode(self.key_id + self.signature).decode()
        return f"{EM_DASH_PREFIX}{self.name} {encoded}\n"

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"


@dataclass(frozen=True, slots=True)
class Note:
    """A note as received: its exact text, every signature line in order, and which verified.

    `verified` lists each known key's signature once; `unknown` the lines no verifier knew.
    """

    text: str
    signatures: tuple[NoteSignature, ...]
    verified: tuple[NoteSignature, ...] = ()
    unknown: tuple[NoteSignature, ...] = ()

    def to_text(self) -> str:
        return self.text + "\n" + "".join(s.line for s in self.signatures)

    def verified_by(self, key: NoteVerifier) -> bool:
        return any(s.name == key.name and s.key_id == key.key_id for s in self.verified)


def _check_text(text: str, what: str) -> None:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_NOTE_BYTES:
        raise MalformedNoteError(f"{what}: expected at most {MAX_NOTE_BYTES} bytes")
    for i, ch in enumerate(text):
        if (ord(ch) < 0x20 and ch != "\n") or 0xD800 <= ord(ch) <= 0xDFFF:
            shown = "carriage return" if ch == "\r" else f"U+{ord(ch):04X}"
            raise MalformedNoteError(
                f"{what}: expected no control characters other than newline, found {shown} "
                f"at character {i}"
            )


def _check_note_text(text: str) -> None:
    _check_text(text, "note text")
    if not text.endswith("\n"):
        raise MalformedNoteError("note text: expected it to end with a newline")
    if text == "\n" or text.endswith("\n\n"):
        raise MalformedNoteError(
            "note text: expected its last line to be non-empty (exactly one blank line separates "
            "text and signatures)"
        )


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    if not line.startswith(EM_DASH_PREFIX):
        raise MalformedNoteError(
            f"signature line {number}: expected '— <name> <base64>', found {line[:40]!r}"
        )
    name, sep, encoded = line[len(EM_DASH_PREFIX) :].partition(" ")
    if not sep or " " in encoded:
        raise MalformedNoteError(
            f"signature line {number}: expected a name and a signature separated by one space"
        )
    _check_name(name, f"signature line {number}", MalformedNoteError)
    raw = _b64decode(encoded, f"signature line {number}", MalformedNoteError)
    if len(raw) < 5:
        raise MalformedNoteError(
            f"signature line {number}: expected a key id and a signature (>= 5 bytes), "
            f"found {len(raw)} bytes"
        )
    return NoteSignature(name, raw[:4], raw[4:])


def parse_note(note: bytes | str) -> Note:
    """The structure of a note, no signature checked (`open_note` checks them)."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise MalformedNoteError(f"expected a note of at most {MAX_NOTE_BYTES} bytes")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedNoteError(f"expected UTF-8, found an invalid byte at {e.start}") from e
    _check_text(note, "note")
    if not note.endswith("\n"):
        raise MalformedNoteError("expected the note to end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("expected a blank line between the text and the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    _check_note_text(text)
    if not block:
        raise MalformedNoteError("expected at least one signature line after the blank line")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(
            f"expected at most {MAX_SIGNATURES} signature lines, found {len(lines)}"
        )
    signatures = tuple(_parse_signature_line(line, i + 1) for i, line in enumerate(lines))
    return Note(text, signatures)


def open_note(note: bytes | str, verifiers: Sequence[NoteVerifier]) -> Note:
    """Parse and verify a note: unknown keys are ignored, a known key whose signature fails
    rejects the note (`SignatureError`), and some known key must have signed
    (`UnverifiedNoteError`)."""
    parsed = parse_note(note)
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        key = (v.name, v.key_id)
        if key in known and known[key] != v:
            raise MalformedKeyError(
                f"two verifier keys share the name and key id {v.name}+{v.key_id.hex()}"
            )
        known[key] = v
    text = parsed.text.encode("utf-8")
    verified: dict[tuple[str, bytes], NoteSignature] = {}
    unknown: list[NoteSignature] = []
    for sig in parsed.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            unknown.append(sig)
            continue
        verifier.verify(text, sig.signature)
        verified.setdefault((sig.name, sig.key_id), sig)
    if not verified:
        names = ", ".join(f"{n}+{k.hex()}" for n, k in known) or "none"
        found = ", ".join(s.label for s in parsed.signatures)
        raise UnverifiedNoteError(
            f"expected a signature by a known key ({names}), found only {found}"
        )
    return Note(parsed.text, parsed.signatures, tuple(verified.values()), tuple(unknown))


def sign_note(text: str, name: str, signer: Signer) -> str:
    """A note of `text` with one Ed25519 (type 0x01) signature by `signer` under `name`."""
    _check_note_text(text)
    return text + "\n" + signature_line(text, name, signer)


def signature_line(text: str, name: str, signer: Signer) -> str:
    """`— name base64(key id ‖ Ed25519(text))` and a newline, for a note of `text`."""
    _check_name(name, "signer", MalformedKeyError)
    key_id = note_key_id(name, SIG_ED25519, signer.public_raw)
    return NoteSignature(name, key_id, signer.sign(text.encode("utf-8"))).line


def append_signatures(note: str, lines: Sequence[str]) -> str:
    """`note` with signature `lines` (each ending in a newline) added, the result well-formed."""
    result = note + "".join(lines)
    parse_note(result)
    return result


# -- checkpoints (c2sp.org/tlog-checkpoint) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin, size, root, and opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise MalformedCheckpointError(
                f"expected a non-empty one-line origin, found {self.origin!r}"
            )
        if not 0 <= self.size <= MAX_TIMESTAMP:
            raise MalformedCheckpointError(
                f"expected a tree size in [0, 2^63-1], found {self.size}"
            )
        if len(self.root) != HASH_SIZE:
            raise MalformedCheckpointError(
                f"expected a {HASH_SIZE}-byte root, found {len(self.root)} bytes"
            )
        if self.size == 0 and self.root != EMPTY_ROOT:
            raise MalformedCheckpointError(
                f"size 0: expected the empty tree's root {EMPTY_ROOT.hex()[:16]}…, "
                f"found {self.root.hex()[:16]}…"
            )
        for line in self.extensions:
            if not line or "\n" in line:
                raise MalformedCheckpointError(
                    f"expected non-empty extension lines, found {line!r}"
                )


def format_checkpoint_body(cp: Checkpoint) -> str:
    lines = [cp.origin, str(cp.size), base64.b64encode(cp.root).decode(), *cp.extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Strict: origin, decimal size without leading zeros, canonical base64 32-byte root, then
    non-empty extension lines; every line ends with a newline."""
    try:
        _check_text(text, "checkpoint")
    except MalformedNoteError as e:
        raise MalformedCheckpointError(str(e)) from e
    if not text.endswith("\n"):
        raise MalformedCheckpointError("expected the checkpoint to end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedCheckpointError(
            f"expected origin, size and root lines, found {len(lines)} line(s)"
        )
    origin, size_text, root_text, *extensions = lines
    if not _DECIMAL.fullmatch(size_text):
        raise MalformedCheckpointError(
            f"expected a decimal tree size without leading zeros, found {size_text[:24]!r}"
        )
    root = _b64decode(root_text, "checkpoint root", MalformedCheckpointError)
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, name: str, signer: Signer) -> str:
    """The checkpoint as a note signed by the ledger key (SPEC §3: key name = origin)."""
    if name != cp.origin:
        raise ValueError(
            f"SPEC §3: expected the key name to be the origin {cp.origin!r}, found {name!r}"
        )
    return sign_note(format_checkpoint_body(cp), name, signer)


def verify_checkpoint(
    note: bytes | str,
    vkey: Vkey,
    *,
    witnesses: Sequence[Vkey] = (),
    witness_threshold: int | None = None,
) -> tuple[Checkpoint, Note]:
    """Open a checkpoint signed by `vkey` (type 0x01, name = origin) and, with `witnesses`
    (type 0x04), require at least `witness_threshold` of them (default: all) to have cosigned.

    Unknown signatures are ignored; any known signature that fails rejects the checkpoint.
    """
    if vkey.sig_type != SIG_ED25519:
        raise MalformedKeyError(
            f"ledger key {vkey.label}: expected type 0x01, found 0x{vkey.sig_type:02x}"
        )
    for w in witnesses:
        if w.sig_type != SIG_COSIGNATURE_V1:
            raise MalformedKeyError(
                f"witness key {w.label}: expected type 0x04 (cosignature/v1), found 0x{w.sig_type:02x}"
            )
    threshold = len(witnesses) if witness_threshold is None else witness_threshold
    if not 0 <= threshold <= len(witnesses):
        raise ValueError(
            f"expected a witness threshold in [0, {len(witnesses)}], found {threshold}"
        )
    opened = open_note(note, [vkey, *witnesses])
    if not opened.verified_by(vkey):
        raise UnverifiedNoteError(
            f"expected a signature by the ledger key {vkey.label}, found none"
        )
    cp = parse_checkpoint_body(opened.text)
    if cp.origin != vkey.name:
        raise MalformedCheckpointError(
            f"expected origin {vkey.name!r} (the ledger key's name), found {cp.origin!r}"
        )
    cosigned = [w for w in witnesses if opened.verified_by(w)]
    if len(cosigned) < threshold:
        missing = ", ".join(w.label for w in witnesses if w not in cosigned)
        raise CosignatureError(
            f"expected cosignatures by at least {threshold} of {len(witnesses)} witnesses, "
            f"found {len(cosigned)}: missing {missing}"
        )
    return cp, opened


def cosign_checkpoint(note_or_body: str, witness_name: str, signer: Signer, timestamp: int) -> str:
    """A witness's cosignature/v1 line (ending in a newline) over a checkpoint, given as its body
    or as a signed note (whose signatures are not checked here: a witness checks them first)."""
    body = parse_note(note_or_body).text if "\n\n" in note_or_body else note_or_body
    parse_checkpoint_body(body)
    _check_name(witness_name, "witness", MalformedKeyError)
    key_id = note_key_id(witness_name, SIG_COSIGNATURE_V1, signer.public_raw)
    sig = signer.sign(cosignature_message(body, timestamp))
    return NoteSignature(witness_name, key_id, timestamp.to_bytes(8, "big") + sig).line


__all__ = [
    "COSIGNATURE_HEADER",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "Checkpoint",
    "CosignatureError",
    "MalformedCheckpointError",
    "MalformedNoteError",
    "Note",
    "NoteSignature",
    "NoteVerifier",
    "UnverifiedNoteError",
    "Vkey",
    "append_signatures",
    "cosign_checkpoint",
    "cosignature_message",
    "cosignature_timestamp",
    "format_checkpoint_body",
    "format_vkey",
    "note_key_id",
    "open_note",
    "parse_checkpoint_body",
    "parse_note",
    "parse_vkey",
    "sign_checkpoint",
    "sign_note",
    "signature_line",
    "verify_checkpoint",
]
