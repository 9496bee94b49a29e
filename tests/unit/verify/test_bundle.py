"""Reading and writing the bundle ZIP (verify/bundle.py): the manifest's exact form, and bounded
work on hostile ZIP files."""

from __future__ import annotations

import base64
import io
import struct
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from verify.bundle import (
    CHECKPOINT,
    DETAILS,
    ENTRIES,
    MANIFEST,
    MANIFEST_SIG,
    BundleLimitError,
    BundleLimits,
    BundleMembersError,
    BundleReader,
    MalformedManifestError,
    Manifest,
    UnreadableBundleError,
    file_digest,
    iter_lines,
    parse_manifest,
    parse_manifest_signature,
    write_bundle,
)
from verify.jcs import canonical
from verify.keys import Ed25519Signer

SIGNER = Ed25519Signer.generate()
WHEN = datetime(2025, 8, 1, tzinfo=UTC)
MANIFEST_OBJ = Manifest(
    "example.org/log",
    2,
    b"\x01" * 32,
    "example.org/log+00000000+AQ==",
    "system",
    WHEN,
    False,
    {ENTRIES: "sha256:" + "0" * 64, CHECKPOINT: "sha256:" + "1" * 64},
)


def zip_of(
    path: Path, members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as z:
        for name, data in members:
            z.writestr(name, data)
    return path


def minimal(tmp_path: Path, **replace: bytes) -> list[tuple[str, bytes]]:
    members = {
        MANIFEST: MANIFEST_OBJ.to_bytes(),
        MANIFEST_SIG: base64.b64encode(b"\0" * 64),
        ENTRIES: b"{}\n",
        CHECKPOINT: b"x\n",
    }
    members.update(replace)
    return list(members.items())


# -- the manifest -----------------------------------------------------------------------------


def test_manifest_round_trip_and_exact_form() -> None:
    body = MANIFEST_OBJ.to_bytes()
    assert body == canonical(MANIFEST_OBJ.to_json())
    assert parse_manifest(body) == MANIFEST_OBJ
    assert list(MANIFEST_OBJ.to_json()) == [
        "format",
        "origin",
        "tree_size",
        "root",
        "ledger_key",
        "time_source",
        "created_at",
        "redacted",
        "files",
    ]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"format": "rsp-ledger.bundle/v2"}, "format"),
        ({"tree_size": 0}, "at least 1"),
        ({"tree_size": True}, "whole number"),
        ({"root": "AAAA"}, "32 bytes"),
        ({"time_source": "ntp"}, "time_source"),
        ({"created_at": "2025-08-01T00:00:00+00:00"}, "created_at"),
        ({"redacted": "no"}, "true or false"),
        ({"files": {"notes.txt": "sha256:" + "0" * 64}}, "names among"),
        ({"files": {ENTRIES: "sha256:ABC"}}, "64 lowercase hex"),
        ({"extra": 1}, "unexpected ['extra']"),
    ],
)
def test_malformed_manifests_are_refused(change: dict[str, object], words: str) -> None:
    obj = {**MANIFEST_OBJ.to_json(), **change}
    with pytest.raises(MalformedManifestError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_manifest(canonical(obj))


def test_a_manifest_must_be_exactly_jcs() -> None:
    spaced = MANIFEST_OBJ.to_bytes().replace(b",", b", ", 1)
    with pytest.raises(MalformedManifestError, match="canonical"):
        parse_manifest(spaced)


def test_manifest_signature_text() -> None:
    sig = bytes(range(64))
    text = base64.b64encode(sig)
    assert parse_manifest_signature(text) == sig
    assert parse_manifest_signature(text + b"\n") == sig
    for bad in (text + b"\n\n", text[:-4], b" " + text, base64.b64encode(sig[:63])):
        with pytest.raises(MalformedManifestError):
            parse_manifest_signature(bad)


# -- writing ----------------------------------------------------------------------------------


def test_write_then_read(tmp_path: Path) -> None:
    out = tmp_path / "b.zip"
    with out.open("wb") as f:
        manifest = write_bundle(
            f,
            origin="example.org/log",
            tree_size=2,
            root=b"\x02" * 32,
            ledger_key="k",
            time_source="asserted",
            created_at=WHEN,
            redacted=lambda: True,
            entries=iter([b"a", b"b"]),
            checkpoint="cp\n",
            details=iter([b"d1\n"]),
            signer=SIGNER,
        )
    with BundleReader(out) as r:
        assert r.members == (ENTRIES, CHECKPOINT, DETAILS, MANIFEST, MANIFEST_SIG)
        body = r.read(MANIFEST)
        assert parse_manifest(body) == manifest
        assert manifest.redacted is True
        sig = parse_manifest_signature(r.read(MANIFEST_SIG))
        from verify.keys import verify_signature

        verify_signature(SIGNER.public_raw, sig, body)
        assert b"".join(r.blocks(ENTRIES)) == b"a\nb\n"
        assert manifest.files == {
            ENTRIES: file_digest(b"a\nb\n"),
            CHECKPOINT: file_digest(b"cp\n"),
            DETAILS: file_digest(b"d1\n"),
        }


def test_the_writer_never_signs_a_wrong_count(tmp_path: Path) -> None:
    with (tmp_path / "b.zip").open("wb") as f, pytest.raises(ValueError, match="expected 3"):
        write_bundle(
            f,
            origin="o",
            tree_size=3,
            root=b"\0" * 32,
            ledger_key="k",
            time_source="system",
            created_at=WHEN,
            redacted=False,
            entries=[b"a"],
            checkpoint="cp\n",
            details=None,
            signer=SIGNER,
        )


def test_no_details_member_when_there_are_none(tmp_path: Path) -> None:
    out = tmp_path / "b.zip"
    with out.open("wb") as f:
        m = write_bundle(
            f,
            origin="o",
            tree_size=1,
            root=b"\0" * 32,
            ledger_key="k",
            time_source="system",
            created_at=WHEN,
            redacted=False,
            entries=[b"a"],
            checkpoint="cp\n",
            details=iter([]),
            signer=SIGNER,
        )
    assert DETAILS not in m.files
    with zipfile.ZipFile(out) as z:
        assert DETAILS not in z.namelist()


# -- reading hostile ZIP files ----------------------------------------------------------------


def test_missing_extra_and_repeated_members(tmp_path: Path) -> None:
    members = minimal(tmp_path)
    with pytest.raises(BundleMembersError, match="missing member checkpoint"):
        BundleReader(zip_of(tmp_path / "a.zip", members[:-1]))
    with pytest.raises(BundleMembersError, match="unexpected member 'x/'"):
        BundleReader(zip_of(tmp_path / "b.zip", [*members[:4], ("x/", b"")]))
    with pytest.warns(UserWarning), pytest.raises(BundleMembersError, match="twice"):
        BundleReader(zip_of(tmp_path / "c.zip", [*members, (ENTRIES, b"")]))


def test_the_directory_is_bounded_before_zipfile_reads_it(tmp_path: Path) -> None:
    many = zip_of(tmp_path / "many.zip", [(f"f{i}", b"") for i in range(10_000)])
    with pytest.raises(BundleMembersError, match="at most 5 members, found 10000"):
        BundleReader(many)
    info = zipfile.ZipInfo(ENTRIES)
    info.comment = b"c" * 65_000
    huge = tmp_path / "huge.zip"
    with zipfile.ZipFile(huge, "w") as z:
        z.writestr(info, b"")
        info2 = zipfile.ZipInfo(CHECKPOINT)
        info2.comment = b"c" * 65_000
        z.writestr(info2, b"")
    with pytest.raises(BundleLimitError, match="ZIP directory of at most"):
        BundleReader(huge)


def test_not_a_zip_and_truncated(tmp_path: Path) -> None:
    with pytest.raises(UnreadableBundleError, match="cannot read"):
        BundleReader(tmp_path / "absent.zip")
    (tmp_path / "text.zip").write_bytes(b"hello")
    with pytest.raises(UnreadableBundleError, match="end of central directory"):
        BundleReader(tmp_path / "text.zip")
    whole = zip_of(tmp_path / "w.zip", minimal(tmp_path)).read_bytes()
    for cut in (len(whole) - 1, len(whole) // 2, 30):
        (tmp_path / "t.zip").write_bytes(whole[:cut])
        with pytest.raises(UnreadableBundleError):
            BundleReader(tmp_path / "t.zip")


def test_declared_sizes_and_ratios_are_bounded(tmp_path: Path) -> None:
    big_manifest = zip_of(
        tmp_path / "m.zip",
        minimal(tmp_path, **{MANIFEST: b" " * (64 << 10 | 1)}),
        zipfile.ZIP_STORED,
    )
    with pytest.raises(BundleLimitError, match=r"manifest\.json: expected at most 65536"):
        BundleReader(big_manifest)
    bomb = zip_of(tmp_path / "b.zip", minimal(tmp_path, **{ENTRIES: b"\0" * (16 << 20)}))
    with pytest.raises(BundleLimitError, match="ratio above 100:1"):
        BundleReader(bomb)


def test_a_bomb_past_the_ratio_check_still_cannot_exhaust_memory(tmp_path: Path) -> None:
    bomb = zip_of(tmp_path / "b.zip", minimal(tmp_path, **{ENTRIES: b"\0" * (64 << 20)}))
    tracemalloc.start()
    try:
        with (
            BundleReader(bomb, BundleLimits(max_ratio=1e9)) as r,
            pytest.raises(BundleLimitError, match="lines of at most"),
        ):
            for _ in iter_lines(r.blocks(ENTRIES), 1 << 20, ENTRIES):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak} bytes while refusing a 64 MiB line"


def _patch_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """Declare `size` as the uncompressed size of `name` in both headers."""
    out = bytearray(data)
    local = out.find(b"PK\x03\x04")
    while local >= 0:
        n = struct.unpack_from("<H", out, local + 26)[0]
        if out[local + 30 : local + 30 + n] == name:
            struct.pack_into("<L", out, local + 22, size)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central >= 0:
        n = struct.unpack_from("<H", out, central + 28)[0]
        if out[central + 46 : central + 46 + n] == name:
            struct.pack_into("<L", out, central + 24, size)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


def test_a_member_that_lies_about_its_size_is_cut_and_refused(tmp_path: Path) -> None:
    honest = zip_of(tmp_path / "h.zip", minimal(tmp_path, **{ENTRIES: b"{}\n" * 100_000}))
    liar = tmp_path / "l.zip"
    liar.write_bytes(_patch_sizes(honest.read_bytes(), ENTRIES.encode(), 1000))
    with BundleReader(liar, BundleLimits(max_ratio=1e9)) as r:
        assert r.declared_size(ENTRIES) == 1000
        read = 0
        with pytest.raises(UnreadableBundleError, match="CRC"):
            for block in r.blocks(ENTRIES):
                read += len(block)
        assert read <= 1000


def test_unsupported_compression_and_encryption(tmp_path: Path) -> None:
    bz = zip_of(tmp_path / "bz.zip", minimal(tmp_path), zipfile.ZIP_BZIP2)
    with pytest.raises(UnreadableBundleError, match="compression method 12"):
        BundleReader(bz)
    plain = zip_of(tmp_path / "p.zip", minimal(tmp_path), zipfile.ZIP_STORED).read_bytes()
    flagged = bytearray(plain)
    central = flagged.find(b"PK\x01\x02")
    flagged[central + 8] |= 0x01
    (tmp_path / "e.zip").write_bytes(bytes(flagged))
    with pytest.raises(UnreadableBundleError, match="encrypted"):
        BundleReader(tmp_path / "e.zip")


def test_iter_lines() -> None:
    blocks = [b"ab\ncd", b"\n", b"e", b"f\ng"]
    assert list(iter_lines(blocks, 10, "x")) == [b"ab\n", b"cd\n", b"ef\n", b"g"]
    with pytest.raises(BundleLimitError):
        list(iter_lines([b"abcdef"], 3, "x"))
    with pytest.raises(BundleLimitError):
        list(iter_lines([b"abcdef\n"], 3, "x"))
    assert list(iter_lines(io.BytesIO(b"").readlines(), 3, "x")) == []
