"""``CancelOnDisconnect`` against a scripted server: what the application receives, when
it is cancelled and when not, what passes through untouched, what comes out."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from anyodm.asgi import CancelOnDisconnect, Message, Receive, Scope, Send

HTTP: Scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
DISCONNECT: Message = {"type": "http.disconnect"}


def body(data: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


START: Message = {"type": "http.response.start", "status": 200, "headers": []}
DONE: Message = {"type": "http.response.body", "body": b"ok", "more_body": False}


class Server:
    """A scripted ASGI server: ``feed`` what ``receive`` returns; ``sent`` is what the
    application sent; ``reads`` counts the messages taken, ``waiting`` whether a
    receive() is pending."""

    def __init__(self) -> None:
        self._in: MemoryObjectSendStream[Message | Exception]
        self._out: MemoryObjectReceiveStream[Message | Exception]
        self._in, self._out = anyio.create_memory_object_stream(math.inf)
        self.sent: list[Message] = []
        self.reads = 0
        self.waiting = 0

    def feed(self, *messages: Message | Exception) -> None:
        for message in messages:
            self._in.send_nowait(message)

    async def receive(self) -> Message:
        self.waiting += 1
        try:
            item = await self._out.receive()
        finally:
            self.waiting -= 1
        self.reads += 1
        if isinstance(item, Exception):
            raise item
        return item

    async def send(self, message: Message) -> None:
        self.sent.append(message)


App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def serve(app: App, server: Server, scope: Scope = HTTP, **options: Any) -> None:
    with anyio.fail_after(10):
        await CancelOnDisconnect(app, **options)(scope, server.receive, server.send)
    assert server.waiting == 0  # the middleware's reader is gone


async def test_the_application_receives_every_message_unchanged_and_in_order() -> None:
    server = Server()
    messages = [body(b"a", True), body(b"", True), body(b"bc")]
    server.feed(*messages)
    got: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while not got or got[-1]["more_body"]:
            got.append(await receive())
        await send(START)
        await send(DONE)

    await serve(app, server)
    assert got == messages
    assert all(a is b for a, b in zip(got, messages, strict=True))
    assert server.sent == [START, DONE]


async def test_a_disconnect_before_the_response_cancels_the_application() -> None:
    server = Server()
    server.feed(body(b"{}"))
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            server.feed(DISCONNECT)
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            seen.append("cancelled")
            raise

    await serve(app, server)
    assert seen == ["cancelled"]
    assert server.sent == []


async def test_a_disconnect_while_the_body_is_unread_cancels_the_application() -> None:
    server = Server()
    server.feed(body(b"x" * 10), DISCONNECT)
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            seen.append("cancelled")
            raise

    await serve(app, server)
    assert seen == ["cancelled"]


async def test_a_disconnect_during_a_streamed_response_cancels_it() -> None:
    server = Server()
    server.feed(body(b""))
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(START)
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        server.feed(DISCONNECT)
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            seen.append("cancelled")
            raise

    await serve(app, server)
    assert seen == ["cancelled"]


async def test_a_disconnect_after_the_response_cancels_nothing() -> None:
    """Work after the response (FastAPI's background tasks) runs to its end."""
    server = Server()
    server.feed(body(b""))
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(START)
        await send(DONE)
        server.feed(DISCONNECT)
        seen.append(await receive())  # the middleware has read the disconnect
        await anyio.lowlevel.checkpoint()
        seen.append("background work done")

    await serve(app, server)
    assert seen == [DISCONNECT, "background work done"]


async def test_a_response_with_trailers_is_complete_after_its_last_trailers() -> None:
    server = Server()
    server.feed(body(b""))
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({**START, "trailers": True})
        await send(DONE)
        server.feed(DISCONNECT)
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            seen.append("cancelled before the trailers")
            raise

    await serve(app, server)
    assert seen == ["cancelled before the trailers"]

    server = Server()
    server.feed(body(b""))

    async def app_with_trailers(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({**START, "trailers": True})
        await send(DONE)
        await send({"type": "http.response.trailers", "headers": [], "more_trailers": False})
        server.feed(DISCONNECT)
        assert await receive() == DISCONNECT
        await anyio.lowlevel.checkpoint()
        seen.append("not cancelled after them")

    await serve(app_with_trailers, server)
    assert seen[-1] == "not cancelled after them"


async def test_receive_after_the_disconnect_keeps_saying_disconnect() -> None:
    server = Server()
    server.feed(body(b"x"))
    got: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send(DONE)
        server.feed(DISCONNECT)
        for _ in range(3):
            got.append(await receive())

    await serve(app, server)
    assert [m["type"] for m in got] == ["http.request", "http.disconnect", "http.disconnect"]
    assert server.reads == 2  # nothing read from the server after its disconnect


async def test_a_message_already_read_is_returned_even_in_a_cancelled_scope() -> None:
    """Starlette's ``request.is_disconnected()`` calls receive() in a cancelled scope."""
    server = Server()
    server.feed(body(b""))
    got: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(START)
        await send(DONE)
        await receive()
        server.feed(DISCONNECT)
        await anyio.wait_all_tasks_blocked()  # the reader has it
        with anyio.CancelScope() as scope_:
            scope_.cancel()
            got.append(await receive())

    await serve(app, server)
    assert got == [DISCONNECT]


async def test_the_servers_receive_error_reaches_the_applications_receive() -> None:
    server = Server()
    failure = RuntimeError("server broke")
    server.feed(failure)
    raised: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        with pytest.raises(RuntimeError) as info:
            await receive()
        raised.append(info.value)
        await send(START)
        await send(DONE)

    await serve(app, server)
    assert raised == [failure]


async def test_the_applications_exception_comes_out_as_itself() -> None:
    server = Server()
    server.feed(body(b""))
    failure = ValueError("handler bug")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise failure

    with pytest.raises(ValueError) as info:
        await serve(app, server)
    assert info.value is failure
    assert server.waiting == 0


async def test_a_cancellation_from_the_server_propagates() -> None:
    server = Server()
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            seen.append("cancelled")
            raise

    with anyio.move_on_after(0.05) as outer:
        await CancelOnDisconnect(app)(HTTP, server.receive, server.send)
    assert outer.cancelled_caught
    assert seen == ["cancelled"]
    assert server.waiting == 0


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
async def test_other_scopes_pass_through_untouched(kind: str) -> None:
    server = Server()
    passed: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        passed.extend([scope, receive, send])

    scope: Scope = {"type": kind}
    await CancelOnDisconnect(app)(scope, server.receive, server.send)
    assert passed == [scope, server.receive, server.send]
    assert passed[0] is scope
    assert server.reads == 0


async def test_an_unread_body_is_read_ahead_up_to_the_limit() -> None:
    server = Server()
    chunks = [body(b"x" * 40_000, True) for _ in range(5)] + [body(b"")]
    server.feed(*chunks)
    got: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.wait_all_tasks_blocked()
        got.append({"reads before the application read": server.reads})
        while not got or got[-1].get("more_body", True):
            got.append(await receive())
        await send(START)
        await send(DONE)

    await serve(app, server, read_ahead=65_536)
    assert got[0] == {"reads before the application read": 2}  # 40 kB, then 80 kB: stop
    assert got[1:] == chunks


async def test_expect_100_continue_waits_for_the_application_to_ask() -> None:
    server = Server()
    server.feed(body(b"data"))
    scope: Scope = {**HTTP, "headers": [(b"expect", b"100-continue")]}
    got: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.wait_all_tasks_blocked()
        got.append(server.reads)
        got.append(await receive())
        await send(START)
        await send(DONE)

    await serve(app, server, scope=scope)
    assert got == [0, body(b"data")]


def test_read_ahead_must_be_a_positive_number_of_bytes() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        pass

    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="read_ahead"):
            CancelOnDisconnect(app, read_ahead=bad)  # type: ignore[arg-type]
