"""SIGKILL a writer at random moments; nothing acknowledged is lost, nothing partial remains.

`make test` runs a short campaign; `make reliability` sets RELIABILITY_KILLS=200 (issue 9)."""

from __future__ import annotations

import os
from pathlib import Path

from .harness import campaign

KILLS = int(os.environ.get("RELIABILITY_KILLS", "8"))


def test_sqlite_survives_sigkill(tmp_path: Path) -> None:
    report = campaign(tmp_path, f"sqlite:///{tmp_path / 'crash.db'}", KILLS)
    print(report.line("SQLite"))
    assert report.problems == []
    assert report.lost == 0
    assert report.kills == KILLS and report.acknowledged > 0


def test_postgres_survives_sigkill(tmp_path: Path, pg_url: str) -> None:
    report = campaign(tmp_path, pg_url, KILLS, seed=2)
    print(report.line("PostgreSQL"))
    assert report.problems == []
    assert report.lost == 0
    assert report.kills == KILLS and report.acknowledged > 0
