"""The C2SP tlog-proof text form (c2sp.org/tlog-proof): an offline-verifiable proof that an entry
is in the log, as printed by `rsp-ledger prove inclusion`.

```
c2sp.org/tlog-proof@v1
[extra <base64>]
index <decimal>
<base64 hash>            (zero or more, leaf side first)

<the checkpoint, a signed note, verbatim>
```

Invariants:
- parsing is strict: the header exactly, `index` in decimal without leading zeros, each hash in
  canonical base64 of exactly 32 bytes, exactly one empty line, then a signed note whose text is
  a checkpoint body (signatures are checked by `verify_tlog_proof`, not by the parser);
- the checkpoint text is kept verbatim, so `format_tlog_proof(parse_tlog_proof(t)) == t`;
- `extra` is opaque and unauthenticated (the spec says so); nothing here trusts it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import VerificationError
from verify.merkle import HASH_SIZE, verify_inclusion
from verify.note import (
    Checkpoint,
    MalformedCheckpointError,
    MalformedNoteError,
    Note,
    Vkey,
    parse_checkpoint_body,
    parse_note,
    verify_checkpoint,
)

HEADER = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class MalformedTlogProofError(VerificationError):
    """Text is not a c2sp.org/tlog-proof."""


@dataclass(frozen=True, slots=True)
class TlogProof:
    """Leaf `index`, its inclusion proof in the checkpoint's tree, the signed checkpoint note."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if self.index < 0:
            raise MalformedTlogProofError(f"expected a non-negative index, found {self.index}")
        for i, h in enumerate(self.hashes):
            if len(h) != HASH_SIZE:
                raise MalformedTlogProofError(
                    f"proof hash {i}: expected {HASH_SIZE} bytes, found {len(h)}"
                )


def format_tlog_proof(proof: TlogProof) -> str:
    lines = [HEADER]
    if proof.extra is not None:
        lines.append("extra " + base64.b64encode(proof.extra).decode())
    lines.append(f"index {proof.index}")
    lines.extend(base64.b64encode(h).decode() for h in proof.hashes)
    return "\n".join(lines) + "\n\n" + proof.checkpoint


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedTlogProofError(
            f"{what}: expected standard base64, found {text[:24]!r}"
        ) from e
    if base64.b64encode(raw).decode() != text:
        raise MalformedTlogProofError(f"{what}: expected canonical standard base64 with padding")
    return raw


def parse_tlog_proof(text: bytes | str) -> TlogProof:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedTlogProofError(
                f"expected UTF-8, found an invalid byte at {e.start}"
            ) from e
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise MalformedTlogProofError("expected an empty line between the proof and the checkpoint")
    if "\r" in head:
        raise MalformedTlogProofError("expected newline line ends, found a carriage return")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise MalformedTlogProofError(
            f"expected the first line {HEADER!r}, found {lines[0][:40]!r}"
        )
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _b64(rest[0].removeprefix("extra "), "extra")
        rest = rest[1:]
    if not rest or not rest[0].startswith("index "):
        found = rest[0][:40] if rest else "nothing"
        raise MalformedTlogProofError(f"expected a line 'index <n>', found {found!r}")
    index_text = rest[0].removeprefix("index ")
    if not _DECIMAL.fullmatch(index_text):
        raise MalformedTlogProofError(
            f"expected a decimal index without leading zeros, found {index_text[:24]!r}"
        )
    hashes = tuple(_b64(line, f"proof hash {i}") for i, line in enumerate(rest[1:]))
    if checkpoint.startswith("\n"):
        raise MalformedTlogProofError("expected exactly one empty line before the checkpoint")
    try:
        parse_checkpoint_body(parse_note(checkpoint).text)
    except (MalformedNoteError, MalformedCheckpointError) as e:
        raise MalformedTlogProofError(f"checkpoint: {e}") from e
    return TlogProof(int(index_text), hashes, checkpoint, extra)


def verify_tlog_proof(
    proof: TlogProof,
    leaf: bytes,
    vkey: Vkey,
    *,
    witnesses: Sequence[Vkey] = (),
    witness_threshold: int | None = None,
) -> tuple[Checkpoint, Note]:
    """Raises unless the checkpoint verifies (see `verify_checkpoint`) and `leaf` (a leaf hash)
    is leaf `proof.index` of its tree; returns the checkpoint and its opened note."""
    cp, note = verify_checkpoint(
        proof.checkpoint, vkey, witnesses=witnesses, witness_threshold=witness_threshold
    )
    verify_inclusion(leaf, proof.index, cp.size, proof.hashes, cp.root)
    return cp, note


__all__ = [
    "HEADER",
    "MalformedTlogProofError",
    "TlogProof",
    "format_tlog_proof",
    "parse_tlog_proof",
    "verify_tlog_proof",
]
