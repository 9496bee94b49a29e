"""`ledger/export.py`: the exporter streams (memory does not grow with the number of entries),
replaces the target atomically, and says `redacted` exactly when a committed detail is missing.

A stand-in for the store serves synthetic entries, so that a large log costs nothing to build;
the real store is exercised by tests/integration/test_verify_cli.py and the golden bundles."""

from __future__ import annotations

import base64
import json
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from ledger.export import export_bundle
from ledger.store import Ledger
from verify.bundle import parse_manifest
from verify.details import Detail, make_detail
from verify.keys import Ed25519Signer
from verify.merkle import leaf_hash, root_of
from verify.note import Checkpoint, format_vkey, sign_checkpoint

ORIGIN = "example.org/export-test"
SIGNER = Ed25519Signer.generate()


def leaf(i: int, digest: bool) -> bytes:
    statement: dict[str, Any] = {"id": f"s{i}", "type": "noncompliance_reported"}
    if digest:
        statement["details_digest"] = "sha256:" + "0" * 64
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps({"envelope": {"payload": payload}, "seq": i}).encode()


class FakeLedger:
    """What `export_bundle` reads of a `Ledger`, over synthetic entries."""

    def __init__(self, size: int, with_details: set[int], stored: set[int], fail_at: int = -1):
        self._size = size
        self.with_details = with_details
        self.stored = stored
        self.fail_at = fail_at
        self.vkey = format_vkey(ORIGIN, SIGNER.public_raw)
        self.time_source = "system"

    def size(self) -> int:
        return self._size

    def _require_signer(self) -> Ed25519Signer:
        return SIGNER

    def checkpoint(self, size: int | None = None) -> str:
        n = self._size if size is None else size
        root = root_of([leaf_hash(leaf(i, i in self.with_details)) for i in range(n)])
        return sign_checkpoint(Checkpoint(ORIGIN, n, root), ORIGIN, SIGNER)

    def raw_entries(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        for i in range(start, self._size if stop is None else stop):
            if i == self.fail_at:
                raise RuntimeError("the store failed")
            yield leaf(i, i in self.with_details)

    def detail(self, statement_id: str) -> Detail | None:
        i = int(statement_id[1:])
        return make_detail(statement_id, b"\1" * 32, {"n": i}) if i in self.stored else None


def export(fake: FakeLedger, out: Path, **kw: Any) -> Any:
    return export_bundle(cast(Ledger, fake), out, now=datetime(2025, 8, 1, tzinfo=UTC), **kw)


def peak_while_exporting(size: int, tmp_path: Path) -> int:
    fake = FakeLedger(size, set(range(0, size, 10)), set(range(0, size, 10)))
    fake.checkpoint = lambda size=None: sign_checkpoint(  # type: ignore[method-assign]
        Checkpoint(ORIGIN, fake._size, b"\0" * 32), ORIGIN, SIGNER
    )
    tracemalloc.start()
    try:
        export(fake, tmp_path / f"b{size}.zip")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_entries(tmp_path: Path) -> None:
    small = peak_while_exporting(5_000, tmp_path)
    large = peak_while_exporting(50_000, tmp_path)
    assert large < 8 << 20, f"peak {large} bytes for 50k entries"
    assert large < small * 2 + (1 << 20), (small, large)


def test_redacted_exactly_when_a_committed_detail_is_missing(tmp_path: Path) -> None:
    full = export(FakeLedger(50, {3, 7}, {3, 7}), tmp_path / "a.zip")
    assert full.manifest.redacted is False
    assert (full.details_committed, full.details_written) == (2, 2)
    erased = export(FakeLedger(50, {3, 7}, {3}), tmp_path / "b.zip")
    assert erased.manifest.redacted is True
    redacted = export(FakeLedger(50, {3, 7}, {3, 7}), tmp_path / "c.zip", redact=True)
    assert redacted.manifest.redacted is True
    assert redacted.details_written == 0
    with zipfile.ZipFile(tmp_path / "c.zip") as z:
        assert "details.jsonl" not in z.namelist()
        assert parse_manifest(z.read("manifest.json")) == redacted.manifest
    nothing = export(FakeLedger(50, set(), set()), tmp_path / "d.zip", redact=True)
    assert nothing.manifest.redacted is False  # nothing committed, nothing withheld
    with zipfile.ZipFile(tmp_path / "a.zip") as z:
        lines = z.read("details.jsonl").splitlines()
    assert [json.loads(x)["statement"] for x in lines] == ["s3", "s7"]  # in seq order


def test_a_failed_export_leaves_the_previous_file(tmp_path: Path) -> None:
    out = tmp_path / "bundle.zip"
    out.write_bytes(b"the previous bundle")
    with pytest.raises(RuntimeError, match="the store failed"):
        export(FakeLedger(100, set(), set(), fail_at=60), out)
    assert out.read_bytes() == b"the previous bundle"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.zip"]
    export(FakeLedger(100, set(), set()), out)
    with zipfile.ZipFile(out) as z:
        assert z.read("entries.jsonl").count(b"\n") == 100
