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


def nodelay_on_shared_socket() -> None:
    """TCP_NODELAY on every connection the worker processes accept.

    With `--workers N > 1` uvicorn binds the socket it shares with its workers itself, as
    `socket.socket(family)`: protocol 0. asyncio sets TCP_NODELAY only on connections accepted
    from a socket whose protocol is IPPROTO_TCP, so each response (headers, then body: two
    writes) waited for the client's delayed ACK, ~40 ms a request (0.6 ms with one worker, whose
    socket asyncio binds itself). The bound socket is re-opened from its descriptor, which reads
    the protocol back from the kernel. `uvicorn.Config.bind_socket` is wrapped once, in this
    process only (it binds the socket, then hands it to the workers).
    """
    import socket

    from uvicorn.config import Config

    bind = Config.bind_socket
    if getattr(bind, "rsp_nodelay", False):
        return

    def bind_socket(self: Config) -> socket.socket:
        sock = bind(self)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
            return socket.socket(fileno=sock.detach())  # family, type and protocol from the fd
        return sock

    bind_socket.rsp_nodelay = True  # type: ignore[attr-defined]
    Config.bind_socket = bind_socket  # type: ignore[method-assign]


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
    if workers > 1:
        nodelay_on_shared_socket()
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
