"""The C2SP witness protocol (c2sp.org/tlog-witness): a witness's view of one log, the
`add-checkpoint` request and answer formats, and the decision to cosign, with no storage and no
clock (the ledger's `ledger/witness.py` keeps the state on disk, signs and serves it).

Invariants:
- a witness's view of a log is a `LogState`: the log's key (type 0x01, name = origin, SPEC §3)
  and the latest checkpoint the witness cosigned (size and root; size 0 and the empty tree's root
  before the first);
- `advance_log_state` is the only way to a new state. It returns one only for a checkpoint signed
  by the log's key whose old size is the state's size and whose consistency proof from the state's
  tree holds; at the same size the root must be the same (a split view is refused). So a state
  only ever moves forward along one append-only tree;
- the checks run in the order tlog-witness lists them, and each refusal is a `WitnessRefusalError`
  carrying the HTTP status that the spec assigns to it (400, 403, 404, 409, 422);
- a request is parsed strictly: `old <decimal>`, at most 63 canonical base64 32-byte hashes, one
  empty line, then a signed note kept verbatim;
- on the log's side, a witness's answer is kept only where a line comes from a witness key the
  log was given and verifies over the checkpoint's text (`select_cosignatures`); lines from other
  keys are ignored, as tlog-witness says.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from domain.errors import VerificationError
from verify.errors import MalformedKeyError, SignatureError
from verify.merkle import EMPTY_ROOT, HASH_SIZE, ProofError, verify_consistency
from verify.note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    MalformedCheckpointError,
    MalformedNoteError,
    NoteSignature,
    UnverifiedNoteError,
    Vkey,
    parse_checkpoint_body,
    parse_note,
    verify_checkpoint,
)

MAX_PROOF_LINES = (
    63  # tlog-witness: "The client MUST NOT send more than 63 consistency proof lines"
)
SIZE_CONTENT_TYPE = "text/x.tlog.size"  # tlog-witness: the 409 answer with the latest size
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_OLD_LINE = re.compile(r"old (0|[1-9][0-9]*)")


class WitnessRefusalError(VerificationError):
    """The witness does not cosign; `status` is the HTTP status tlog-witness gives the reason."""

    status: ClassVar[int] = 400


class MalformedWitnessRequestError(WitnessRefusalError):
    """The request body is not `old N`, proof lines, an empty line and a signed checkpoint."""

    status = 400


class UnknownLogError(WitnessRefusalError):
    """tlog-witness: "If the checkpoint origin is unknown, the witness MUST respond with 404"."""

    status = 404


class UntrustedCheckpointError(WitnessRefusalError):
    """tlog-witness 403: no signature verifies against the key the witness trusts for the log."""

    status = 403


class OldSizeAboveCheckpointError(WitnessRefusalError):
    """tlog-witness 400: the old size is larger than the checkpoint's size (a rollback)."""

    status = 400


class StaleOldSizeError(WitnessRefusalError):
    """tlog-witness 409: the old size is not the size the witness last cosigned; the answer is
    that size (`known_size`), so the log can send a proof from it."""

    status = 409

    def __init__(self, message: str, *, known_size: int) -> None:
        super().__init__(message)
        self.known_size = known_size


class SplitViewError(WitnessRefusalError):
    """tlog-witness 409: same size as the last cosigned checkpoint, different root."""

    status = 409


class InconsistentCheckpointError(WitnessRefusalError):
    """tlog-witness 422: the consistency proof from the last cosigned tree does not verify."""

    status = 422


def _b64hash(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedWitnessRequestError(f"{what}: expected base64, found {text[:24]!r}") from e
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != text:
        raise MalformedWitnessRequestError(
            f"{what}: expected canonical base64 of a {HASH_SIZE}-byte hash, found {text[:24]!r}"
        )
    return raw


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    """The body of `POST <prefix>/add-checkpoint`: the size the log believes the witness last
    cosigned, the consistency proof from it, and the signed checkpoint (verbatim)."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: str

    def __post_init__(self) -> None:
        if self.old_size < 0:
            raise MalformedWitnessRequestError(f"expected an old size >= 0, found {self.old_size}")
        if len(self.proof) > MAX_PROOF_LINES:
            raise MalformedWitnessRequestError(
                f"expected at most {MAX_PROOF_LINES} proof hashes, found {len(self.proof)}"
            )
        for i, h in enumerate(self.proof):
            if len(h) != HASH_SIZE:
                raise MalformedWitnessRequestError(
                    f"proof hash {i + 1}: expected {HASH_SIZE} bytes, found {len(h)}"
                )

    def to_text(self) -> str:
        hashes = "".join(base64.b64encode(h).decode() + "\n" for h in self.proof)
        return f"old {self.old_size}\n{hashes}\n{self.checkpoint}"


def parse_add_checkpoint(body: bytes | str) -> AddCheckpointRequest:
    """Strict parse of an add-checkpoint body; the note's signatures are not checked here."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedWitnessRequestError(
                f"expected UTF-8, found an invalid byte at {e.start}"
            ) from e
    head, sep, note = body.partition("\n\n")
    if not sep:
        raise MalformedWitnessRequestError(
            "expected an old size line, proof lines, an empty line, then the checkpoint"
        )
    old_size, proof = parse_proof_lines(head + "\n", require_old=True)
    try:
        parse_note(note)
    except MalformedNoteError as e:
        raise MalformedWitnessRequestError(f"checkpoint: {e}") from e
    assert old_size is not None
    return AddCheckpointRequest(old_size, proof, note)


def parse_proof_lines(
    text: str, *, require_old: bool = False
) -> tuple[int | None, tuple[bytes, ...]]:
    """The head of a request: an `old <size>` line (optional unless `require_old`), then one
    base64 hash a line, as `rsp-ledger prove consistency` prints them; each line ends in a
    newline. Returns (old size or None, hashes)."""
    if text and not text.endswith("\n"):
        raise MalformedWitnessRequestError("expected every proof line to end with a newline")
    lines = text[:-1].split("\n") if text else []
    old_size: int | None = None
    if lines and lines[0].startswith("old"):
        match = _OLD_LINE.fullmatch(lines[0])
        if match is None:
            raise MalformedWitnessRequestError(
                f"expected a first line 'old <decimal size>', found {lines[0][:40]!r}"
            )
        old_size = int(match.group(1))
        lines = lines[1:]
    elif require_old:
        first = lines[0][:40] if lines else ""
        raise MalformedWitnessRequestError(
            f"expected a first line 'old <decimal size>', found {first!r}"
        )
    if len(lines) > MAX_PROOF_LINES:
        raise MalformedWitnessRequestError(
            f"expected at most {MAX_PROOF_LINES} proof lines, found {len(lines)}"
        )
    proof = tuple(_b64hash(line, f"proof line {i + 1}") for i, line in enumerate(lines))
    return old_size, proof


def checkpoint_origin(note: str) -> str:
    """The origin line of a signed checkpoint, before any signature is checked: what a witness
    looks its log up by."""
    try:
        return parse_checkpoint_body(parse_note(note).text).origin
    except (MalformedNoteError, MalformedCheckpointError) as e:
        raise MalformedWitnessRequestError(f"checkpoint: {e}") from e


@dataclass(frozen=True, slots=True)
class LogState:
    """What a witness holds for one log: its key, and the latest checkpoint it cosigned."""

    vkey: Vkey
    size: int = 0
    root: bytes = EMPTY_ROOT

    def __post_init__(self) -> None:
        if self.vkey.sig_type != SIG_ED25519:
            raise MalformedKeyError(
                f"log key {self.vkey.label}: expected type 0x01, found 0x{self.vkey.sig_type:02x}"
            )
        # Checkpoint checks size, root length and the empty tree's root at size 0.
        Checkpoint(self.vkey.name, self.size, self.root)

    @property
    def origin(self) -> str:
        return self.vkey.name


@dataclass(frozen=True, slots=True)
class CosignDecision:
    """A checkpoint the witness may cosign: its exact note text and the state after it."""

    checkpoint: Checkpoint
    text: str
    log_signature: NoteSignature  # the log key's signature, verified
    state: LogState

    def cosigned_note(self, cosignature_line: str) -> str:
        """The checkpoint with the log's signature and the witness's cosignature line."""
        return self.text + "\n" + self.log_signature.line + cosignature_line


def advance_log_state(state: LogState, request: AddCheckpointRequest) -> CosignDecision:
    """The cosign decision of tlog-witness `add-checkpoint`, in the spec's order. Raises a
    `WitnessRefusalError` naming the reason; the caller persists `state` before it answers."""
    if checkpoint_origin(request.checkpoint) != state.origin:
        raise UnknownLogError(
            f"expected a checkpoint of {state.origin!r}, found one of "
            f"{checkpoint_origin(request.checkpoint)!r}"
        )
    try:
        cp, note = verify_checkpoint(request.checkpoint, state.vkey)
    except (UnverifiedNoteError, SignatureError) as e:
        raise UntrustedCheckpointError(f"checkpoint of {state.origin}: {e}") from e
    except (MalformedNoteError, MalformedCheckpointError) as e:
        raise MalformedWitnessRequestError(f"checkpoint: {e}") from e
    if request.old_size > cp.size:
        rollback = (
            f": a rollback below size {state.size}, which this witness cosigned"
            if cp.size < state.size
            else " (a log does not shrink)"
        )
        raise OldSizeAboveCheckpointError(
            f"expected an old size at most the checkpoint's size {cp.size}, found "
            f"{request.old_size}{rollback}"
        )
    if request.old_size != state.size:
        rollback = " (the checkpoint is older: a rollback)" if cp.size < state.size else ""
        raise StaleOldSizeError(
            f"expected old size {state.size} (the latest size this witness cosigned for "
            f"{state.origin}), found {request.old_size}{rollback}",
            known_size=state.size,
        )
    # Here old size = state size <= checkpoint size.
    if cp.size == state.size and cp.root != state.root:
        raise SplitViewError(
            f"split view: {state.origin} at size {cp.size} has root "
            f"{base64.b64encode(state.root).decode()} (cosigned), this checkpoint says "
            f"{base64.b64encode(cp.root).decode()}"
        )
    try:
        verify_consistency(state.size, cp.size, request.proof, state.root, cp.root)
    except ProofError as e:
        raise InconsistentCheckpointError(
            f"consistency proof from size {state.size} (cosigned) to {cp.size} does not verify: {e}"
        ) from e
    return CosignDecision(cp, note.text, note.verified[0], LogState(state.vkey, cp.size, cp.root))


def select_cosignatures(
    checkpoint_text: str, cosigned_note: str, witnesses: Sequence[Vkey]
) -> tuple[NoteSignature, ...]:
    """The cosignatures in `cosigned_note` (a note over `checkpoint_text`) made by `witnesses`.

    Lines of other keys are ignored (tlog-witness: "The client MUST ignore any cosignatures from
    unknown keys"). A line of a given witness that does not verify refuses the whole note
    (`SignatureError`), as `open_note` would: keeping it would make every verifier that trusts
    that witness refuse the checkpoint. Each witness counts once (its first line).
    """
    for w in witnesses:
        if w.sig_type != SIG_COSIGNATURE_V1:
            raise MalformedKeyError(
                f"witness key {w.label}: expected type 0x04 (cosignature/v1), "
                f"found 0x{w.sig_type:02x}"
            )
    note = parse_note(cosigned_note)
    if note.text != checkpoint_text:
        raise MalformedCheckpointError(
            "expected cosignatures over this checkpoint, found a note over another text"
        )
    known = {(w.name, w.key_id): w for w in witnesses}
    text = checkpoint_text.encode("utf-8")
    chosen: dict[tuple[str, bytes], NoteSignature] = {}
    for sig in note.signatures:
        witness = known.get((sig.name, sig.key_id))
        if witness is None:
            continue
        witness.verify(text, sig.signature)
        chosen.setdefault((sig.name, sig.key_id), sig)
    return tuple(chosen.values())


def parse_known_size(body: bytes | str) -> int:
    """The body of a 409 `text/x.tlog.size` answer: a decimal size and a newline."""
    text = body.decode("ascii", "replace") if isinstance(body, bytes) else body
    if not text.endswith("\n") or not _DECIMAL.fullmatch(text[:-1]):
        raise MalformedWitnessRequestError(
            f"expected a decimal tree size and a newline, found {text[:24]!r}"
        )
    return int(text[:-1])


__all__ = [
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "CosignDecision",
    "InconsistentCheckpointError",
    "LogState",
    "MalformedWitnessRequestError",
    "OldSizeAboveCheckpointError",
    "SplitViewError",
    "StaleOldSizeError",
    "UnknownLogError",
    "UntrustedCheckpointError",
    "WitnessRefusalError",
    "advance_log_state",
    "checkpoint_origin",
    "parse_add_checkpoint",
    "parse_known_size",
    "parse_proof_lines",
    "select_cosignatures",
]
