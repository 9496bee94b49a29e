"""A witness (c2sp.org/tlog-witness) kept in a state directory: its key, the logs it follows, and
the latest checkpoint it cosigned for each. `verify/witness.py` decides; this module serialises,
signs and persists.

Layout of the state directory (mode 0700):

    witness.json     {"format": "rsp-ledger.witness/v1", "name", "key_file", "vkey"}
    logs/<h>.json    one log, h = hex SHA-256 of its origin: {"format": "rsp-ledger.witness-log/v1",
                     "origin", "vkey", "size", "root", "checkpoint", "cosignature", "cosigned_at"}
    logs/<h>.lock    the log's lock file (flock)
    evidence/*.txt   requests signed by a log's key that a witness refused as a split view or
                     an inconsistent tree (tlog-witness: they may prove the log misbehaved)

Invariants:
- a log's state changes only under its lock, held across read, decide (`advance_log_state`), sign
  and write: two requests for one log (threads or processes) are serialised, so neither the C2SP
  rollback race nor a lost update can happen, and at most one of two requests from the same old
  size wins;
- a state file is replaced atomically (a temporary file in the same directory, fsync, rename,
  fsync of the directory). It is written after the cosignature is made and before the cosignature
  leaves this module, and it records that cosignature: a crash leaves the old state or the new
  one, never a size the witness did not cosign;
- the witness's private key is a 0600 PKCS#8 file (ledger/keyfile.py); a wider mode is refused.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.errors import LedgerError, VerificationError
from ledger.keyfile import read_private_key, write_private_key
from verify.keys import Ed25519Signer
from verify.note import Checkpoint, Vkey, cosign_checkpoint
from verify.witness import (
    AddCheckpointRequest,
    InconsistentCheckpointError,
    LogState,
    SplitViewError,
    UnknownLogError,
    advance_log_state,
    checkpoint_origin,
)

CONFIG_FILE = "witness.json"
LOGS_DIR = "logs"
EVIDENCE_DIR = "evidence"
LOCK_TIMEOUT_S = 10.0
_LOCK_POLL_S = 0.005


class WitnessStateError(LedgerError):
    """The state directory is missing, malformed, or does not fit the request."""


class WitnessBusyError(LedgerError):
    """A log's lock was not had in time (another cosign holds it); retry."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class _ConfigFile(_Strict):
    format: Literal["rsp-ledger.witness/v1"]
    name: str
    key_file: str
    vkey: str


class _LogFile(_Strict):
    format: Literal["rsp-ledger.witness-log/v1"]
    origin: str
    vkey: str
    size: int
    root: str
    checkpoint: str | None  # the note text last cosigned (None before the first)
    cosignature: str | None  # the cosignature line made for it
    cosigned_at: int | None


@dataclass(frozen=True, slots=True)
class FollowedLog:
    """A log as the witness holds it: its state and the last cosignature it made."""

    state: LogState
    checkpoint: str | None
    cosignature: str | None
    cosigned_at: int | None

    def to_json(self) -> dict[str, object]:
        return {
            "origin": self.state.origin,
            "vkey": str(self.state.vkey),
            "size": self.state.size,
            "root": base64.b64encode(self.state.root).decode(),
            "cosigned_at": self.cosigned_at,
        }


@dataclass(frozen=True, slots=True)
class Cosignature:
    """What `Witness.add_checkpoint` answers: the cosignature line and what it covers."""

    line: str
    checkpoint: Checkpoint
    note: str  # the checkpoint text, the log's signature and `line`: the cosignature file
    timestamp: int


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _log_file_name(origin: str) -> str:
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


class Witness:
    """One witness: a name, an Ed25519 cosigning key, and a state directory."""

    def __init__(
        self, state_dir: Path, name: str, signer: Ed25519Signer, *, clock: Callable[[], float]
    ) -> None:
        self.state_dir = state_dir
        self.name = name
        self._signer = signer
        self._clock = clock
        self.vkey = Vkey.cosignature(name, signer.public_raw)

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    def init(cls, state_dir: Path, key_file: Path, name: str) -> Witness:
        """Create the state directory for a witness named `name`, with the key in `key_file`
        (created 0600 if absent; an existing one must be 0600)."""
        if (state_dir / CONFIG_FILE).exists():
            raise WitnessStateError(
                f"{state_dir}: expected a new state directory, found a witness already there"
            )
        signer = read_private_key(key_file) if key_file.exists() else None
        if signer is None:
            signer = Ed25519Signer.generate()
            write_private_key(key_file, signer)
        vkey = Vkey.cosignature(name, signer.public_raw)  # refuses a malformed name
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            (state_dir / LOGS_DIR).mkdir(mode=0o700, exist_ok=True)
        except OSError as e:
            raise WitnessStateError(f"{state_dir}: cannot create: {e.strerror}") from e
        config = _ConfigFile(
            format="rsp-ledger.witness/v1",
            name=name,
            key_file=str(key_file.resolve()),
            vkey=str(vkey),
        )
        _write_atomic(state_dir / CONFIG_FILE, config.model_dump_json(indent=2).encode() + b"\n")
        return cls(state_dir, name, signer, clock=time.time)

    @classmethod
    def open(cls, state_dir: Path, *, clock: Callable[[], float] = time.time) -> Witness:
        path = state_dir / CONFIG_FILE
        try:
            config = _ConfigFile.model_validate_json(path.read_bytes())
        except FileNotFoundError as e:
            raise WitnessStateError(
                f"{state_dir}: expected a witness state directory (run `rsp-ledger witness "
                "init`), found none"
            ) from e
        except OSError as e:
            raise WitnessStateError(f"{path}: cannot read: {e.strerror}") from e
        except ValidationError as e:
            raise WitnessStateError(
                f"{path}: expected a witness configuration: {e.errors()[0]['msg']}"
            ) from e
        signer = read_private_key(Path(config.key_file))
        witness = cls(state_dir, config.name, signer, clock=clock)
        if str(witness.vkey) != config.vkey:
            raise WitnessStateError(
                f"{config.key_file}: expected the key of {config.vkey}, found another key"
            )
        return witness

    # -- logs -------------------------------------------------------------------------------
    def _log_path(self, origin: str) -> Path:
        return self.state_dir / LOGS_DIR / f"{_log_file_name(origin)}.json"

    @contextmanager
    def _locked(self, origin: str) -> Iterator[None]:
        path = self.state_dir / LOGS_DIR / f"{_log_file_name(origin)}.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise WitnessStateError(f"{path}: cannot open the lock file: {e.strerror}") from e
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise WitnessStateError(f"{path}: cannot lock: {e.strerror}") from e
                if time.monotonic() >= deadline:
                    raise WitnessBusyError(
                        f"log {origin}: another request held its lock for {LOCK_TIMEOUT_S:g}s; "
                        "retry"
                    )
                time.sleep(_LOCK_POLL_S)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _read_log(self, origin: str) -> FollowedLog | None:
        path = self._log_path(origin)
        try:
            record = _LogFile.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as e:
            raise WitnessStateError(f"{path}: cannot read: {e.strerror}") from e
        except ValidationError as e:
            raise WitnessStateError(
                f"{path}: expected the state of log {origin}: {e.errors()[0]['msg']}"
            ) from e
        try:
            vkey = Vkey.parse(record.vkey)
            state = LogState(vkey, record.size, base64.b64decode(record.root, validate=True))
        except (VerificationError, ValueError) as e:
            raise WitnessStateError(f"{path}: state of log {origin} is corrupted: {e}") from e
        if record.origin != origin or vkey.name != origin:
            raise WitnessStateError(
                f"{path}: expected the state of log {origin}, found {record.origin}"
            )
        return FollowedLog(state, record.checkpoint, record.cosignature, record.cosigned_at)

    def _write_log(self, log: FollowedLog) -> None:
        record = _LogFile(
            format="rsp-ledger.witness-log/v1",
            origin=log.state.origin,
            vkey=str(log.state.vkey),
            size=log.state.size,
            root=base64.b64encode(log.state.root).decode(),
            checkpoint=log.checkpoint,
            cosignature=log.cosignature,
            cosigned_at=log.cosigned_at,
        )
        data = record.model_dump_json(indent=2).encode() + b"\n"
        _write_atomic(self._log_path(log.state.origin), data)

    def add_log(self, vkey: Vkey, *, rotate: bool = False) -> FollowedLog:
        """Follow the log whose checkpoints `vkey` signs (name = origin, SPEC §3), from size 0.

        Adding it again with the same key changes nothing; with another key it is refused unless
        `rotate` (the log rotated its key): then the new key replaces the old one and the state
        stays, so the rotated log must still extend what was cosigned. A witness never forgets
        what it cosigned because a key changed.
        """
        LogState(vkey)  # type 0x01 only
        with self._locked(vkey.name):
            existing = self._read_log(vkey.name)
            if existing is not None:
                if existing.state.vkey == vkey:
                    return existing
                if not rotate:
                    raise WitnessStateError(
                        f"log {vkey.name}: already followed with key {existing.state.vkey}, "
                        f"found {vkey} (after a key rotation, add it with --rotate)"
                    )
                s = existing.state
                rotated = FollowedLog(
                    LogState(vkey, s.size, s.root),
                    existing.checkpoint,
                    existing.cosignature,
                    existing.cosigned_at,
                )
                self._write_log(rotated)
                return rotated
            if rotate:
                raise WitnessStateError(f"log {vkey.name}: --rotate, but it is not followed yet")
            log = FollowedLog(LogState(vkey), None, None, None)
            self._write_log(log)
            return log

    def log(self, origin: str) -> FollowedLog:
        found = self._read_log(origin)
        if found is None:
            raise UnknownLogError(f"this witness does not follow a log with origin {origin!r}")
        return found

    def logs(self) -> list[FollowedLog]:
        out: list[FollowedLog] = []
        for path in sorted((self.state_dir / LOGS_DIR).glob("*.json")):
            try:
                origin = _LogFile.model_validate_json(path.read_bytes()).origin
            except (OSError, ValidationError) as e:
                raise WitnessStateError(f"{path}: expected the state of a log: {e}") from e
            out.append(self.log(origin))
        return out

    # -- cosigning --------------------------------------------------------------------------
    def add_checkpoint(self, request: AddCheckpointRequest) -> Cosignature:
        """tlog-witness `add-checkpoint`: cosign `request.checkpoint` if it extends what this
        witness last cosigned for its log, and record it before answering. Refusals raise a
        `WitnessRefusalError` (its `status` is the HTTP status) and change nothing."""
        origin = checkpoint_origin(request.checkpoint)
        with self._locked(origin):
            current = self.log(origin)
            try:
                decision = advance_log_state(current.state, request)
            except (SplitViewError, InconsistentCheckpointError):
                # Signed by the log's key, yet not an extension of what was cosigned: keep it,
                # as it may prove the log misbehaved (tlog-witness allows logging it).
                self._keep_evidence(request)
                raise
            timestamp = int(self._clock())
            line = cosign_checkpoint(decision.text, self.name, self._signer, timestamp)
            # Persist before the cosignature leaves (tlog-witness: "The witness MUST persist the
            # new checkpoint before responding"), under the same lock as the check.
            self._write_log(FollowedLog(decision.state, decision.text, line, timestamp))
        return Cosignature(line, decision.checkpoint, decision.cosigned_note(line), timestamp)

    def _keep_evidence(self, request: AddCheckpointRequest) -> None:
        text = request.to_text().encode("utf-8")
        folder = self.state_dir / EVIDENCE_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        name = f"{int(self._clock())}-{hashlib.sha256(text).hexdigest()[:16]}.txt"
        _write_atomic(folder / name, text)


__all__ = [
    "LOCK_TIMEOUT_S",
    "Cosignature",
    "FollowedLog",
    "Witness",
    "WitnessBusyError",
    "WitnessStateError",
]
