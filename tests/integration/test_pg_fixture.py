"""The PostgreSQL fixture's own rule: without the server binaries the PostgreSQL tests skip
locally, and fail in CI (`CI=true`), so that CI can never pass by not testing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .pg import BINDIR_ENV

REPO = Path(__file__).resolve().parents[2]


def _run_postgres_tests(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env[BINDIR_ENV] = str(tmp_path / "no-postgresql-here")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_store_contract.py",
            "-k",
            "PostgreSQL and resubmission",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_missing_postgresql_skips_locally(tmp_path: Path) -> None:
    r = _run_postgres_tests(tmp_path, None)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 skipped" in r.stdout and "PostgreSQL tests skipped" in r.stdout


def test_missing_postgresql_fails_in_ci(tmp_path: Path) -> None:
    r = _run_postgres_tests(tmp_path, "true")
    assert r.returncode != 0, r.stdout + r.stderr
    assert "CI=true and PostgreSQL is required" in r.stdout
    assert "skipped" not in r.stdout
