"""``CancelOnDisconnect``: cancel a request's handling when its client goes away.

ASGI servers (uvicorn, hypercorn) do not cancel an application when its client
disconnects: they only report ``http.disconnect`` to the application's next
``receive()``, which a handler that has read its request never calls.  A handler that
runs a transaction therefore commits it after the client is gone.  This middleware
reads the server's messages itself, in a task of its own, and hands them to the
application through an inbox; an ``http.disconnect`` that arrives before the response
is complete cancels the application's scope (a transaction in it aborts).
"""

from __future__ import annotations

import logging
from collections import deque

import anyio

from anyodm.asgi.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_READ_AHEAD", "CancelOnDisconnect"]

log: logging.Logger = logging.getLogger("anyodm")

#: Bytes of request body read ahead of an application that has not read them yet.
DEFAULT_READ_AHEAD = 65_536


class CancelOnDisconnect:
    """An ASGI middleware: a client that disconnects before its response is complete
    cancels the handling of its request.

    For ``http`` requests only (websockets and lifespan pass through untouched).  The
    application is cancelled as by any anyio cancellation (a transaction in it is
    aborted, ``finally`` blocks run) when the server reports ``http.disconnect`` before
    the application sent the last part of its response; after that (background tasks
    that run once the response is sent), a disconnect cancels nothing.  The
    application's own exceptions come out as themselves.

    The middleware reads the server's messages as they come, so that it sees the
    disconnect while a handler works; it hands every message to the application,
    unchanged and in order, when the application calls ``receive()``.  Of a request
    body the application has not read yet, it reads at most ``read_ahead`` bytes ahead
    (then one message more), so memory stays bounded; past that, a disconnect is seen
    once the application reads on.  A request sent with ``Expect: 100-continue`` is
    read from the application's first ``receive()`` on, so that the server does not
    invite a body the application never asked for.

    Use it as the outermost middleware: ``app.add_middleware(CancelOnDisconnect)`` (last
    added is outermost in Starlette and FastAPI), or ``CancelOnDisconnect(app)``.
    """

    def __init__(self, app: ASGIApp, *, read_ahead: int = DEFAULT_READ_AHEAD) -> None:
        if isinstance(read_ahead, bool) or not isinstance(read_ahead, int) or read_ahead < 1:
            raise ValueError(
                f"CancelOnDisconnect(read_ahead=...) needs bytes >= 1, got {read_ahead!r}"
            )
        self.app = app
        self.read_ahead = read_ahead

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _WatchedRequest(receive, send, self.read_ahead, _expects_continue(scope))
        failure: BaseException | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(request.read_from_server)
            with request.app_scope:
                try:
                    await self.app(scope, request.receive, request.send)
                except anyio.get_cancelled_exc_class():
                    raise
                except BaseException as exc:
                    # kept out of the task group, so that it comes out as itself
                    failure = exc
            tg.cancel_scope.cancel()
        if failure is not None:
            try:
                raise failure
            finally:
                failure = None
        if request.app_scope.cancelled_caught:
            log.debug(
                "anyodm: %s %s: the client disconnected before the response was complete; "
                "its handling was cancelled",
                scope.get("method"),
                scope.get("path"),
            )


def _expects_continue(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if bytes(name).lower() == b"expect" and bytes(value).lower() == b"100-continue":
            return True
    return False


class _WatchedRequest:
    """One request: the messages read from the server for the application (an inbox),
    and whether the response is complete."""

    def __init__(self, receive: Receive, send: Send, read_ahead: int, wait_for_app: bool):
        self._server_receive = receive
        self._server_send = send
        self._read_ahead = read_ahead
        self.app_scope = anyio.CancelScope()
        self._messages: deque[Message] = deque()
        self._buffered = 0  # body bytes in _messages
        self._arrived = anyio.Event()  # set when a message arrives (replaced once seen)
        self._taken = anyio.Event()  # set when the application takes one
        self._app_asked = anyio.Event()
        if not wait_for_app:
            self._app_asked.set()
        self._body_complete = False
        self._ended = False  # the server said http.disconnect: no message after it
        self._failure: Exception | None = None
        self._trailers = False
        self.response_complete = False

    # -- the server's side ---------------------------------------------------------------

    async def read_from_server(self) -> None:
        await self._app_asked.wait()
        while True:
            while not self._body_complete and self._buffered >= self._read_ahead:
                if self._taken.is_set():
                    self._taken = anyio.Event()
                await self._taken.wait()
            try:
                message = await self._server_receive()
            except Exception as exc:  # the application's next receive() raises it
                self._failure = exc
                self._arrived.set()
                return
            self._messages.append(message)
            kind = message.get("type")
            if kind == "http.request":
                self._buffered += len(message.get("body", b""))
                self._body_complete = not message.get("more_body", False)
            self._arrived.set()
            if kind == "http.disconnect":
                self._ended = True
                if not self.response_complete:
                    self.app_scope.cancel()
                return

    # -- the application's side ----------------------------------------------------------

    async def receive(self) -> Message:
        """The next message from the server, as the server's ``receive()`` gives it (a
        message already there is returned without waiting)."""
        self._app_asked.set()
        while not self._messages:
            if self._failure is not None:
                raise self._failure
            if self._ended:
                return {"type": "http.disconnect"}
            if self._arrived.is_set():
                self._arrived = anyio.Event()
            await self._arrived.wait()
        message = self._messages.popleft()
        if message.get("type") == "http.request":
            self._buffered -= len(message.get("body", b""))
        self._taken.set()
        return message

    async def send(self, message: Message) -> None:
        """The server's ``send()``; notes when the response is complete (before sending
        its last part: a disconnect the server reports while it sends that part comes
        after the application's work)."""
        kind = message.get("type")
        if kind == "http.response.start":
            self._trailers = bool(message.get("trailers", False))
        elif kind in ("http.response.body", "http.response.zerocopysend"):
            if not message.get("more_body", False) and not self._trailers:
                self.response_complete = True
        elif kind == "http.response.trailers":
            if not message.get("more_trailers", False):
                self.response_complete = True
        elif kind == "http.response.pathsend":
            self.response_complete = True
        await self._server_send(message)
