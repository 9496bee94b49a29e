"""A real `rsp-ledger serve` in a subprocess on a free loopback port, for the service tests.

The server runs in its own process group (uvicorn's workers with it), so `stop()` ends exactly
the processes it started: SIGTERM to the group, then SIGKILL if it has not gone within the bound.
A watchdog ends the group as well if the test process dies first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from .conftest import RSP_LEDGER
from .pg import free_port

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


@dataclass
class ServiceProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_service(
    ledger_url: str,
    key_file: Path,
    workdir: Path,
    *,
    workers: int = 1,
    token_file: Path | None = None,
    extra: Sequence[str] = (),
) -> ServiceProcess:
    """`rsp-ledger serve` on 127.0.0.1 and a free port; returns once /healthz answers."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    argv = [
        RSP_LEDGER,
        "serve",
        "--ledger",
        ledger_url,
        "--ledger-key-file",
        str(key_file),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        *(["--read-token-file", str(token_file)] if token_file else []),
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSP_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    served = ServiceProcess(f"http://127.0.0.1:{port}", process, log)
    # If this process dies without stop() (a run killed by a timeout), end the server's group too.
    group = process.pid
    subprocess.Popen(
        [
            "/bin/sh",
            "-c",
            f"while kill -0 {os.getpid()} 2>/dev/null && kill -0 {group} 2>/dev/null; "
            f"do sleep 1; done; kill -TERM -{group} 2>/dev/null; exit 0",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}: {served.output()}")
        try:
            if httpx.get(f"{served.url}/healthz", timeout=1.0).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    served.stop()
    raise RuntimeError(f"serve did not answer /healthz in {READY_TIMEOUT_S}s: {served.output()}")
