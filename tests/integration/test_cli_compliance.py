"""`verdicts`, `check` and `submit`'s warning on the demo history, as real subprocesses.

The ledger records a decision that breaks the policy (SPEC §2) and warns; `check` gives the same
verdict without recording anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.demo import build_demo_history, load_demo_policy
from domain.ids import format_time
from ledger.history import HistoryWriter
from ledger.keyfile import write_private_key
from ledger.store import Ledger
from verify.keys import Ed25519Signer

from .conftest import run_cli


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, HistoryWriter]:
    db = tmp_path / "rsp-ledger.db"
    signer = Ed25519Signer.generate()
    write_private_key(Path(f"{db}.key"), signer)
    with Ledger(f"sqlite:///{db}", signer=signer) as ledger:
        h = build_demo_history(ledger, load_demo_policy())
    return tmp_path, h


def test_verdicts_report_has_the_shape_of_spec_8(demo: tuple[Path, HistoryWriter]) -> None:
    folder, _ = demo
    r = run_cli("verdicts", "--json", cwd=folder)
    assert r.code == 1, r.err  # one decision is not compliant
    data = r.json()
    assert set(data) == {"format", "bundle", "integrity", "verdicts", "summary"}
    assert data["summary"] == {
        "entries": 22,
        "compliant": 4,
        "noncompliant": 1,
        "invalidated": 0,
        "indeterminate": 0,
    }
    bad = [v for v in data["verdicts"] if v["verdict"] == "noncompliant"]
    assert [v["statement"] for v in bad] == ["deploy-claude-demo-trusted"]
    assert [f["rule"] for f in bad[0]["failed"]] == ["determination.fresh"]
    assert bad[0]["policy"] == "anthropic-rsp@2.2"


def test_check_is_a_dry_run_and_submit_warns(demo: tuple[Path, HistoryWriter]) -> None:
    folder, h = demo
    h.advance(days=1)
    st = h.statement(
        "deployment_decision",
        "dario",
        id="deploy-claude-demo-internal",
        model="claude-demo",
        action="deploy",
        scope="internal",
        determination="determination-claude-demo-1",
        safeguards=["safeguards-asl3"],
    )
    path = folder / "decision.json"
    path.write_text(json.dumps(h.envelope(st, ["dario", "jared"]).to_json()))
    at = format_time(h.clock)
    checked = run_cli("check", str(path), "--recorded-at", at, "--json", cwd=folder)
    assert checked.code == 1, checked.err
    assert checked.json()["verdict"] == "noncompliant"
    assert "determination.fresh" in [f["rule"] for f in checked.json()["failed"]]
    assert run_cli("log", "--json", cwd=folder).json()["size"] == 22  # nothing recorded

    submitted = run_cli("submit", str(path), "--recorded-at", at, "--json", cwd=folder)
    assert submitted.code == 0, submitted.err
    assert submitted.json()["seq"] == 22
    assert submitted.json()["compliance"]["verdict"] == "noncompliant"
    assert "warning: recorded, but deployment_decision" in submitted.err
    assert "determination.fresh" in submitted.err


def test_check_of_an_unjudged_statement(demo: tuple[Path, HistoryWriter]) -> None:
    folder, h = demo
    st = h.statement("noncompliance_reported", "jared", regarding=None, summary="drill")
    path = folder / "nc.json"

    path.write_text(json.dumps(h.envelope(st, ["jared"]).to_json()))
    r = run_cli("check", str(path), "--recorded-at", format_time(h.advance(days=1)), cwd=folder)
    assert r.code == 0 and "not judged" in r.out
