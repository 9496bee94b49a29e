"""Shared fixtures. The public test vectors live in ../shared/testdata beside the repository;
a missing folder fails loudly rather than skipping (CI must run them)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata_dir() -> Path:
    if not TESTDATA.is_dir():
        pytest.fail(f"public test vectors missing: expected {TESTDATA} (../shared/testdata)")
    return TESTDATA
