"""A throwaway PostgreSQL server for the tests and the benchmarks: initdb into a temporary
directory, then pg_ctl on a free loopback port.

- initdb refuses to run as root, and CI runs as root: as root, every server command runs as the
  `postgres` system user (`runuser -u postgres --`) in a directory that user owns;
- the server listens on 127.0.0.1 only, with `trust` authentication for loopback (it lives for one
  test session, holds no data worth protecting, and no other address can reach it);
- every server gets a fresh `mkdtemp` directory; `stop()` shuts it down (`pg_ctl stop -m
  immediate`) and removes the directory, and a watchdog does the same if the process that
  started it dies first (a run killed by a timeout leaves no server behind).

Fixtures (imported by conftest.py): `postgres`, one server per test session, and `pg_url`, a
fresh database per test. Without the binaries the PostgreSQL tests skip with the reason, except
in CI (`CI=true`), where a missing PostgreSQL fails them: CI must never pass by not testing.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
BINDIR_ENV = "RSP_TEST_PG_BINDIR"


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL server binaries, or the user to run them as, are not on this machine."""


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl: $RSP_TEST_PG_BINDIR if set, else on PATH, else
    the newest Debian-style install."""
    chosen = os.environ.get(BINDIR_ENV)
    if chosen:
        bindir = Path(chosen)
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
        raise PostgresUnavailableError(
            f"${BINDIR_ENV}={chosen}: expected initdb and pg_ctl there, found none"
        )
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for bindir in reversed(candidates):
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise PostgresUnavailableError(
        "PostgreSQL server binaries not found: expected initdb and pg_ctl on PATH or under "
        "/usr/lib/postgresql/*/bin (Debian/Ubuntu: apt-get install postgresql)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: Sequence[str]) -> list[str]:
    if os.geteuid() != 0:
        return list(argv)
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailableError("running as root needs runuser to start PostgreSQL")
    return [runuser, "-u", SYSTEM_USER, "--", *argv]


@dataclass
class PostgresServer:
    bindir: Path
    base: Path
    port: int

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for the ledger."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            subprocess.run(
                _as_server_user(
                    [
                        str(self.bindir / "pg_ctl"),
                        "stop",
                        "-D",
                        str(self.datadir),
                        "-m",
                        "immediate",
                    ]
                ),
                capture_output=True,
                timeout=START_TIMEOUT_S,
                check=False,
            )
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def start_postgres(*, fsync: bool = False) -> PostgresServer:
    """initdb + pg_ctl start on a free loopback port. The caller must `stop()` it.

    `fsync=False` for tests (durability across power loss is PostgreSQL's own business, not what
    they check); the benchmark keeps PostgreSQL's defaults so that its figures mean something.
    """
    bindir = find_bindir()
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam(SYSTEM_USER)
        except KeyError as e:
            raise PostgresUnavailableError(
                f"running as root needs a {SYSTEM_USER!r} system user to run PostgreSQL as"
            ) from e
    # Under /tmp, not pytest's tmp_path: its parents are 0700 root and the server user must
    # reach its data directory.
    base = Path(tempfile.mkdtemp(prefix="rsp-pg-", dir="/tmp"))
    try:
        if os.geteuid() == 0:
            os.chown(base, server_user.pw_uid, server_user.pw_gid)
        os.chmod(base, 0o700)
        server = PostgresServer(bindir, base, free_port())
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(server.datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={server.port}",
                f"-c unix_socket_directories={base}",
                "-c max_connections=200",
                f"-c fsync={'on' if fsync else 'off'}",
                f"-c synchronous_commit={'on' if fsync else 'off'}",
                f"-c full_page_writes={'on' if fsync else 'off'}",
            ]
        )
        _run(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-D",
                str(server.datadir),
                "-l",
                str(base / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT_S),
            ]
        )
    except BaseException:
        if (base / "data" / "postmaster.pid").exists():
            PostgresServer(bindir, base, 0).stop()
        shutil.rmtree(base, ignore_errors=True)
        raise
    _watch(server)
    return server


def _watch(server: PostgresServer) -> None:
    """A watchdog that stops the server when this process is gone without calling `stop()`
    (a test run killed by a CI timeout, say), so no server outlives its run. It ends by itself:
    when `stop()` has removed the directory, or once it has stopped the server."""
    stop = " ".join(
        shlex.quote(a)
        for a in _as_server_user(
            [str(server.bindir / "pg_ctl"), "stop", "-D", str(server.datadir), "-m", "immediate"]
        )
    )
    base = shlex.quote(str(server.base))
    script = (
        f"while kill -0 {os.getpid()} 2>/dev/null && [ -d {base} ]; do sleep 1; done; "
        f"if [ -d {base} ]; then {stop} >/dev/null 2>&1; rm -rf {base}; fi"
    )
    subprocess.Popen(
        ["/bin/sh", "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _run(argv: Sequence[str]) -> None:
    p = subprocess.run(
        _as_server_user(argv), capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False
    )
    if p.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed ({p.returncode}): {p.stderr or p.stdout}")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test session."""
    try:
        server = start_postgres()
    except PostgresUnavailableError as e:
        if in_ci():
            pytest.fail(f"CI=true and PostgreSQL is required: {e}", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {e}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    url = postgres.create_database()
    try:
        yield url
    finally:
        postgres.drop_database(url)
