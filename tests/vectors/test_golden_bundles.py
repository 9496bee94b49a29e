"""The golden bundles of tests/vectors/bundles/ (made by make_bundles.py): every way of tampering
with a bundle exits 3 and names the check that caught it; the valid demo bundle exits 1 (it holds
one noncompliant decision), and its redacted twin gets exactly the same verdicts (SPEC §7)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from verify.command import run

from .bundles.make_bundles import make_all

BUNDLES = Path(__file__).resolve().parent / "bundles"
EXPECTED: dict[str, dict[str, Any]] = json.loads((BUNDLES / "expected.json").read_text())
VKEY = (BUNDLES / "ledger.vkey").read_text().strip()
TAMPERED = sorted(name for name, e in EXPECTED.items() if e["exit"] == 3)


def verify(name: str, *extra: str) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    since = EXPECTED[name].get("since")
    code = run(
        str(BUNDLES / name),
        VKEY,
        as_json=True,
        since=str(BUNDLES / since) if since else None,
        out=out,
        err=err,
    )
    assert err.getvalue() == "", err.getvalue()
    report: dict[str, Any] = json.loads(out.getvalue())
    return code, report


def test_every_bundle_in_the_folder_has_an_expectation() -> None:
    on_disk = {p.name for p in BUNDLES.glob("*.zip")}
    assert on_disk == set(EXPECTED)
    # The list of tampering, each present under its name.
    for name in (
        "payload_byte_changed.zip",
        "recorded_at_changed.zip",
        "entries_swapped.zip",
        "entry_dropped_middle.zip",
        "entry_dropped_end_old_checkpoint.zip",
        "entry_inserted.zip",
        "checkpoint_forged.zip",
        "checkpoint_other_key.zip",
        "manifest_tampered.zip",
        "manifest_signature_tampered.zip",
        "file_digest_mismatch.zip",
        "signed_by_unregistered_key.zip",
        "signed_by_revoked_key.zip",
        "principal_registered_by_non_admin.zip",
        "duplicate_statement_id.zip",
        "genesis_missing.zip",
        "detail_digest_mismatch.zip",
        "zip_truncated.zip",
        "zip_extra_member.zip",
        "zip_duplicate_member.zip",
        "member_bomb.zip",
    ):
        assert EXPECTED[name]["exit"] == 3, name


@pytest.mark.parametrize("name", TAMPERED)
def test_tampered_bundle_exits_3_naming_its_check(name: str) -> None:
    code, report = verify(name)
    assert code == 3
    assert report["integrity"]["ok"] is False
    problems = [(p["check"], p["seq"]) for p in report["integrity"]["problems"]]
    want = (EXPECTED[name]["check"], EXPECTED[name]["seq"])
    assert want in problems, f"{name}: expected {want} among {problems}"
    # SPEC §5, §8: an integrity failure gets no verdicts, and a summary of zeros.
    assert report["verdicts"] == []
    summary = report["summary"]
    assert [summary[k] for k in ("compliant", "noncompliant", "invalidated", "indeterminate")] == [
        0,
        0,
        0,
        0,
    ]


def test_the_valid_bundle_is_intact_with_one_noncompliant_decision() -> None:
    code, report = verify("valid.zip")
    assert code == 1
    assert report["integrity"] == {"ok": True, "problems": []}
    assert report["bundle"]["tree_size"] == 22
    assert report["bundle"]["redacted"] is False
    assert report["bundle"]["time_source"] == "asserted"
    assert report["summary"] == {
        "entries": 22,
        "compliant": 4,
        "noncompliant": 1,
        "invalidated": 0,
        "indeterminate": 0,
    }
    bad = [v for v in report["verdicts"] if v["verdict"] != "compliant"]
    assert [(v["statement"], [f["rule"] for f in v["failed"]]) for v in bad] == [
        ("deploy-claude-demo-trusted", ["determination.fresh"])
    ]
    assert {v["policy"] for v in report["verdicts"]} == {"anthropic-rsp@2.2"}


def test_the_redacted_twin_has_the_same_verdicts() -> None:
    code, full = verify("valid.zip")
    code_redacted, redacted = verify("valid_redacted.zip")
    assert code == code_redacted == 1
    assert redacted["integrity"]["ok"] is True
    assert redacted["bundle"]["redacted"] is True
    assert full["bundle"]["root"] == redacted["bundle"]["root"]
    assert redacted["verdicts"] == full["verdicts"]
    assert redacted["summary"] == full["summary"]
    with zipfile.ZipFile(BUNDLES / "valid_redacted.zip") as z:
        assert "details.jsonl" not in z.namelist()


def test_the_older_checkpoint_accepts_the_full_bundle() -> None:
    # The same --since that exposes entry_dropped_from_end.zip holds for the genuine bundle.
    out = io.StringIO()
    code = run(
        str(BUNDLES / "valid.zip"),
        VKEY,
        as_json=True,
        since=str(BUNDLES / "checkpoint_22.txt"),
        out=out,
        err=io.StringIO(),
    )
    assert code == 1
    assert json.loads(out.getvalue())["integrity"]["ok"] is True


def _contents(path: Path) -> object:
    try:
        with zipfile.ZipFile(path) as z:
            return [(i.filename, z.read(i)) for i in z.infolist()]
    except zipfile.BadZipFile:
        return None


def test_make_bundles_reproduces_the_committed_files(tmp_path: Path) -> None:
    expected = make_all(tmp_path)
    assert expected == EXPECTED
    for name in EXPECTED:
        if name == "zip_truncated.zip":
            # A prefix of the committed valid bundle; the deflate bytes depend on zlib.
            assert (BUNDLES / "valid.zip").read_bytes().startswith((BUNDLES / name).read_bytes())
            continue
        assert _contents(tmp_path / name) == _contents(BUNDLES / name), name
    for name in ("ledger.vkey", "checkpoint_22.txt"):
        assert (tmp_path / name).read_bytes() == (BUNDLES / name).read_bytes()
