"""`rsp-ledger serve`: the ledger as an HTTP service (ledger/service.py) on uvicorn.

Refuses to bind beyond loopback without a read token unless `--public` says the ledger's contents
may be read by anyone who can reach the address. Everything is checked before uvicorn starts, so a
mistake is one line and exit 2, not a worker crashing in a loop.
"""

from __future__ import annotations

import ipaddress
import os

import click

from cli._common import EXIT_USAGE, fail, handle_errors, key_file_option, ledger_option
from ledger.api import DEFAULT_MAX_BODY_BYTES
from ledger.config import is_http, resolve_key_file, resolve_ledger_url
from ledger.errors import UsageError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere


@click.command()
@ledger_option
@key_file_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Processes."
)
@click.option(
    "--read-token-file",
    metavar="FILE",
    default=None,
    help="Bearer token (file mode 0600) that reads and exports need.",
)
@click.option("--public", is_flag=True, help="Allow binding beyond loopback with no read token.")
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1024),
    default=DEFAULT_MAX_BODY_BYTES,
    show_default=True,
    help="Largest request body.",
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn's log level.")
@handle_errors
def serve(
    ledger_url: str | None,
    ledger_key_file: str | None,
    host: str,
    port: int,
    workers: int,
    read_token_file: str | None,
    public: bool,
    max_body_bytes: int,
    log_level: str,
) -> None:
    """Serve the ledger over HTTP (API under /v1, OpenAPI at /openapi.json)."""
    # Imported here: FastAPI and uvicorn are heavy, and every other command starts without them.
    import uvicorn

    from ledger import service

    url = resolve_ledger_url(ledger_url)
    if is_http(url):
        fail(f"--ledger {url}: expected a database URL to serve, found a service", EXIT_USAGE)
    if read_token_file is None and not public and not is_loopback(host):
        fail(
            f"--host {host}: refusing to serve beyond loopback with no read token: anyone who "
            "can reach it could read the ledger; give --read-token-file, or --public",
            EXIT_USAGE,
        )
    if read_token_file is not None:
        service.read_token_file(read_token_file)  # refuse a bad file now, not in each worker
    key_path = resolve_key_file(ledger_key_file, url)
    if key_path is None:
        raise UsageError(
            "serve signs checkpoints: expected the ledger key (--ledger-key-file or "
            "$RSP_LEDGER_KEY_FILE)"
        )
    with service.open_served_ledger(url, str(key_path)) as ledger:
        origin, vkey = ledger.origin, ledger.vkey
    os.environ[service.ENV_LEDGER] = url
    os.environ[service.ENV_KEY_FILE] = str(key_path.resolve())
    os.environ[service.ENV_MAX_BODY] = str(max_body_bytes)
    if read_token_file is not None:
        os.environ[service.ENV_TOKEN_FILE] = os.path.abspath(read_token_file)
    else:
        os.environ.pop(service.ENV_TOKEN_FILE, None)
    click.echo(
        f"serving {origin} on http://{host}:{port} with {workers} worker(s); vkey {vkey}",
        err=True,
    )
    uvicorn.run(
        "ledger.service:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        server_header=False,
    )
