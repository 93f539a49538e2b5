"""A user's web application, type-checked like user_code.py (never run): FastAPI with
anyodm's lifespan helper and disconnect middleware, and a plain ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from typing_extensions import assert_type

from anyodm import Engine, LifespanError, Model
from anyodm.asgi import CancelOnDisconnect, EngineLifespan, Message, Receive, Scope, Send


class Order(Model):
    item: str


mongo = EngineLifespan(
    "mongodb://localhost:27017/shop",
    models=[Order],
    migrations="migrations",
    on_pending="run",
    max_threads=20,
    cleanup_timeout=5.0,
)
EngineLifespan(max_thread=20)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
EngineLifespan(on_pending="later")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

app = FastAPI(lifespan=mongo)
app.add_middleware(CancelOnDisconnect)
app.add_middleware(CancelOnDisconnect, read_ahead=1 << 20)

Db = Annotated[Engine, Depends(mongo.get_engine)]


@app.post("/orders")
async def place(order: Order, engine: Db) -> Order:
    assert_type(engine, Engine)
    async with engine.transaction() as tx:
        await tx.save(order)
    return order


async def elsewhere() -> None:
    assert_type(mongo.engine, Engine)
    assert_type(await mongo.get_engine(), Engine)
    assert_type(mongo(app), AbstractAsyncContextManager[None])
    try:
        mongo.engine.client.close()
    except LifespanError as error:
        assert_type(error, LifespanError)


@asynccontextmanager
async def own_lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with mongo(app):
        yield


composed = FastAPI(lifespan=own_lifespan)


async def plain(scope: Scope, receive: Receive, send: Send) -> None:
    message: Message = await receive()
    assert_type(message["type"], Any)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


wrapped = CancelOnDisconnect(plain)
assert_type(wrapped, CancelOnDisconnect)
CancelOnDisconnect(plain, read_ahead="1 MB")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
