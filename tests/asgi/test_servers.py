"""A client that disconnects mid-transaction, under real ASGI servers: hypercorn (trio and
asyncio workers) and uvicorn (asyncio).

Without ``CancelOnDisconnect`` the handler is not cancelled and its transaction commits
after the client is gone (the first test documents it); with it, the transaction is
aborted.  A client that stays gets its answer and its write; a disconnect after the
response leaves background work alone.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from pymongo.database import Database

from anyodm.asgi import EngineLifespan

from .apps import Order, Probe, Receipt, make_app
from .servers import SERVERS, read_response, request_bytes, running, send_request
from .servers import skip_unless_supported as skip_unless

pytestmark = pytest.mark.parametrize("server", SERVERS)

#: generous: a loaded machine may be slow, and a passing test never waits this long
DEADLINE = 30


def lifespan_for(mongodb_uri: str, db: Database[Any]) -> EngineLifespan:
    return EngineLifespan(mongodb_uri, db.name, models=[Order, Receipt])


def order_request(item: str, with_body: bool = True) -> bytes:
    """``POST /orders`` with a JSON body (which FastAPI reads before the handler runs), or
    ``POST /orders/{item}`` (a handler that reads no body)."""
    if not with_body:
        return request_bytes("POST", f"/orders/{item}")
    body = json.dumps({"item": item}).encode()
    return request_bytes("POST", "/orders", body, "application/json")


async def test_without_the_middleware_a_gone_clients_transaction_commits(
    server: str, anyio_backend: str, mongodb_uri: str, mongo_database: Database[Any]
) -> None:
    """The problem: no server cancels the handler, so its transaction commits."""
    skip_unless(server, anyio_backend)
    probe = Probe(commit_after_disconnect=True)
    app = make_app(lifespan_for(mongodb_uri, mongo_database), probe, middleware=False)
    async with running(app, server, anyio_backend) as port:
        with anyio.fail_after(DEADLINE):
            client = await send_request(port, order_request("lost"))
            await probe.written.wait()
            await client.aclose()
            probe.release.set()
            await probe.finished.wait()
    assert probe.saw_disconnect  # the server knew the client was gone...
    assert probe.cancelled == 0  # ...and let the handler run on:
    assert mongo_database.order.count_documents({"item": "lost"}) == 1


@pytest.mark.parametrize("with_body", [True, False], ids=["body", "no-body"])
async def test_a_client_that_disconnects_mid_transaction_aborts_it(
    server: str,
    anyio_backend: str,
    mongodb_uri: str,
    mongo_database: Database[Any],
    with_body: bool,
) -> None:
    skip_unless(server, anyio_backend)
    probe = Probe()
    app = make_app(lifespan_for(mongodb_uri, mongo_database), probe)
    async with running(app, server, anyio_backend) as port:
        with anyio.fail_after(DEADLINE):
            client = await send_request(port, order_request("lost", with_body))
            await probe.written.wait()
            await client.aclose()
            await probe.finished.wait()
    assert probe.cancelled == 1
    assert mongo_database.order.count_documents({}) == 0


async def test_a_client_that_stays_gets_its_answer_and_its_write(
    server: str, anyio_backend: str, mongodb_uri: str, mongo_database: Database[Any]
) -> None:
    skip_unless(server, anyio_backend)
    probe = Probe()
    app = make_app(lifespan_for(mongodb_uri, mongo_database), probe)
    async with running(app, server, anyio_backend) as port:
        with anyio.fail_after(DEADLINE):
            client = await send_request(port, order_request("kept"))
            await probe.written.wait()
            probe.release.set()
            status, body = await read_response(client)
            await client.aclose()
    assert (status, json.loads(body)) == (201, {"item": "kept"})
    assert probe.cancelled == 0
    assert mongo_database.order.count_documents({"item": "kept"}) == 1


async def test_a_disconnect_after_the_response_leaves_background_work_alone(
    server: str, anyio_backend: str, mongodb_uri: str, mongo_database: Database[Any]
) -> None:
    skip_unless(server, anyio_backend)
    probe = Probe()
    app = make_app(lifespan_for(mongodb_uri, mongo_database), probe)
    async with running(app, server, anyio_backend) as port:
        with anyio.fail_after(DEADLINE):
            client = await send_request(port, request_bytes("POST", "/receipts/r1"))
            status, _ = await read_response(client)
            await client.aclose()
            await probe.finished.wait()
    assert status == 202
    assert probe.saw_disconnect  # the background task ran after the server said so
    assert probe.cancelled == 0
    assert mongo_database.receipt.count_documents({"item": "r1"}) == 1


async def test_many_clients_some_leaving(
    server: str, anyio_backend: str, mongodb_uri: str, mongo_database: Database[Any]
) -> None:
    """Ten requests at once on one engine, every other client leaving mid-transaction:
    exactly the writes of the clients that stayed are committed."""
    skip_unless(server, anyio_backend)
    probe = Probe(handlers=10)
    app = make_app(lifespan_for(mongodb_uri, mongo_database), probe)
    answers: dict[str, int] = {}

    async def client(item: str, stays: bool) -> None:
        stream = await send_request(port, order_request(item))
        if stays:
            answers[item] = (await read_response(stream))[0]
        else:
            await leave.wait()
        await stream.aclose()

    stayers = {f"o{i}" for i in range(0, 10, 2)}
    async with running(app, server, anyio_backend) as port:
        leave = anyio.Event()
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                for i in range(10):
                    tg.start_soon(client, f"o{i}", f"o{i}" in stayers)
                await probe.written.wait()  # ten transactions open, nothing committed
                leave.set()
                while probe.cancelled < 5:
                    await anyio.sleep(0.01)  # polling the handlers of the leavers
                probe.release.set()
            await probe.finished.wait()
    assert probe.cancelled == 5
    assert answers == dict.fromkeys(stayers, 201)
    assert {doc["item"] for doc in mongo_database.order.find()} == stayers
