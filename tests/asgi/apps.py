"""The FastAPI application the server tests run, and the events a test drives it with.

``POST /orders`` (a JSON body) and ``POST /orders/{item}`` (no body read) write an order
in a transaction, say so (``Probe.written``), then wait for the test (``Probe.release``)
before committing; ``POST /receipts/{item}`` answers at once and writes a receipt in a
background task, once the server has reported that the request is over.  A ``Probe``
records what the handlers saw.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations, and
# `Db` is local to make_app.

from typing import Annotated

import anyio
from fastapi import BackgroundTasks, Depends, FastAPI, Request
from pydantic import BaseModel

from anyodm import Engine, Field, Model
from anyodm.asgi import CancelOnDisconnect, EngineLifespan


class Order(Model):
    item: str = Field(index=True)


class Receipt(Model):
    item: str


class OrderIn(BaseModel):
    item: str


class Probe:
    """What the handlers saw; made in the test's event loop (the server runs in it too).

    ``written`` is set once ``handlers`` handlers have written (each then waits for
    ``release``), ``finished`` once they all ended; ``cancelled`` counts the handlers
    that observed a cancellation.
    """

    def __init__(self, handlers: int = 1, *, commit_after_disconnect: bool = False) -> None:
        self.handlers = handlers
        self.written = anyio.Event()
        self.release = anyio.Event()
        self.finished = anyio.Event()
        self.cancelled = 0
        self._written = 0
        self._finished = 0
        #: before committing, wait until the server reports the client gone
        self.commit_after_disconnect = commit_after_disconnect
        self.saw_disconnect = False

    def wrote(self) -> None:
        self._written += 1
        if self._written == self.handlers:
            self.written.set()

    def ended(self) -> None:
        self._finished += 1
        if self._finished == self.handlers:
            self.finished.set()


async def wait_disconnected(request: Request, deadline: float = 30) -> bool:
    """Read the server's messages up to the ``http.disconnect`` that ends the request
    (False if none came by the deadline)."""
    with anyio.move_on_after(deadline):
        while (await request.receive())["type"] != "http.disconnect":
            pass
        return True
    return False


def make_app(lifespan: EngineLifespan, probe: Probe, *, middleware: bool = True) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    if middleware:
        app.add_middleware(CancelOnDisconnect)
    Db = Annotated[Engine, Depends(lifespan.get_engine)]

    async def place(item: str, engine: Engine, request: Request) -> dict[str, str]:
        try:
            async with engine.transaction() as tx:
                await tx.save(Order(item=item))
                probe.wrote()
                await probe.release.wait()
                if probe.commit_after_disconnect:
                    probe.saw_disconnect = await wait_disconnected(request)
            return {"item": item}
        except anyio.get_cancelled_exc_class():
            probe.cancelled += 1
            raise
        finally:
            probe.ended()

    @app.post("/orders", status_code=201)
    async def place_order(order: OrderIn, engine: Db, request: Request) -> dict[str, str]:
        return await place(order.item, engine, request)  # FastAPI has read the body

    @app.post("/orders/{item}", status_code=201)
    async def place_order_without_body(item: str, engine: Db, request: Request) -> dict[str, str]:
        return await place(item, engine, request)  # the body is never read

    @app.post("/receipts/{item}", status_code=202)
    async def receipt_later(
        item: str, engine: Db, request: Request, background: BackgroundTasks
    ) -> dict[str, str]:
        async def write_receipt() -> None:
            try:
                probe.saw_disconnect = await wait_disconnected(request)
                async with engine.transaction() as tx:
                    await tx.save(Receipt(item=item))
            except anyio.get_cancelled_exc_class():
                probe.cancelled += 1
                raise
            finally:
                probe.ended()

        background.add_task(write_receipt)
        return {"item": item}

    return app
