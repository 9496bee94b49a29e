"""`serve --workers N` shares one listening socket with its worker processes; connections they
accept must get TCP_NODELAY, or every response waits ~40 ms for the client's delayed ACK."""

from __future__ import annotations

import asyncio
import socket

import pytest
from uvicorn.config import Config

from cli.serve import nodelay_on_shared_socket


def nodelay_of_accepted(sock: socket.socket) -> int:
    """TCP_NODELAY of a connection accepted by an asyncio server on `sock` (as a worker runs)."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[int] = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted = transport.get_extra_info("socket")
                got.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await loop.create_server(Probe, sock=sock)
        host, port = sock.getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        try:
            return await asyncio.wait_for(got, 10)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


def test_connections_accepted_from_the_shared_socket_get_nodelay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Config, "bind_socket", Config.bind_socket)  # restored after the test
    nodelay_on_shared_socket()
    nodelay_on_shared_socket()  # idempotent: wrapped once
    config = Config("ledger.service:app_from_environment", host="127.0.0.1", port=0, workers=2)
    sock = config.bind_socket()
    assert sock.proto == socket.IPPROTO_TCP
    assert sock.family == socket.AF_INET
    assert nodelay_of_accepted(sock) != 0
