"""`rsp-ledger export` and `rsp-ledger verify` as real subprocesses on a real SQLite ledger (the
demo history): exit codes of SPEC §8, the JSON report's shape, --since, redaction and erasure,
usage errors, and progress only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ledger.keyfile import read_private_key
from ledger.store import Ledger

from .conftest import RSP_LEDGER, Result, assert_clean_error, run_cli

PYTHON = sys.executable


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    r = run_cli("demo", cwd=folder)
    assert r.code == 0, r.err
    return folder


@pytest.fixture(scope="module")
def vkey(demo: Path) -> str:
    r = run_cli("ledger-key", cwd=demo)
    assert r.code == 0, r.err
    return r.out.strip()


@pytest.fixture(scope="module")
def bundle(demo: Path) -> Path:
    r = run_cli("export", "--out", "bundle.zip", cwd=demo)
    assert r.code == 0, r.err
    return demo / "bundle.zip"


def verify(*args: str, cwd: Path) -> Result:
    return run_cli("verify", *args, cwd=cwd)


def report(r: Result) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(r.out)
    return obj


def test_export_prints_what_it_wrote(demo: Path) -> None:
    r = run_cli("export", "--out", "again.zip", "--json", cwd=demo)
    assert r.code == 0, r.err
    data = r.json()
    assert data["tree_size"] == 22
    assert data["redacted"] is False
    assert data["details_committed"] == data["details_written"] == 4
    with zipfile.ZipFile(demo / "again.zip") as z:
        assert sorted(z.namelist()) == [
            "checkpoint",
            "details.jsonl",
            "entries.jsonl",
            "manifest.json",
            "manifest.sig",
        ]
    assert not list(demo.glob(".again.zip.*")), "the temporary file was left behind"


def test_verify_human_summary(bundle: Path, vkey: str) -> None:
    r = verify(str(bundle), "--ledger-key", vkey, cwd=bundle.parent)
    assert r.code == 1, r.err
    assert r.err == ""  # not a terminal: no progress
    assert "INTEGRITY: OK" in r.out
    assert "TIMES: asserted" in r.out
    assert "REDACTED: no" in r.out
    assert "deploy-claude-demo-trusted: NONCOMPLIANT" in r.out
    assert "the capability determination was stale" in r.out
    assert "[determination.fresh]" in r.out
    assert "model claude-demo" in r.out


def test_verify_json_shape(bundle: Path, vkey: str) -> None:
    r = verify(str(bundle), "--ledger-key", vkey, "--json", cwd=bundle.parent)
    assert r.code == 1, r.err
    obj = report(r)
    assert set(obj) == {"format", "bundle", "integrity", "verdicts", "summary"}
    assert obj["format"] == "rsp-ledger.verify-report/v1"
    assert obj["bundle"]["origin"] == "anthropic.example/rsp-ledger"
    assert obj["bundle"]["tree_size"] == 22
    assert obj["bundle"]["time_source"] == "asserted"
    assert obj["integrity"] == {"ok": True, "problems": []}
    assert obj["summary"] == {
        "entries": 22,
        "compliant": 4,
        "noncompliant": 1,
        "invalidated": 0,
        "indeterminate": 0,
    }
    for v in obj["verdicts"]:
        assert set(v) == {
            "seq",
            "statement",
            "type",
            "model",
            "policy",
            "verdict",
            "failed",
            "invalidated_by",
        }
    with Ledger(f"sqlite:///{bundle.parent / 'rsp-ledger.db'}") as ledger:
        from verify.note import parse_checkpoint_body, parse_note

        root = parse_checkpoint_body(parse_note(ledger.checkpoint(22)).text).root
    import base64

    assert obj["bundle"]["root"] == base64.b64encode(root).decode()


def test_redacted_export_has_the_same_verdicts(bundle: Path, vkey: str) -> None:
    demo = bundle.parent
    assert run_cli("export", "--out", "redacted.zip", "--redact", cwd=demo).code == 0
    full = report(verify(str(bundle), "--ledger-key", vkey, "--json", cwd=demo))
    r = verify("redacted.zip", "--ledger-key", vkey, "--json", cwd=demo)
    assert r.code == 1
    red = report(r)
    assert red["bundle"]["redacted"] is True
    assert red["verdicts"] == full["verdicts"]
    human = verify("redacted.zip", "--ledger-key", vkey, cwd=demo).out
    assert "REDACTED: yes — 4 of 4 committed detail(s) withheld" in human


def test_an_erased_detail_makes_the_export_redacted(tmp_path: Path) -> None:
    r = run_cli("demo", cwd=tmp_path)
    assert r.code == 0, r.err
    db = tmp_path / "rsp-ledger.db"
    signer = read_private_key(Path(f"{db}.key"))
    with Ledger(f"sqlite:///{db}", signer=signer) as ledger:
        root_before = ledger.signed_root(22)
        assert ledger.erase_detail("finding-claude-demo-CBRN-4") is True
        assert ledger.erase_detail("finding-claude-demo-CBRN-4") is False
        assert ledger.signed_root(22) == root_before  # no proof is broken
        vkey = ledger.vkey
    assert run_cli("export", "--out", "b.zip", cwd=tmp_path).code == 0
    r = verify("b.zip", "--ledger-key", vkey, "--json", cwd=tmp_path)
    assert r.code == 1
    assert report(r)["bundle"]["redacted"] is True
    human = verify("b.zip", "--ledger-key", vkey, cwd=tmp_path).out
    assert "1 of 4 committed detail(s) withheld: finding-claude-demo-CBRN-4 (seq 11)" in human


def test_since_an_older_checkpoint(bundle: Path, vkey: str) -> None:
    demo = bundle.parent
    old = run_cli("checkpoint", "--size", "10", cwd=demo)
    assert old.code == 0, old.err
    (demo / "old.txt").write_text(old.out)
    r = verify(str(bundle), "--ledger-key", vkey, "--since", "old.txt", "--json", cwd=demo)
    assert r.code == 1, r.out
    assert report(r)["integrity"]["ok"] is True
    # An export of the log as it stood at 10 entries does not extend the checkpoint of 22.
    assert run_cli("export", "--out", "at10.zip", "--size", "10", cwd=demo).code == 0
    at10 = report(verify("at10.zip", "--ledger-key", vkey, "--json", cwd=demo))
    assert at10["bundle"]["tree_size"] == 10
    assert at10["summary"]["compliant"] == 1
    new = run_cli("checkpoint", cwd=demo)
    (demo / "new.txt").write_text(new.out)
    r = verify("at10.zip", "--ledger-key", vkey, "--since", "new.txt", "--json", cwd=demo)
    assert r.code == 3
    assert [p["check"] for p in report(r)["integrity"]["problems"]] == ["since.root"]
    assert verify("at10.zip", "--ledger-key", vkey, cwd=demo).code == 0


def test_a_changed_byte_exits_3_with_a_report(bundle: Path, vkey: str, tmp_path: Path) -> None:
    with zipfile.ZipFile(bundle) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["entries.jsonl"] = members["entries.jsonl"].replace(
        b"2025-05-14T09:05:00Z", b"2025-05-14T09:05:01Z", 1
    )
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as z:
        for n, d in members.items():
            z.writestr(n, d)
    r = verify(str(tmp_path / "t.zip"), "--ledger-key", vkey, "--json", cwd=tmp_path)
    assert r.code == 3
    obj = report(r)
    assert obj["integrity"]["ok"] is False
    assert "manifest.digest" in [p["check"] for p in obj["integrity"]["problems"]]
    assert obj["verdicts"] == []
    human = verify(str(tmp_path / "t.zip"), "--ledger-key", vkey, cwd=tmp_path)
    assert human.code == 3
    assert "INTEGRITY: FAILED" in human.out


def test_unreadable_bundles_exit_3(vkey: str, tmp_path: Path) -> None:
    r = verify("absent.zip", "--ledger-key", vkey, "--json", cwd=tmp_path)
    assert r.code == 3
    assert report(r)["integrity"]["problems"][0]["check"] == "bundle.read"
    assert report(r)["bundle"]["tree_size"] is None
    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    assert verify("junk.zip", "--ledger-key", vkey, cwd=tmp_path).code == 3


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--ledger-key", "not-a-vkey"], "--ledger-key"),
        (["--ledger-key", "{vkey}", "--witness-threshold", "1"], "needs at least one --witness"),
        (["--ledger-key", "{vkey}", "--witness", "{vkey}"], "type 0x04"),
        (["--ledger-key", "{vkey}", "--since", "absent.txt"], "--since absent.txt"),
        (["--ledger-key", "{vkey}", "--since", "bundle.zip"], "expected a signed checkpoint"),
        (["--ledger-key", "{vkey}", "--html", "no/such/dir/r.html"], "--html"),
    ],
)
def test_usage_errors_exit_2(bundle: Path, vkey: str, args: list[str], words: str) -> None:
    r = verify("bundle.zip", *[a.format(vkey=vkey) for a in args], cwd=bundle.parent)
    assert_clean_error(r, 2, words)


def test_missing_ledger_key_is_a_usage_error(bundle: Path) -> None:
    assert verify("bundle.zip", cwd=bundle.parent).code == 2


def test_witness_threshold_out_of_range(bundle: Path, vkey: str) -> None:
    from verify.keys import Ed25519Signer
    from verify.note import SIG_COSIGNATURE_V1, format_vkey

    w = format_vkey("witness.example", Ed25519Signer.generate().public_raw, SIG_COSIGNATURE_V1)
    for k in ("0", "2"):
        r = verify(
            "bundle.zip",
            "--ledger-key",
            vkey,
            "--witness",
            w,
            "--witness-threshold",
            k,
            cwd=bundle.parent,
        )
        assert_clean_error(r, 2, "from 1 to 1")
    r = verify("bundle.zip", "--ledger-key", vkey, "--witness", w, "--json", cwd=bundle.parent)
    assert r.code == 3
    assert [p["check"] for p in report(r)["integrity"]["problems"]] == ["checkpoint.witnesses"]


def test_the_vkey_may_be_given_as_a_file(bundle: Path, vkey: str) -> None:
    (bundle.parent / "ledger.vkey").write_text(vkey + "\n")
    assert verify("bundle.zip", "--ledger-key", "ledger.vkey", cwd=bundle.parent).code == 1


def test_html_report(bundle: Path, vkey: str) -> None:
    r = verify("bundle.zip", "--ledger-key", vkey, "--html", "report.html", cwd=bundle.parent)
    assert r.code == 1
    page = (bundle.parent / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "Integrity: OK" in page


def test_progress_only_on_a_terminal(bundle: Path, vkey: str) -> None:
    leader, follower = pty.openpty()
    try:
        p = subprocess.run(
            [RSP_LEDGER, "verify", str(bundle), "--ledger-key", vkey],
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=120,
            env={k: v for k, v in os.environ.items() if not k.startswith("RSP_LEDGER")},
        )
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert p.returncode == 1
    assert b"verifying entries: 22 of 22 (100%)" in seen
    assert b"verifying" not in p.stdout


def test_python_m_verify_agrees(bundle: Path, vkey: str) -> None:
    p = subprocess.run(
        [PYTHON, "-m", "verify", str(bundle), "--ledger-key", vkey, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 1, p.stderr
    cli = verify(str(bundle), "--ledger-key", vkey, "--json", cwd=bundle.parent)
    assert json.loads(p.stdout) == report(cli)
    bad = subprocess.run(
        [PYTHON, "-m", "verify", str(bundle), "--ledger-key", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ")


def test_export_refuses_a_size_beyond_the_log(demo: Path) -> None:
    r = run_cli("export", "--out", "x.zip", "--size", "23", cwd=demo)
    assert_clean_error(r, 1, "23")
    assert not (demo / "x.zip").exists()


def test_a_fault_of_the_verifier_exits_3_never_1(
    bundle: Path, vkey: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 1 means "intact, some verdict not compliant": a crash must not look like that."""
    import io

    import verify.command as command

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("simulated fault")

    monkeypatch.setattr(command, "verify_bundle", broken)
    out, err = io.StringIO(), io.StringIO()
    code = command.run(str(bundle), vkey, as_json=True, out=out, err=err)
    assert code == 3
    report = json.loads(out.getvalue())
    assert report["integrity"]["ok"] is False and report["verdicts"] == []
    assert "NOT verified" in err.getvalue()
