"""The export bundle of SPEC §6: one ZIP file, read with bounded work and written as a stream.

| member | content |
|---|---|
| `manifest.json` | the JCS bytes of the manifest (`Manifest`) |
| `manifest.sig` | the ledger key's Ed25519 signature over `manifest.json`, standard base64 |
| `entries.jsonl` | entries 0 … tree_size−1, one JCS line each, each ending in `\\n` |
| `checkpoint` | the signed checkpoint for tree_size, with any cosignatures |
| `details.jsonl` | `{"statement", "salt", "details"}` per disclosed detail; may be absent |

Invariants of the reader (a bundle is foreign bytes, possibly hostile):
- the ZIP's end record is read before `zipfile` parses the central directory, so a directory of a
  million members, or a huge one, is refused before any of it is parsed;
- only the members of the table, each once, stored or deflated, unencrypted;
- every member's declared size is within its limit and its declared compression ratio within
  `BundleLimits.max_ratio`; `zipfile` never yields more than the declared size and checks the
  CRC, so a member cannot decompress to more than what was declared and allowed;
- small members are read whole (bounded); `entries.jsonl` and `details.jsonl` are read in blocks,
  so memory does not grow with the number of entries.

The writer streams entries from any iterable and signs the manifest last, so that the ledger's
exporter, the golden-bundle script and the benchmarks all write bundles the same way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, BinaryIO

from domain.errors import VerificationError
from domain.ids import TimeFormatError, format_time, parse_time
from verify.errors import NotCanonicalError
from verify.jcs import canonical, parse_canonical
from verify.keys import Signer
from verify.note import MAX_NOTE_BYTES

BUNDLE_FORMAT = "rsp-ledger.bundle/v1"
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
ENTRIES = "entries.jsonl"
CHECKPOINT = "checkpoint"
DETAILS = "details.jsonl"
MEMBERS = (MANIFEST, MANIFEST_SIG, ENTRIES, CHECKPOINT, DETAILS)
REQUIRED_MEMBERS = (MANIFEST, MANIFEST_SIG, ENTRIES, CHECKPOINT)
# SPEC §6: `files` lists every member except the manifest and its signature.
DIGESTED_MEMBERS = (ENTRIES, CHECKPOINT, DETAILS)

_MANIFEST_FIELDS = frozenset(
    {
        "format",
        "origin",
        "tree_size",
        "root",
        "ledger_key",
        "time_source",
        "created_at",
        "redacted",
        "files",
    }
)
_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
BLOCK_BYTES = 1 << 20


class BundleError(VerificationError):
    """The bundle cannot be trusted or read; `check` names the integrity check (SPEC §8)."""

    check = "bundle.read"


class UnreadableBundleError(BundleError):
    """Not a readable ZIP: truncated, corrupt, encrypted, or an unsupported compression."""

    check = "bundle.read"


class BundleMembersError(BundleError):
    """Members missing, repeated, or not of SPEC §6's table."""

    check = "bundle.members"


class BundleLimitError(BundleError):
    """A member larger than its limit, or compressed beyond the allowed ratio (a ZIP bomb)."""

    check = "bundle.limits"


class MalformedManifestError(BundleError):
    """`manifest.json` is not the JCS form of SPEC §6's manifest object."""

    check = "manifest.format"


@dataclass(frozen=True, slots=True)
class BundleLimits:
    """Bounds on what reading a bundle may cost (docs/verifier.md)."""

    max_members: int = len(MEMBERS)
    max_central_directory_bytes: int = 64 << 10
    max_manifest_bytes: int = 64 << 10
    max_signature_bytes: int = 1 << 10
    max_checkpoint_bytes: int = MAX_NOTE_BYTES
    # entries.jsonl and details.jsonl are streamed: their bound is on time, not memory.
    max_stream_bytes: int = 1 << 40
    # Deflate reaches about 1000:1 on a run of one byte; JSON lines with signatures reach 3-5:1.
    max_ratio: float = 100.0
    ratio_applies_above_bytes: int = 1 << 20

    def member_limit(self, name: str) -> int:
        return {
            MANIFEST: self.max_manifest_bytes,
            MANIFEST_SIG: self.max_signature_bytes,
            CHECKPOINT: self.max_checkpoint_bytes,
        }.get(name, self.max_stream_bytes)


DEFAULT_LIMITS = BundleLimits()


def file_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- the manifest -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Manifest:
    """SPEC §6's manifest; `to_bytes()` is exactly the `manifest.json` that is signed."""

    origin: str
    tree_size: int
    root: bytes
    ledger_key: str
    time_source: str
    created_at: datetime
    redacted: bool
    files: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root": base64.b64encode(self.root).decode(),
            "ledger_key": self.ledger_key,
            "time_source": self.time_source,
            "created_at": format_time(self.created_at),
            "redacted": self.redacted,
            "files": dict(self.files),
        }

    def to_bytes(self) -> bytes:
        return canonical(self.to_json())


def _manifest_field(obj: dict[str, Any], name: str, kind: type, what: str) -> Any:
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedManifestError(f"manifest {name}: expected {what}, found {value!r:.60}")
    return value


def parse_manifest(data: bytes) -> Manifest:
    """The exact JCS bytes of a manifest become a `Manifest`, or `MalformedManifestError`."""
    try:
        obj = parse_canonical(data)
    except NotCanonicalError as e:
        raise MalformedManifestError(f"manifest.json: {e}") from e
    if not isinstance(obj, dict):
        raise MalformedManifestError(
            f"manifest.json: expected an object, found {type(obj).__name__}"
        )
    if set(obj) != _MANIFEST_FIELDS:
        missing = sorted(_MANIFEST_FIELDS - set(obj))
        extra = sorted(set(obj) - _MANIFEST_FIELDS)
        raise MalformedManifestError(
            f"manifest.json: expected exactly the fields of SPEC §6; missing {missing}, "
            f"unexpected {extra}"
        )
    if obj["format"] != BUNDLE_FORMAT:
        raise MalformedManifestError(
            f"manifest format: expected {BUNDLE_FORMAT!r}, found {str(obj['format'])[:60]!r}"
        )
    origin = _manifest_field(obj, "origin", str, "the log origin")
    tree_size = _manifest_field(obj, "tree_size", int, "a whole number")
    if tree_size < 1:
        raise MalformedManifestError(
            f"manifest tree_size: expected at least 1 (the genesis), found {tree_size}"
        )
    root_text = _manifest_field(obj, "root", str, "base64 of a 32-byte root")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedManifestError("manifest root: expected standard base64") from e
    if len(root) != 32 or base64.b64encode(root).decode() != root_text:
        raise MalformedManifestError(
            f"manifest root: expected canonical base64 of 32 bytes, found {len(root)} bytes"
        )
    ledger_key = _manifest_field(obj, "ledger_key", str, "a vkey")
    time_source = _manifest_field(obj, "time_source", str, '"system" or "asserted"')
    if time_source not in ("system", "asserted"):
        raise MalformedManifestError(
            f'manifest time_source: expected "system" or "asserted", found {time_source[:40]!r}'
        )
    try:
        created_at = parse_time(_manifest_field(obj, "created_at", str, "an RFC 3339 time"))
    except TimeFormatError as e:
        raise MalformedManifestError(f"manifest created_at: {e}") from e
    redacted = _manifest_field(obj, "redacted", bool, "true or false")
    files = _manifest_field(obj, "files", dict, "an object of member digests")
    for name, digest in files.items():
        if name not in DIGESTED_MEMBERS:
            raise MalformedManifestError(
                f"manifest files: expected names among {', '.join(DIGESTED_MEMBERS)}, "
                f"found {name[:60]!r}"
            )
        if not (
            isinstance(digest, str)
            and len(digest) == 71
            and digest.startswith("sha256:")
            and not digest[7:].strip("0123456789abcdef")
        ):
            raise MalformedManifestError(
                f"manifest files[{name}]: expected sha256: and 64 lowercase hex, "
                f"found {str(digest)[:80]!r}"
            )
    return Manifest(origin, tree_size, root, ledger_key, time_source, created_at, redacted, files)


def parse_manifest_signature(data: bytes) -> bytes:
    """`manifest.sig`: standard base64 of a 64-byte Ed25519 signature (one final newline allowed)."""
    text = data[:-1] if data.endswith(b"\n") else data
    try:
        sig = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedManifestError("manifest.sig: expected standard base64") from e
    if len(sig) != 64 or base64.b64encode(sig) != text:
        raise MalformedManifestError(
            f"manifest.sig: expected canonical base64 of a 64-byte signature, found {len(sig)} bytes"
        )
    return sig


# -- reading ----------------------------------------------------------------------------------


def _central_directory(f: BinaryIO, limits: BundleLimits) -> None:
    """Bound the member count and the directory's size from the end record, before `zipfile`."""
    f.seek(0, os.SEEK_END)
    size = f.tell()
    tail_len = min(size, _EOCD.size + 0xFFFF)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    pos = tail.rfind(_EOCD_SIG)
    if pos < 0 or len(tail) - pos < _EOCD.size:
        raise UnreadableBundleError(
            "not a ZIP file: expected an end of central directory record, found none "
            "(truncated or not a bundle)"
        )
    _sig, _disk, _cd_disk, _n_disk, count, cd_size, _cd_offset, _comment = _EOCD.unpack_from(
        tail, pos
    )
    if (count == 0xFFFF or cd_size == 0xFFFFFFFF) and pos >= _ZIP64_LOCATOR.size:
        loc = _ZIP64_LOCATOR.unpack_from(tail, pos - _ZIP64_LOCATOR.size)
        if loc[0] == _ZIP64_LOCATOR_SIG and loc[2] + _ZIP64_EOCD.size <= size:
            f.seek(loc[2])
            rec = f.read(_ZIP64_EOCD.size)
            if len(rec) == _ZIP64_EOCD.size and rec[:4] == _ZIP64_EOCD_SIG:
                fields = _ZIP64_EOCD.unpack(rec)
                count, cd_size = fields[7], fields[8]
    if count > limits.max_members:
        raise BundleMembersError(
            f"expected at most {limits.max_members} members, found {count} in the ZIP directory"
        )
    if cd_size > limits.max_central_directory_bytes:
        raise BundleLimitError(
            f"expected a ZIP directory of at most {limits.max_central_directory_bytes} bytes, "
            f"found {cd_size}"
        )
    f.seek(0)


def _check_members(
    infos: list[zipfile.ZipInfo], limits: BundleLimits
) -> dict[str, zipfile.ZipInfo]:
    seen: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if name in seen:
            raise BundleMembersError(f"member {name!r} appears twice: expected each member once")
        if name not in MEMBERS:
            raise BundleMembersError(
                f"unexpected member {name[:80]!r}: a bundle holds only {', '.join(MEMBERS)}"
            )
        seen[name] = info
    missing = [m for m in REQUIRED_MEMBERS if m not in seen]
    if missing:
        raise BundleMembersError(
            f"missing member {missing[0]}: expected {', '.join(REQUIRED_MEMBERS)}"
        )
    for name, info in seen.items():
        if info.flag_bits & 0x1:
            raise UnreadableBundleError(f"{name}: encrypted members are not supported")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnreadableBundleError(
                f"{name}: expected stored or deflated, found compression method {info.compress_type}"
            )
        limit = limits.member_limit(name)
        if info.file_size > limit:
            raise BundleLimitError(
                f"{name}: expected at most {limit} bytes, the ZIP declares {info.file_size}"
            )
        if (
            info.file_size > limits.ratio_applies_above_bytes
            and info.file_size > limits.max_ratio * max(info.compress_size, 1)
        ):
            raise BundleLimitError(
                f"{name}: {info.file_size} bytes compressed into {info.compress_size}, a ratio "
                f"above {limits.max_ratio:.0f}:1 (a ZIP bomb?)"
            )
    return seen


# What `zipfile` raises on corrupt input (struct.error and OverflowError from hostile numbers).
_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    NotImplementedError,
    struct.error,
    OverflowError,
)


class BundleReader:
    """A bundle opened for reading, its members checked against SPEC §6 and the limits."""

    def __init__(self, path: str | os.PathLike[str], limits: BundleLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        try:
            self._file: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise UnreadableBundleError(f"{os.fspath(path)}: cannot read: {e.strerror}") from e
        try:
            _central_directory(self._file, limits)
            self._zip = zipfile.ZipFile(self._file)
            self._infos = _check_members(self._zip.infolist(), limits)
        except BundleError:
            self._file.close()
            raise
        except (*_READ_ERRORS, OSError, ValueError) as e:
            self._file.close()
            raise UnreadableBundleError(f"not a readable ZIP file: {e}") from e

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()
        self._file.close()

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(self._infos)

    def has(self, name: str) -> bool:
        return name in self._infos

    def declared_size(self, name: str) -> int:
        return self._infos[name].file_size

    def read(self, name: str) -> bytes:
        """A small member whole (manifest, signature, checkpoint), within its limit."""
        limit = self.limits.member_limit(name)
        data = b"".join(self.blocks(name))
        if len(data) > limit:  # pragma: no cover - zipfile stops at the declared size
            raise BundleLimitError(f"{name}: expected at most {limit} bytes")
        return data

    def blocks(self, name: str, size: int = BLOCK_BYTES) -> Iterator[bytes]:
        """A member as a stream of blocks; a corrupt member raises `UnreadableBundleError`."""
        info = self._infos[name]
        try:
            with self._zip.open(info) as f:
                while block := f.read(size):
                    yield block
        except _READ_ERRORS as e:
            raise UnreadableBundleError(f"{name}: cannot be read: {e}") from e
        except OSError as e:  # pragma: no cover - a failing disk
            raise UnreadableBundleError(f"{name}: cannot be read: {e}") from e


def iter_lines(blocks: Iterable[bytes], max_line: int, what: str) -> Iterator[bytes]:
    """Lines (each with its `\\n`, the last possibly without) of a stream of blocks.

    A line longer than `max_line` raises `BundleLimitError` without being buffered further.
    """
    rest = b""
    for block in blocks:
        data = rest + block if rest else block
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            if end + 1 - start > max_line:
                raise BundleLimitError(f"{what}: expected lines of at most {max_line} bytes")
            yield data[start : end + 1]
            start = end + 1
        rest = data[start:]
        if len(rest) > max_line:
            raise BundleLimitError(f"{what}: expected lines of at most {max_line} bytes")
    if rest:
        yield rest


# -- writing ----------------------------------------------------------------------------------


class _Counting:
    """Wraps a ZIP member being written: hashes and counts what passes through."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self._hash = hashlib.sha256()
        self.lines = 0

    def write(self, data: bytes) -> None:
        self._sink.write(data)
        self._hash.update(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def write_bundle(
    out: BinaryIO,
    *,
    origin: str,
    tree_size: int,
    root: bytes,
    ledger_key: str,
    time_source: str,
    created_at: datetime,
    redacted: bool | Callable[[], bool],
    entries: Iterable[bytes],
    checkpoint: str | bytes,
    details: Iterable[bytes] | None,
    signer: Signer,
    compresslevel: int = 6,
) -> Manifest:
    """Write a bundle to `out`, streaming `entries` (leaf bytes, no newline) and `details`
    (lines ending in a newline; the member is left out when there are none).

    `redacted` may be a function, asked once entries and details are written: an exporter knows
    whether a committed detail is missing only after streaming them.

    Raises `ValueError` when the number of entries is not `tree_size`: a writer never signs a
    manifest that does not describe what it wrote.
    """
    files: dict[str, str] = {}
    with zipfile.ZipFile(
        out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
    ) as z:
        with z.open(_info(ENTRIES), "w", force_zip64=True) as member:
            sink = _Counting(member)
            for leaf in entries:
                sink.write(leaf + b"\n")
                sink.lines += 1
        if sink.lines != tree_size:
            raise ValueError(f"expected {tree_size} entries for the manifest, wrote {sink.lines}")
        files[ENTRIES] = sink.digest
        cp = checkpoint.encode("utf-8") if isinstance(checkpoint, str) else checkpoint
        z.writestr(_info(CHECKPOINT), cp)
        files[CHECKPOINT] = file_digest(cp)
        if details is not None:
            lines = iter(details)
            first = next(lines, None)
            if first is not None:
                with z.open(_info(DETAILS), "w", force_zip64=True) as member:
                    dsink = _Counting(member)
                    dsink.write(first)
                    for line in lines:
                        dsink.write(line)
                files[DETAILS] = dsink.digest
        manifest = Manifest(
            origin,
            tree_size,
            root,
            ledger_key,
            time_source,
            created_at,
            redacted() if callable(redacted) else redacted,
            files,
        )
        body = manifest.to_bytes()
        z.writestr(_info(MANIFEST), body)
        z.writestr(_info(MANIFEST_SIG), base64.b64encode(signer.sign(body)))
    return manifest


__all__ = [
    "BUNDLE_FORMAT",
    "CHECKPOINT",
    "DEFAULT_LIMITS",
    "DETAILS",
    "DIGESTED_MEMBERS",
    "ENTRIES",
    "MANIFEST",
    "MANIFEST_SIG",
    "MEMBERS",
    "BundleError",
    "BundleLimitError",
    "BundleLimits",
    "BundleMembersError",
    "BundleReader",
    "MalformedManifestError",
    "Manifest",
    "UnreadableBundleError",
    "file_digest",
    "iter_lines",
    "parse_manifest",
    "parse_manifest_signature",
    "write_bundle",
]
