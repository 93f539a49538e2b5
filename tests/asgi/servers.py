"""Real ASGI servers run in the test's own event loop, and a raw HTTP/1.1 client.

``running(app, server, backend)`` serves ``app`` on a free port of 127.0.0.1 with
hypercorn (its trio or asyncio worker) or uvicorn (asyncio), lifespan included, and
shuts it down gracefully on exit.  The listening socket is made here (port 0), so the
port is known before the server starts; connections made before the server accepts wait
in the socket's backlog.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import anyio.abc
import pytest

SERVERS = ("hypercorn", "uvicorn")


def skip_unless_supported(server: str, backend: str) -> None:
    if server == "uvicorn" and backend != "asyncio":
        pytest.skip("uvicorn runs on asyncio only")


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@asynccontextmanager
async def running(app: Any, server: str, backend: str) -> AsyncIterator[int]:
    """Serve ``app``; yields its port."""
    sock = _listening_socket()
    port: int = sock.getsockname()[1]
    async with anyio.create_task_group() as tg:
        if server == "hypercorn":
            stop = _serve_hypercorn(tg, app, sock, backend)
        else:
            stop = await _serve_uvicorn(tg, app, sock)
        try:
            yield port
        finally:
            stop()


def _serve_hypercorn(tg: anyio.abc.TaskGroup, app: Any, sock: socket.socket, backend: str) -> Any:
    from hypercorn.config import Config

    if backend == "trio":
        from hypercorn.trio import serve
    else:
        from hypercorn.asyncio import serve  # type: ignore[assignment]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket
    config.graceful_timeout = 10
    shutdown = anyio.Event()
    tg.start_soon(partial(serve, app, config, shutdown_trigger=shutdown.wait))
    return shutdown.set


async def _serve_uvicorn(tg: anyio.abc.TaskGroup, app: Any, sock: socket.socket) -> Any:
    import uvicorn

    config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False)
    server = uvicorn.Server(config)

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            sock.close()

    tg.start_soon(serve)
    with anyio.fail_after(30):
        while not server.started:  # uvicorn has no start-up event
            if server.should_exit:
                raise RuntimeError("uvicorn did not start (see its log)")
            await anyio.sleep(0.01)

    def stop() -> None:
        server.should_exit = True

    return stop


# -- the client ------------------------------------------------------------------------------


def request_bytes(method: str, path: str, body: bytes = b"", content_type: str = "") -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: test", f"Content-Length: {len(body)}"]
    if content_type:
        head.append(f"Content-Type: {content_type}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def send_request(port: int, data: bytes) -> anyio.abc.SocketStream:
    """A connection that has sent ``data``; the caller reads or closes it."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    await stream.send(data)
    return stream


async def read_response(stream: anyio.abc.SocketStream) -> tuple[int, bytes]:
    """The status and body of one response (Content-Length framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(rest) < length:
        rest += await stream.receive()
    return status, rest
