"""The offline verifier runs on an auditor's machine with nothing but its own dependencies: a
fresh virtualenv holding only pydantic, cryptography and rfc8785 (installed with pip from the
configured index or wheel cache, at the versions this project runs), and copies of the `domain/`
and `verify/` folders. SQLAlchemy, eventsourcing, click and PyYAML are absent there, and so are
`ledger/`, `projections/` and `cli/`.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bench_verify import build_bundle
from bench.bench_verify import vkey as bench_vkey

REPO = Path(__file__).resolve().parents[2]
BUNDLES = REPO / "tests" / "vectors" / "bundles"
VKEY = (BUNDLES / "ledger.vkey").read_text().strip()
DEPENDENCIES = ("pydantic", "cryptography", "rfc8785")
ABSENT = (
    "sqlalchemy",
    "eventsourcing",
    "eventsourcing_sqlalchemy",
    "click",
    "yaml",
    "ledger",
    "cli",
    "projections",
)


@pytest.fixture(scope="module")
def auditor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(python of a fresh virtualenv with only the verifier's dependencies, folder of the code)."""
    root = tmp_path_factory.mktemp("auditor")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    pins = [f"{d}=={importlib.metadata.version(d)}" for d in DEPENDENCIES]
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert pip.returncode == 0, f"pip install {pins} failed:\n{pip.stdout}\n{pip.stderr}"
    code = root / "code"
    for package in ("domain", "verify"):
        shutil.copytree(
            REPO / package, code / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return python, code


def run(python: Path, code: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(code), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [str(python), *args], cwd=code, env=env, capture_output=True, text=True, timeout=600
    )


CHECK = """
import importlib.util, json, sys
absent = {absent!r}
found = [m for m in absent if importlib.util.find_spec(m) is not None]
assert not found, f"expected absent, found {{found}}"
from verify.note import Vkey
from verify.verifier import VerifyOptions, verify_bundle
results = {{}}
for name in sys.argv[2:]:
    report = verify_bundle(name, Vkey.parse(sys.argv[1]), VerifyOptions(workers=2))
    results[name] = [report.exit_code, report.summary(), [p.check for p in report.problems]]
loaded = sorted(m for m in absent if m in sys.modules)
print(json.dumps({{"results": results, "loaded": loaded}}))
"""


def test_python_c_verification_without_the_writer_side(auditor: tuple[Path, Path]) -> None:
    python, code = auditor
    valid, tampered = str(BUNDLES / "valid.zip"), str(BUNDLES / "payload_byte_changed.zip")
    p = run(python, code, "-c", CHECK.format(absent=ABSENT), VKEY, valid, tampered)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["loaded"] == []
    assert out["results"][valid][0] == 1
    assert out["results"][valid][1]["noncompliant"] == 1
    assert out["results"][tampered][0] == 3
    assert "acceptance.signature" in out["results"][tampered][2]


def test_python_m_verify_without_the_writer_side(
    auditor: tuple[Path, Path], tmp_path: Path
) -> None:
    python, code = auditor
    p = run(
        python,
        code,
        "-m",
        "verify",
        str(BUNDLES / "valid.zip"),
        "--ledger-key",
        VKEY,
        "--json",
        "--html",
        str(tmp_path / "r.html"),
    )
    assert p.returncode == 1, p.stderr
    report = json.loads(p.stdout)
    assert report["integrity"]["ok"] is True
    assert report["summary"]["noncompliant"] == 1
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    human = run(
        python, code, "-m", "verify", str(BUNDLES / "genesis_missing.zip"), "--ledger-key", VKEY
    )
    assert human.returncode == 3
    assert "FAILED acceptance.genesis at seq 0" in human.stdout
    usage = run(python, code, "-m", "verify", str(BUNDLES / "valid.zip"), "--ledger-key", "x")
    assert usage.returncode == 2


def test_parallel_verification_without_the_writer_side(
    auditor: tuple[Path, Path], tmp_path: Path
) -> None:
    # Large enough for the pool of worker processes (PARALLEL_MIN_ENTRIES).
    python, code = auditor
    bundle = tmp_path / "big.zip"
    build_bundle(6000, bundle)
    p = run(python, code, "-c", CHECK.format(absent=ABSENT), bench_vkey(), str(bundle))
    assert p.returncode == 0, p.stderr
    exit_code, summary, problems = json.loads(p.stdout)["results"][str(bundle)]
    assert problems == []
    assert exit_code == 1
    assert summary["entries"] == 6000
