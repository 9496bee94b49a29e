"""Integration fixtures: the real `rsp-ledger` console script in subprocesses, real SQLite files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.history import HistoryWriter
from ledger.keyfile import write_private_key
from ledger.store import Ledger
from verify.keys import Ed25519Signer

from .pg import pg_url, postgres  # noqa: F401  (fixtures: one PostgreSQL per session)

RSP_LEDGER = str(Path(sys.executable).parent / "rsp-ledger")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RSP_LEDGER")}
    full_env.update(env or {})
    p = subprocess.run(
        [RSP_LEDGER, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )
    return Result(p.returncode, p.stdout, p.stderr)


def assert_clean_error(r: Result, code: int, *fragments: str) -> None:
    """A user error: the exit code, one line on stderr, no traceback, the right words."""
    assert r.code == code, f"exit {r.code}, expected {code}; stderr: {r.err!r}"
    assert "Traceback" not in r.err, r.err
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, found {len(lines)}: {r.err!r}"
    for f in fragments:
        assert f.lower() in lines[0].lower(), f"{f!r} not in {lines[0]!r}"


@dataclass
class LedgerFixture:
    dir: Path
    url: str
    key_file: Path
    writer: HistoryWriter

    def cli(self, *args: str) -> Result:
        return run_cli(*args, "--ledger", self.url, cwd=self.dir)

    def size(self) -> int:
        with Ledger(self.url) as ledger:
            return ledger.size()

    def write(self, name: str, obj: Any) -> Path:
        path = self.dir / name
        path.write_text(json.dumps(obj))
        return path


def make_ledger(tmp_path: Path, *, asserted: bool) -> LedgerFixture:
    db = tmp_path / "ledger.db"
    url = f"sqlite:///{db}"
    key_file = Path(f"{db}.key")
    ledger_signer = Ed25519Signer.generate()
    write_private_key(key_file, ledger_signer)
    ledger = Ledger(url, signer=ledger_signer)
    start = datetime(2025, 5, 14, 9, tzinfo=UTC) if asserted else datetime.now(UTC)
    h = HistoryWriter(ledger, start, asserted=asserted)
    h.principal("alice", "ledger-admin")
    h.principal("dario", "ceo")
    h.principal("jared", "responsible-scaling-officer")
    h.principal("eve", "evaluator")
    ledger.initialize(
        h.genesis_envelope("example.org/test", "alice", asserted=asserted),
        recorded_at=h.clock if asserted else None,
    )
    h.register_all("alice")
    return LedgerFixture(tmp_path, url, key_file, h)


@pytest.fixture
def asserted_ledger(tmp_path: Path) -> LedgerFixture:
    return make_ledger(tmp_path, asserted=True)


@pytest.fixture
def system_ledger(tmp_path: Path) -> LedgerFixture:
    return make_ledger(tmp_path, asserted=False)


MakeLedger = Callable[..., LedgerFixture]
