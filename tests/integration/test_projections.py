"""The per-model ASL state read model against real ledgers: real SQLite files and a real
PostgreSQL, the real `rsp-ledger` in subprocesses, processes killed with SIGKILL.

- the status, timeline and projections commands on a realistic history, and time travel;
- random valid histories signed and submitted to a real store: the projection maintained at
  random points equals a fresh rebuild and the compliance engine (the verdicts, levels and
  deployments);
- a writer killed at random moments loses nothing: the next read catches up;
- two follower processes on one database never apply an entry twice;
- dropping the tables and rebuilding gives byte-identical `status --json`;
- on PostgreSQL a follower is woken by the subscription, not by polling.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.state import LedgerEntrySource
from domain.compliance import judge
from domain.ids import format_time
from ledger.history import HistoryWriter
from ledger.keyfile import write_private_key
from ledger.store import Ledger
from projections.projection import StateProjection
from tests.scenarios.kit import POLICY_V1
from tests.unit.projections.random_logs import actions, play_signed
from tests.unit.projections.test_projection import check_against_engine
from verify.dsse import add_signature, envelope_for_statement, parse_envelope
from verify.keys import Ed25519Signer, encode_public_key

from .conftest import RSP_LEDGER, LedgerFixture, run_cli

WORKER = Path(__file__).with_name("projection_worker.py")


# -- a realistic history --------------------------------------------------------------------


def build_history(h: HistoryWriter) -> dict[str, str]:
    """m1: findings, an ASL-3 determination, safeguards, notification and a deployment; then it
    grows past 4× and a second deployment rests on the stale determination. Returns the times
    worth travelling to."""
    times: dict[str, str] = {}
    h.submit(
        "policy_adopted",
        "alice",
        id="policy-1",
        policy=POLICY_V1,
        effective_at=format_time(h.clock),
    )
    h.advance(hours=1)
    h.submit(
        "model_registered",
        "eve",
        id="model-m1",
        model="m1",
        name="Model m1",
        parent=None,
        effective_compute=1e25,
    )
    h.advance(days=1)
    for threshold, outcome in (
        ("CBRN-3", "crossed"),
        ("AI-RD-4", "ruled_out"),
        ("CBRN-4", "ruled_out"),
    ):
        h.submit(
            "capability_finding",
            "eve",
            id=f"f-{threshold}",
            model="m1",
            threshold=threshold,
            assessment="comprehensive",
            outcome=outcome,
            effective_compute=1e25,
            evaluations=[],
        )
    h.advance(days=1)
    h.submit(
        "capability_determination",
        "jared",
        cosigners=["dario"],
        id="det-1",
        model="m1",
        findings=["f-CBRN-3", "f-AI-RD-4", "f-CBRN-4"],
        required={"deployment": "ASL-3", "security": "ASL-3"},
    )
    h.advance(days=1)
    until = format_time(h.clock + timedelta(days=40))
    h.submit(
        "safeguard_attestation",
        "eve",
        id="att-dep",
        standard="ASL-3",
        part="deployment",
        controls=POLICY_V1["standards"]["ASL-3"]["deployment"],
        model=None,
        scopes=["internal", "trusted", "external"],
        valid_until=until,
    )
    h.submit(
        "safeguard_attestation",
        "eve",
        id="att-sec",
        standard="ASL-3",
        part="security",
        controls=POLICY_V1["standards"]["ASL-3"]["security"],
        model=None,
        scopes=[],
        valid_until=until,
    )
    h.submit(
        "safeguards_determination",
        "jared",
        cosigners=["dario"],
        id="sd-1",
        standard="ASL-3",
        model=None,
        attestations=["att-dep", "att-sec"],
        valid_until=until,
    )
    times["before_deploy"] = format_time(h.clock)
    h.advance(days=1)
    h.submit(
        "governance_notified", "jared", id="notify-1", regarding="det-1", bodies=["board", "ltbt"]
    )
    h.submit(
        "deployment_decision",
        "dario",
        cosigners=["jared"],
        id="dec-1",
        model="m1",
        action="deploy",
        scope="external",
        determination="det-1",
        safeguards=["sd-1"],
    )
    times["deployed"] = format_time(h.clock)
    h.advance(days=20)
    h.submit("compute_measured", "eve", id="cm-1", model="m1", effective_compute=5e25)
    h.submit(
        "deployment_decision",
        "dario",
        cosigners=["jared"],
        id="dec-2",
        model="m1",
        action="deploy",
        scope="trusted",
        determination="det-1",
        safeguards=["sd-1"],
    )
    times["end"] = format_time(h.clock)
    return times


@pytest.fixture
def history(asserted_ledger: LedgerFixture) -> tuple[LedgerFixture, dict[str, str]]:
    return asserted_ledger, build_history(asserted_ledger.writer)


def test_status_timeline_and_time_travel(history: tuple[LedgerFixture, dict[str, str]]) -> None:
    fx, times = history
    lag = fx.cli("projections", "status", "--json").json()
    assert lag["position"] == -1 and lag["lag"] == fx.size()  # nothing has read it yet
    doc = fx.cli("status", "--json").json()
    assert doc["as_of"] == times["end"]  # an asserted ledger's present: its last entry
    (m1,) = doc["models"]
    assert m1["freshness"]["fresh"] is False
    assert "≥ 4 × 1e25" in m1["freshness"]["reasons"][0]
    assert {d["scope"]: (d["decision"], d["verdict"]) for d in m1["deployments"]} == {
        "external": ("dec-1", "compliant"),
        "trusted": ("dec-2", "noncompliant"),
    }
    # sd-1 (40 days from day 3) expires within 30 days of day 24.
    kinds = sorted(o["kind"] for o in m1["obligations"])
    assert kinds == ["reassessment", "safeguards_expiring"]
    assert doc["organisation"]["policy_in_force"]["policy"] == "test-rsp@1"
    assert fx.cli("projections", "status", "--json").json()["caught_up"] is True

    before = fx.cli("status", "m1", "--as-of", times["before_deploy"], "--json").json()
    (then,) = before["models"]
    assert then["deployments"] == []
    assert then["freshness"]["fresh"] is True
    assert then["freshness"]["summary"] == (
        "fresh until 2025-11-14, or until effective compute reaches 4.0× 1e25"
    )
    assert [o["kind"] for o in then["obligations"]] == ["notification"]
    deployed = fx.cli("status", "m1", "--as-of", times["deployed"], "--json").json()
    assert [d["decision"] for d in deployed["models"][0]["deployments"]] == ["dec-1"]
    assert deployed["models"][0]["obligations"] == []

    events = fx.cli("timeline", "m1", "--json").json()["events"]
    assert [e["statement"] for e in events if e["scope"] == "model"] == [
        "model-m1",
        "f-CBRN-3",
        "f-AI-RD-4",
        "f-CBRN-4",
        "det-1",
        "notify-1",
        "dec-1",
        "cm-1",
        "dec-2",
    ]
    assert {e["policy"] for e in events} == {"test-rsp@1"}
    assert [e["verdict"] for e in events if e["statement"].startswith("dec")] == [
        "compliant",
        "noncompliant",
    ]
    human = fx.cli("status", "m1")
    assert human.code == 0
    assert "deployed to trusted under dec-2 (noncompliant)" in human.out
    assert fx.cli("timeline", "m1").out.count("\n") == len(events)


def test_status_json_is_byte_identical_after_dropping_the_tables(
    history: tuple[LedgerFixture, dict[str, str]],
) -> None:
    fx, times = history
    first = fx.cli("status", "--json")
    assert first.code == 0
    # From the log itself, as of the present: the same bytes as from the tables.
    assert fx.cli("status", "--as-of", times["end"], "--json").out == first.out
    assert fx.cli("projections", "rebuild", "--json").json()["mode"] == "full"
    assert fx.cli("status", "--json").out == first.out
    db = sqlite3.connect(fx.dir / "ledger.db")
    tables = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'rsp_proj_%'"
        )
    ]
    assert len(tables) == 8
    for name in tables:
        db.execute(f"DROP TABLE {name}")
    db.commit()
    db.close()
    assert fx.cli("status", "--json").out == first.out  # rebuilt on read
    assert fx.cli("timeline", "m1", "--json").code == 0


def test_a_service_url_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    r = run_cli("projections", "rebuild", "--ledger", "http://127.0.0.1:9/", cwd=tmp_path)
    assert r.code == 2 and "ledger's database" in r.err


# -- random histories in a real store ------------------------------------------------------------


class RealKeys:
    def __init__(self) -> None:
        self.signers: dict[str, Ed25519Signer] = {}

    def signer(self, name: str) -> Ed25519Signer:
        if name not in self.signers:
            self.signers[name] = Ed25519Signer.generate()
        return self.signers[name]

    def public_key(self, name: str) -> str:
        return encode_public_key(self.signer(name).public_raw)

    def kid(self, name: str) -> str:
        return self.signer(name).key_id


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(acts=actions(30), catch_ups=st.lists(st.integers(0, 40), max_size=6))
def test_random_histories_in_a_real_store(
    tmp_path_factory: pytest.TempPathFactory, acts: Any, catch_ups: list[int]
) -> None:
    keys = RealKeys()
    records, signers = play_signed(acts, keys)
    folder = tmp_path_factory.mktemp("random")
    url = f"sqlite:///{folder / 'ledger.db'}"
    with Ledger(url, signer=Ed25519Signer.generate()) as ledger:
        projection = StateProjection(ledger.engine, LedgerEntrySource(ledger))
        for i, (record, names) in enumerate(zip(records, signers, strict=True)):
            statement = record.statement.model_dump(mode="json", exclude_unset=True)
            envelope = parse_envelope(envelope_for_statement(statement, keys.signer(names[0])))
            for name in names[1:]:
                envelope = add_signature(envelope, keys.signer(name))
            if i == 0:
                ledger.initialize(envelope, recorded_at=record.recorded_at)
            else:
                ledger.submit(envelope, recorded_at=record.recorded_at)
            if i in catch_ups:
                projection.catch_up()
        stored = [e.record() for e in ledger.entries()]
        assert [r.statement for r in stored] == [r.statement for r in records]
        t = records[-1].recorded_at
        doc = projection.status(t)
        check_against_engine(doc, stored)
        incremental = projection.table_dump()
        projection.rebuild()
        assert projection.table_dump() == incremental
        assert projection.status(t) == doc == projection.status_as_of(t)
        assert [v.to_json() for v in judge(stored)] == sorted(
            [v for m in [doc["organisation"], *doc["models"]] for v in m["verdicts"]],
            key=lambda v: v["seq"],
        )


# -- crashes and concurrent runners ---------------------------------------------------------------


def prepare(fx: LedgerFixture) -> Path:
    """The test policy and two models, and the principals' keys on disk for worker processes."""
    h = fx.writer
    h.submit(
        "policy_adopted",
        "alice",
        id="policy-1",
        policy=POLICY_V1,
        effective_at=format_time(h.clock),
    )
    for m in ("m1", "m2"):
        h.submit(
            "model_registered",
            "eve",
            id=f"model-{m}",
            model=m,
            name=m,
            parent=None,
            effective_compute=1e25,
        )
    keys = fx.dir / "keys"
    h.save_keys(keys)
    return keys


def test_a_writer_killed_at_random_moments_loses_nothing(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    keys = prepare(fx)
    rng = random.Random(5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSP_LEDGER")}
    appended = 0
    for round_ in range(6):
        p = subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                fx.url,
                str(fx.key_file),
                str(keys / "eve.pem"),
                str(round_),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=Path(__file__).parents[2],
        )
        lines: list[str] = []
        reader = threading.Thread(target=lines.extend, args=(p.stdout,))
        reader.start()
        deadline = time.monotonic() + 60
        while "appended\n" not in lines and time.monotonic() < deadline:
            time.sleep(0.01)
        # Once it is appending: somewhere in an append, a catch-up, or between the two.
        time.sleep(rng.uniform(0.0, 0.6))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        reader.join(timeout=30)
        appended += lines.count("appended\n")
    assert appended >= 6
    size = fx.size()
    # The projection may be behind or mid-way: the next read catches up, with nothing lost.
    doc = fx.cli("status", "--json")
    assert doc.code == 0, doc.err
    assert doc.json()["log"]["entries"] == size
    with Ledger(fx.url) as ledger:
        projection = StateProjection(ledger.engine, LedgerEntrySource(ledger))
        caught_up = projection.table_dump()
        check_against_engine(doc.json(), [e.record() for e in ledger.entries()])
        projection.rebuild()
        assert projection.table_dump() == caught_up
    assert fx.cli("status", "--json").out == doc.out


_APPLIED = re.compile(r"applied seq (\d+)\.\.(\d+)")


def _followers(url: str, cwd: Path, n: int) -> list[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSP_LEDGER")}
    return [
        subprocess.Popen(
            [RSP_LEDGER, "projections", "follow", "--poll", "0.05", "--ledger", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        for _ in range(n)
    ]


def _stop(followers: list[subprocess.Popen[str]]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for p in followers:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        ranges += [(int(a), int(b)) for a, b in _APPLIED.findall(out)]
    return sorted(ranges)


def _wait_caught_up(projection: StateProjection, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        lag = projection.lag()
        if lag.lag == 0 and lag.version is not None:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not caught up after {timeout} s: {projection.lag().to_json()}")


def _append(h: HistoryWriter, n: int) -> None:
    for i in range(n):
        h.advance(minutes=1)
        h.submit(
            "compute_measured",
            "eve",
            model=("m1", "m2")[i % 2],
            effective_compute=1e25 * (1 + i / 100),
        )
        time.sleep(0.01)


def test_two_followers_never_apply_an_entry_twice(asserted_ledger: LedgerFixture) -> None:
    fx = asserted_ledger
    prepare(fx)
    followers = _followers(fx.url, fx.dir, 2)
    time.sleep(1.0)
    _append(fx.writer, 40)
    with Ledger(fx.url) as ledger:
        projection = StateProjection(ledger.engine, LedgerEntrySource(ledger))
        _wait_caught_up(projection, 60)
        ranges = _stop(followers)
        seqs = [s for a, b in ranges for s in range(a, b + 1)]
        assert sorted(seqs) == list(range(ledger.size())), ranges  # each entry exactly once
        caught_up = projection.table_dump()
        projection.rebuild()
        assert projection.table_dump() == caught_up


@pytest.mark.postgres
def test_postgresql_follower_is_woken_by_the_subscription(pg_url: str, tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    write_private_key(tmp_path / "ledger.key", signer)
    ledger = Ledger(pg_url, signer=signer)
    fx = make_ledger_on(ledger, tmp_path, pg_url)
    prepare(fx)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSP_LEDGER")}
    # Polling every 60 s: only a notification can wake it in time.
    follower = subprocess.Popen(
        [RSP_LEDGER, "projections", "follow", "--poll", "60", "--ledger", pg_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        projection = StateProjection(ledger.engine, LedgerEntrySource(ledger))
        _wait_caught_up(projection, 60)
        time.sleep(0.5)
        _append(fx.writer, 5)
        waited = _wait_caught_up(projection, 20)
        assert waited < 20
    finally:
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert _APPLIED.findall(out)
    caught_up = projection.table_dump()
    projection.rebuild()
    assert projection.table_dump() == caught_up
    doc = run_cli("status", "m1", "--json", "--ledger", pg_url, cwd=tmp_path)
    assert doc.code == 0, doc.err
    assert doc.json()["models"][0]["effective_compute"]["greatest"] > 1e25
    ledger.close()


def make_ledger_on(ledger: Ledger, folder: Path, url: str) -> LedgerFixture:
    """`make_ledger`'s principals and genesis on an already open ledger (PostgreSQL)."""
    from datetime import UTC, datetime

    h = HistoryWriter(ledger, datetime(2025, 5, 14, 9, tzinfo=UTC), asserted=True)
    h.principal("alice", "ledger-admin")
    h.principal("dario", "ceo")
    h.principal("jared", "responsible-scaling-officer")
    h.principal("eve", "evaluator")
    ledger.initialize(h.genesis_envelope("example.org/test", "alice"), recorded_at=h.clock)
    h.register_all("alice")
    return LedgerFixture(folder, url, folder / "ledger.key", h)
