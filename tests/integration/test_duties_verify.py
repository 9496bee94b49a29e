"""Duties over time through the whole path: a real SQLite ledger adopts RSP 2.2, switches to the
shipped RSP 3.0 (`rsp-ledger.policy/v2`), and `rsp-ledger verify` on its export reports a Risk
Report missed by the bundle's last entry as `noncompliant`, with the duty and the deadline
(docs/rules.md "Duties"). Cut before the deadline, the same ledger's bundle is compliant."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cli.demo import load_demo_policy
from domain.ids import format_time
from ledger.history import HistoryWriter
from ledger.keyfile import write_private_key
from ledger.store import Ledger
from verify.keys import Ed25519Signer

from .conftest import run_cli

START = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def ledger_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("duties")
    db = folder / "rsp-ledger.db"
    signer = Ed25519Signer.generate()
    write_private_key(Path(f"{db}.key"), signer)
    with Ledger(f"sqlite:///{db}", signer=signer) as ledger:
        h = HistoryWriter(ledger, START)
        h.principal("alice", "ledger-admin")
        h.principal("dario", "ceo")
        h.principal("jared", "responsible-scaling-officer")
        h.principal("board-secretary", "board")
        h.principal("ltbt-secretary", "ltbt")
        ledger.initialize(
            h.genesis_envelope("duties.example/rsp-ledger", "alice"), recorded_at=h.clock
        )
        h.advance(minutes=5)
        h.register_all("alice")
        h.submit(
            "policy_adopted",
            "alice",
            id="policy-rsp-2.2",
            policy=load_demo_policy("anthropic-rsp-2.2.yaml"),
            effective_at=format_time(h.clock),
        )
        h.advance(days=30)
        # RSP 2.2 §7.1.7: the Board approves, the CEO and the RSO propose. 3.0 takes effect on
        # its own date, 2026-02-24.
        h.submit(
            "policy_adopted",
            "board-secretary",
            cosigners=["dario", "jared"],
            id="policy-rsp-3.0",
            policy=load_demo_policy("anthropic-rsp-3.0.yaml"),
            effective_at="2026-02-24T00:00:00Z",
        )
        # The first Risk Report under 3.0 is due 183 days later, by 2026-08-26. The ledger goes
        # on: a model on 2026-08-26 (the last day), another on 2026-08-27 (one day late).
        h.clock = datetime(2026, 8, 26, tzinfo=UTC)
        h.submit(
            "model_registered",
            "dario",
            id="model-a",
            model="model-a",
            name="Model A",
            parent=None,
            effective_compute=1e25,
        )
        h.clock = datetime(2026, 8, 27, tzinfo=UTC)
        h.submit(
            "model_registered",
            "dario",
            id="model-b",
            model="model-b",
            name="Model B",
            parent=None,
            effective_compute=1e25,
        )
    for size, name in (("8", "on-time.zip"), ("9", "late.zip")):
        r = run_cli("export", "--out", name, "--size", size, cwd=folder)
        assert r.code == 0, r.err
    return folder


def verify(folder: Path, bundle: str) -> tuple[int, dict[str, Any]]:
    vkey = run_cli("ledger-key", cwd=folder).out.strip()
    r = run_cli("verify", bundle, "--ledger-key", vkey, "--json", cwd=folder)
    report: dict[str, Any] = json.loads(r.out)
    return r.code, report


def test_a_bundle_ending_on_the_deadline_owes_nothing_yet(ledger_folder: Path) -> None:
    code, report = verify(ledger_folder, "on-time.zip")
    assert report["integrity"]["ok"], report["integrity"]
    assert code == 0, report["verdicts"]
    assert [v["policy"] for v in report["verdicts"]] == ["anthropic-rsp@2.2"] * 2


def test_a_bundle_ending_past_the_deadline_reports_the_missed_duty(ledger_folder: Path) -> None:
    code, report = verify(ledger_folder, "late.zip")
    assert report["integrity"]["ok"], report["integrity"]
    assert code == 1
    bad = [v for v in report["verdicts"] if v["verdict"] == "noncompliant"]
    # SPEC §8's shape: the verdict of the amendment that imposed the duty (judged under 2.2).
    assert [(v["statement"], v["type"], v["policy"]) for v in bad] == [
        ("policy-rsp-3.0", "policy_adopted", "anthropic-rsp@2.2")
    ]
    (failed,) = bad[0]["failed"]
    assert failed["rule"] == "duty.periodic"
    assert "risk-report.cadence (anthropic-rsp@3.0)" in failed["message"]
    assert "due by 2026-08-26T00:00:00Z" in failed["message"]
    assert "none was recorded by 2026-08-27T00:00:00Z" in failed["message"]
    assert report["summary"]["noncompliant"] == 1


def test_the_human_report_names_the_missed_duty(ledger_folder: Path) -> None:
    vkey = run_cli("ledger-key", cwd=ledger_folder).out.strip()
    r = run_cli("verify", "late.zip", "--ledger-key", vkey, cwd=ledger_folder)
    assert r.code == 1, r.err
    assert "duty.periodic" in r.out
    assert "policy-rsp-3.0" in r.out
