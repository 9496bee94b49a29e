"""`rsp-ledger export`: the bundle of SPEC §6, written as a stream and renamed into place.

Invariants:
- memory does not grow with the number of entries: entries stream from the store page by page
  into the ZIP, and disclosed details are spooled to a temporary file until the entries are done;
- the file at `out_path` is either the previous one or the whole new bundle: the bundle is written
  to a temporary file in the same folder, flushed to disk, then renamed over `out_path`;
- the manifest describes exactly what was written (`verify.bundle.write_bundle` refuses otherwise)
  and is signed by the ledger key last;
- `redacted` is true exactly when some statement with a `details_digest` has no detail in the
  bundle, because of `--redact` or because the detail was erased (SPEC §6).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ledger.errors import LedgerStateError
from ledger.store import Ledger
from verify.bundle import Manifest, write_bundle
from verify.note import parse_checkpoint_body, parse_note

_DIGEST_KEY = b'"details_digest":'


@dataclass(frozen=True, slots=True)
class ExportResult:
    manifest: Manifest
    path: Path
    details_committed: int
    details_written: int

    def to_json(self) -> dict[str, object]:
        m = self.manifest
        return {
            "path": str(self.path),
            "origin": m.origin,
            "tree_size": m.tree_size,
            "root": base64.b64encode(m.root).decode(),
            "redacted": m.redacted,
            "details_committed": self.details_committed,
            "details_written": self.details_written,
            "files": dict(m.files),
        }


def _committed_detail(leaf: bytes) -> str | None:
    """The id of the statement in this (stored, trusted) entry when it commits to details."""
    try:
        payload = base64.b64decode(json.loads(leaf)["envelope"]["payload"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise LedgerStateError(f"stored entry is not an entry: {e}") from e
    if _DIGEST_KEY not in payload:
        return None
    statement = json.loads(payload)
    return statement["id"] if "details_digest" in statement else None


class _Spool:
    """Detail lines, counted, on disk until the entries are written."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.committed = 0
        self.written = 0

    def lines(self) -> Iterator[bytes]:
        self.file.seek(0)
        yield from self.file


def export_bundle(
    ledger: Ledger,
    out_path: str | os.PathLike[str],
    *,
    redact: bool = False,
    size: int | None = None,
    now: datetime | None = None,
) -> ExportResult:
    """Write the bundle of the ledger at `size` (default: now) to `out_path`, atomically."""
    out = Path(out_path)
    n = ledger.size() if size is None else size
    note = ledger.checkpoint(n)  # refuses a size out of range; signs a past size if needed
    checkpoint = parse_checkpoint_body(parse_note(note).text)
    signer = ledger._require_signer()
    created_at = (now or datetime.now(UTC)).astimezone(UTC)
    folder = out.parent if str(out.parent) else Path(".")
    with tempfile.TemporaryFile(dir=folder) as spool_file:
        spool = _Spool(spool_file)

        def entries() -> Iterator[bytes]:
            for leaf in ledger.raw_entries(0, n):
                statement_id = _committed_detail(leaf)
                if statement_id is not None:
                    spool.committed += 1
                    detail = None if redact else ledger.detail(statement_id)
                    if detail is not None:
                        spool_file.write(detail.line())
                        spool.written += 1
                yield leaf

        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w+b") as f:
                manifest = write_bundle(
                    f,
                    origin=checkpoint.origin,
                    tree_size=n,
                    root=checkpoint.root,
                    ledger_key=ledger.vkey,
                    time_source=ledger.time_source,
                    created_at=created_at,
                    # Known once the entries are streamed (module docstring).
                    redacted=lambda: spool.written < spool.committed,
                    entries=entries(),
                    checkpoint=note,
                    details=spool.lines(),
                    signer=signer,
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return ExportResult(manifest, out, spool.committed, spool.written)
