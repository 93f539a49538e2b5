"""Order workers on trio: a change stream feeds a nursery of workers; a crash stops it.

    MONGODB_URI=mongodb://... python examples/trio_order_workers.py

The server must support change streams (a replica set, or anyodm's embedded test server;
``./dev demo``'s server does).  What it shows:

1. A dispatcher watches new orders (``engine.watch(Order, Order.status == "new")``) and
   hands them to three workers over a trio channel while another task inserts them.
   Each processed order's resume token is stored, as a service would store it.
2. A worker crashes on a bad order.  trio cancels the nursery: the dispatcher's stream
   stops (its thread wakes within ``max_await_time``) and closes its server cursor.
3. Orders placed while nobody watched are picked up by a new stream started from the
   stored token: none lost, none twice.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

import trio
from bank import mongodb_uri_or_exit

from anyodm import Engine, Model

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

_started = time.monotonic()


class Order(Model):
    item: str
    status: str = "new"
    handled_by: str = ""


class OrderRejected(Exception):
    """A worker cannot handle an order."""


def say(who: str, message: str) -> None:
    print(f"[{time.monotonic() - _started:5.2f}s] {who:<10} {message}", flush=True)


class Shop:
    """The dispatcher, the workers, and the resume token they keep."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.token: Mapping[str, Any] | None = None  # where a restart resumes
        self.processed: list[str] = []
        self.progress = trio.Event()  # set whenever an order was processed

    async def dispatcher(
        self,
        send: trio.MemorySendChannel[Order],
        resume: Mapping[str, Any] | None = None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with (
            send,
            self.engine.watch(Order, Order.status == "new", resume_after=resume) as changes,
        ):
            say("dispatcher", "watching new orders")
            task_status.started()  # the stream is open: later orders will be seen
            async for change in changes:
                if change.operation == "insert" and change.document is not None:
                    await send.send(change.document)
                    self.token = change.resume_token

    async def worker(self, name: str, receive: trio.MemoryReceiveChannel[Order]) -> None:
        async with receive:
            async for order in receive:
                if order.item == "broken":
                    say(name, f"cannot handle {order.item!r}: crashing")
                    raise OrderRejected(order.item)
                order.status = "done"
                order.handled_by = name
                # Once a save is sent it is stored (anyodm never abandons its thread),
                # so finish the unit of work even if a crash elsewhere cancels us now:
                # otherwise the order would be done in the database but not counted.
                with trio.CancelScope(shield=True):
                    await self.engine.save(order)
                    self.processed.append(order.item)
                self.progress.set()
                say(name, f"processed {order.item}")

    async def run_until(self, expected: set[str], produce: Any) -> None:
        """Dispatcher (resuming from the stored token) + 3 workers + ``produce`` in a
        nursery, until the ``expected`` orders were processed; then the nursery is
        cancelled."""
        send, receive = trio.open_memory_channel[Order](0)
        async with trio.open_nursery() as nursery:
            await nursery.start(self.dispatcher, send, self.token)
            for n in range(3):
                nursery.start_soon(self.worker, f"worker-{n}", receive.clone())
            receive.close()
            nursery.start_soon(produce)
            with trio.fail_after(60):  # an example must never hang
                while not expected <= set(self.processed):
                    await self.progress.wait()
                    self.progress = trio.Event()
            nursery.cancel_scope.cancel()


async def open_cursors(engine: Engine) -> int:
    status = await trio.to_thread.run_sync(engine.client.admin.command, "serverStatus")
    return int(status.get("metrics", {}).get("cursor", {}).get("open", {}).get("total", 0))


async def place(engine: Engine, items: list[str]) -> None:
    for item in items:
        await engine.save(Order(item=item))
        say("shop", f"order placed: {item}")


async def run(uri: str, database: str = "anyodm_example_orders") -> bool:
    ok = True
    async with Engine(uri, database=database) as engine:
        await engine.remove(Order)
        shop = Shop(engine)
        cursors_before = await open_cursors(engine)

        print("== 1. a nursery of workers fed by a change stream")
        first = [f"book-{n}" for n in range(6)]
        await shop.run_until(set(first), lambda: place(engine, first))
        say("shop", f"processed {len(shop.processed)} orders: {sorted(shop.processed)}")

        print("\n== 2. a worker crashes: the stream is cancelled and closed")
        try:
            await shop.run_until({"never"}, lambda: place(engine, ["lamp", "broken"]))
        except ExceptionGroup as group:
            rejected, rest = group.split(OrderRejected)
            if rejected is None or rest is not None:
                raise
            say("nursery", f"raised {rejected.exceptions[0]!r}")
        left = await open_cursors(engine) - cursors_before
        say("shop", f"server cursors left open: {left}")
        ok &= left == 0

        print("\n== 3. orders placed while nobody watched; resume from the stored token")
        await place(engine, ["chair", "desk"])
        done_before = set(shop.processed)
        await shop.run_until({"chair", "desk"}, _nothing)
        picked = sorted(set(shop.processed) - done_before)
        say("shop", f"picked up after the restart: {picked}")
        twice = len(shop.processed) != len(set(shop.processed))
        ok &= not twice and {"chair", "desk"} <= set(picked)
        stored = await engine.count(Order, Order.status == "done")
        ok &= stored == len(shop.processed)
        print(
            f"{'PROVED' if not twice else 'FAILED'}: no order processed twice; "
            f"{'PROVED' if ok else 'FAILED'}: nothing lost, no cursor left"
        )
    return ok


async def _nothing() -> None:
    return None


def main() -> int:
    uri = mongodb_uri_or_exit()
    return 0 if trio.run(run, uri) else 1


if __name__ == "__main__":
    sys.exit(main())
