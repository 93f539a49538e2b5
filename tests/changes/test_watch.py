"""Change streams as workers: typed events, filters, transactions, resuming, and
cancellation that always ends in time with no thread or server cursor left behind."""

from __future__ import annotations

import random
import time
from typing import Any

import anyio
import pymongo
import pytest

from anyodm import ChangeEvent, Engine, Field, Model, Reference, SyncEngine

Client = pymongo.MongoClient[dict[str, Any]]

#: Generous: the documented bound is max_await_time (0.25 s) plus a round trip and the
#: cleanup; a loaded 2-core machine may be slow, but never this slow.
CANCEL_BOUND = 5.0


class Order(Model):
    item: str
    qty: int = 0
    customer: str = Field(default="", key_name="who")


class Customer(Model):
    name: str


def open_cursors(client: Client) -> int:
    """Server cursors open now (the embedded server counts its change streams here)."""
    status = client.admin.command("serverStatus")
    return int(status.get("metrics", {}).get("cursor", {}).get("open", {}).get("total", 0))


def assert_idle(engine: Engine) -> None:
    assert engine.thread_limiter.borrowed_tokens == 0


async def next_events(changes: Any, n: int) -> list[ChangeEvent[Any]]:
    out = []
    async for change in changes:
        out.append(change)
        if len(out) == n:
            break
    return out


# -- what arrives --------------------------------------------------------------------


async def test_typed_events_in_order(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    async with engine.watch(Order) as changes:
        order = await engine.save(Order(item="pen", qty=1, customer="ann"))
        order.qty = 2
        order.customer = "bob"
        await engine.save(order)
        engine.get_collection(Order).replace_one({"_id": order.id}, {"item": "ink"})
        engine.get_collection(Order).update_one({"_id": order.id}, {"$unset": {"item": 1}})
        engine.get_collection(Order).delete_one({"_id": order.id})
        events = await next_events(changes, 5)
    assert [e.operation for e in events] == ["insert", "update", "replace", "update", "delete"]
    insert, update, replace, unset, delete = events
    assert insert.document == Order(id=order.id, item="pen", qty=1, customer="ann")
    assert isinstance(insert.document, Order)
    assert insert.document_key == {"_id": order.id}
    assert update.document is None  # no updateLookup asked
    assert update.updated_fields == {"qty": 2, "customer": "bob"}  # Python names
    assert replace.document == Order(id=order.id, item="ink")
    assert unset.removed_fields == ["item"]
    assert delete.document is None
    assert delete.document_key == {"_id": order.id}
    assert changes.resume_token == delete.resume_token
    assert all(e.model is Order and e.collection == "order" for e in events)


async def test_update_lookup_parses_the_document(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    async with engine.watch(Order, full_document="updateLookup") as changes:
        order = await engine.save(Order(item="pen"))
        order.qty = 7
        await engine.save(order)
        _, update = await next_events(changes, 2)
    assert update.document == Order(id=order.id, item="pen", qty=7)


async def test_a_query_filters_the_stream(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    async with engine.watch(Order, Order.qty >= 5) as changes:
        await engine.save_all([Order(item=f"o{n}", qty=n) for n in range(10)])
        events = await next_events(changes, 5)
    assert [e.document.qty for e in events if e.document] == [5, 6, 7, 8, 9]


async def test_watching_several_models_of_the_database(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    async with engine.watch([Order, Customer]) as changes:
        engine.get_collection(Order).database.other.insert_one({"x": 1})  # not watched
        await engine.save(Customer(name="ann"))
        await engine.save(Order(item="pen"))
        customer, order = await next_events(changes, 2)
    assert isinstance(customer.document, Customer)
    assert customer.model is Customer
    assert isinstance(order.document, Order)
    assert order.collection == "order"


async def test_committed_transactions_appear_aborted_ones_never(anyodm_engine: Engine) -> None:
    engine = anyodm_engine

    class Boom(Exception):
        pass

    async with engine.watch(Order) as changes:
        async with engine.transaction() as tx:
            await tx.save(Order(item="committed-1"))
            await tx.save(Order(item="committed-2"))
        with pytest.raises(Boom):
            async with engine.transaction() as tx:
                await tx.save(Order(item="aborted"))
                raise Boom
        await engine.save(Order(item="after"))
        events = await next_events(changes, 3)
    assert [e.document.item for e in events if e.document] == [
        "committed-1",
        "committed-2",
        "after",
    ]


# -- resuming -------------------------------------------------------------------------


async def test_resuming_from_a_stored_token_yields_exactly_what_followed(
    anyodm_engine: Engine,
) -> None:
    engine = anyodm_engine
    async with engine.watch(Order) as changes:
        await engine.save_all([Order(item=f"first-{n}") for n in range(3)])
        await next_events(changes, 2)
        stored = changes.resume_token  # after first-1; first-2 was read, not returned
    assert stored is not None
    await engine.save_all([Order(item=f"later-{n}") for n in range(2)])
    for option in ("resume_after", "start_after"):
        async with engine.watch(Order, **{option: stored}) as resumed:
            events = await next_events(resumed, 3)
        assert [e.document.item for e in events if e.document] == [
            "first-2",
            "later-0",
            "later-1",
        ]


# -- cancellation ---------------------------------------------------------------------


async def _cancel_at(engine: Engine, client: Client, point: str, delay: float) -> float:
    """Run a watching worker, cancel it at ``point``; return how long the cancel took."""
    before = open_cursors(client)
    ready = anyio.Event()
    handling = anyio.Event()

    async def worker() -> None:
        async with engine.watch(Order) as changes:
            ready.set()
            async for _change in changes:
                handling.set()
                await anyio.sleep_forever()  # a handler that is still running

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        await ready.wait()
        if point == "waiting":
            while engine.thread_limiter.borrowed_tokens == 0:  # the getMore's thread
                await anyio.sleep(0)
        elif point == "handler":
            await engine.save(Order(item="wake"))
            await handling.wait()
        elif point == "random":
            await anyio.sleep(delay)
        began = anyio.current_time()
        tg.cancel_scope.cancel()
    took = anyio.current_time() - began
    assert_idle(engine)
    assert open_cursors(client) == before
    return took


@pytest.mark.parametrize("point", ["before-first-event", "waiting", "handler"])
async def test_cancellation_ends_in_time_leaving_nothing(
    anyodm_engine: Engine, mongo_client: Client, point: str
) -> None:
    took = await _cancel_at(anyodm_engine, mongo_client, point, 0.0)
    assert took < CANCEL_BOUND


async def test_cancellation_at_random_points(anyodm_engine: Engine, mongo_client: Client) -> None:
    rng = random.Random(13)
    for _ in range(8):
        took = await _cancel_at(anyodm_engine, mongo_client, "random", rng.uniform(0, 0.4))
        assert took < CANCEL_BOUND


async def test_a_deadline_during_get_more_closes_the_server_cursor(
    anyodm_engine: Engine, mongo_client: Client
) -> None:
    """The deadline cuts a getMore short (the driver then forgets the cursor without
    killCursors): the stream kills it itself."""
    engine = anyodm_engine
    before = open_cursors(mongo_client)
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.5):
            async with engine.watch(Order, max_await_time=30) as changes:
                async for _change in changes:
                    pass
    assert_idle(engine)
    assert open_cursors(mongo_client) == before


async def test_a_failing_handler_closes_the_stream(
    anyodm_engine: Engine, mongo_client: Client
) -> None:
    engine = anyodm_engine
    before = open_cursors(mongo_client)

    class HandlerFailed(Exception):
        pass

    with pytest.raises(HandlerFailed):
        async with engine.watch(Order) as changes:
            await engine.save(Order(item="x"))
            async for _change in changes:
                raise HandlerFailed
    assert open_cursors(mongo_client) == before


# -- bad input ------------------------------------------------------------------------


def test_bad_arguments_are_refused_before_anything_is_sent(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    with pytest.raises(TypeError, match="watch"):
        engine.watch(Order(item="x"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="full_document"):
        engine.watch(Order, full_document="everything")
    with pytest.raises(ValueError, match="resume_after or start_after"):
        engine.watch(Order, resume_after={"_data": "1"}, start_after={"_data": "1"})
    with pytest.raises(TypeError, match="resume token"):
        engine.watch(Order, resume_after="token")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="queries"):
        engine.watch([Order, Customer], Order.qty > 1)


# -- the sync engine ------------------------------------------------------------------


def test_sync_stream_typed_in_order_and_resumable(
    anyodm_sync_engine: SyncEngine, mongo_client: Client
) -> None:
    engine = anyodm_sync_engine
    before = open_cursors(mongo_client)
    with engine.watch(Order) as changes:
        order = engine.save(Order(item="pen"))
        order.qty = 3
        engine.save(order)
        engine.delete(order)
        insert, update, delete = next(changes), next(changes), next(changes)
        assert open_cursors(mongo_client) == before + 1
        assert changes.try_next() is None
    assert open_cursors(mongo_client) == before
    assert insert.document == Order(id=order.id, item="pen")
    assert update.updated_fields == {"qty": 3}
    assert delete.operation == "delete"
    with engine.watch(Order, resume_after=insert.resume_token) as resumed:
        assert [next(resumed).operation, next(resumed).operation] == ["update", "delete"]


def test_sync_stream_loop_left_by_break(
    anyodm_sync_engine: SyncEngine, mongo_client: Client
) -> None:
    engine = anyodm_sync_engine
    before = open_cursors(mongo_client)
    began = time.monotonic()
    with engine.watch(Order, max_await_time=0.05) as changes:
        engine.save(Order(item="a"))
        for change in changes:
            assert change.document is not None
            break
    assert time.monotonic() - began < 60  # returned (no hang), whatever the load
    assert open_cursors(mongo_client) == before


# -- adversaries ----------------------------------------------------------------------


async def test_two_tasks_sharing_a_stream_see_each_event_once(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    seen: list[str] = []
    async with engine.watch(Order, max_await_time=0.05) as changes:

        async def consume() -> None:
            async for change in changes:
                assert change.document is not None
                seen.append(change.document.item)
                if len(seen) >= 20:
                    break

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            tg.start_soon(consume)
            await engine.save_all([Order(item=f"o{n:02}") for n in range(20)])
            with anyio.fail_after(60):
                while len(seen) < 20:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert sorted(seen) == [f"o{n:02}" for n in range(20)]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_task_cancel_waits_for_the_thread(
    anyodm_engine: Engine, mongo_client: Client
) -> None:
    import asyncio

    engine = anyodm_engine
    before = open_cursors(mongo_client)
    opened = asyncio.Event()

    async def worker() -> None:
        async with engine.watch(Order, max_await_time=0.5) as changes:
            opened.set()
            async for _change in changes:
                pass

    task = asyncio.create_task(worker())
    await opened.wait()
    while engine.thread_limiter.borrowed_tokens == 0:  # the getMore is running
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_idle(engine)
    assert open_cursors(mongo_client) == before


class Shelf(Model):
    label: str


class Book(Model):
    title: str
    shelf: Shelf = Reference()


def test_a_model_with_references_gets_them_loaded(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    with engine.watch(Book) as changes:
        book = engine.save(Book(title="Dune", shelf=Shelf(label="sf")))
        change = next(changes)
    assert change.document == book
    assert change.document is not None
    assert change.document.shelf.label == "sf"


def test_sync_deadline_during_get_more_closes_the_server_cursor(
    anyodm_sync_engine: SyncEngine, mongo_client: Client
) -> None:
    engine = anyodm_sync_engine
    before = open_cursors(mongo_client)
    with (
        pytest.raises(pymongo.errors.PyMongoError) as raised,
        engine.watch(Order, max_await_time=30) as changes,
        pymongo.timeout(0.5),
    ):
        next(changes)
    assert raised.value.timeout
    assert open_cursors(mongo_client) == before


async def test_a_stream_in_a_session_takes_turns_with_its_operations(
    anyodm_engine: Engine, mongo_client: Client
) -> None:
    engine = anyodm_engine
    before = open_cursors(mongo_client)
    async with engine.session() as session, engine.watch(Order, session=session) as changes:
        await session.save(Order(item="in-session"))
        [change] = await next_events(changes, 1)
    assert change.document is not None
    assert change.document.item == "in-session"
    assert open_cursors(mongo_client) == before


async def test_a_dropped_stream_closes_its_cursor(
    anyodm_engine: Engine, mongo_client: Client
) -> None:
    import gc

    engine = anyodm_engine
    before = open_cursors(mongo_client)
    changes = engine.watch(Order)
    await changes.open()
    await engine.save(Order(item="x"))
    async for _change in changes:  # left without closing
        break
    del changes, _change
    gc.collect()
    with anyio.fail_after(30):
        while open_cursors(mongo_client) != before:  # the kill runs in its own thread
            await anyio.sleep(0.01)


async def test_one_thread_shared_by_a_stream_and_writes(
    mongo_client: Client, mongo_database: Any
) -> None:
    """max_threads=1: the stream's getMore and the writes take turns on the one slot;
    cancelling still closes the cursor (on the capacity kept for cleanup)."""
    engine = Engine(client=mongo_client, database=mongo_database.name, max_threads=1)
    before = open_cursors(mongo_client)
    seen: list[str] = []
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            async with engine.watch(Order) as changes:
                async for change in changes:
                    assert change.document is not None
                    seen.append(change.document.item)
                    if len(seen) == 5:
                        tg.cancel_scope.cancel()

        tg.start_soon(watch)
        with anyio.fail_after(60):
            while engine.thread_limiter.borrowed_tokens == 0:  # the stream is open
                await anyio.sleep(0)
            for n in range(5):
                await engine.save(Order(item=f"o{n}"))
            await anyio.sleep_forever()
    assert seen == [f"o{n}" for n in range(5)]
    assert_idle(engine)
    assert open_cursors(mongo_client) == before


@pytest.mark.embedded_only("kills the stream's cursor from another session")
def test_a_resumable_error_resumes_once_from_the_last_token(
    anyodm_sync_engine: SyncEngine, mongo_client: Client
) -> None:
    engine = anyodm_sync_engine
    with engine.watch(Order) as changes:
        engine.save(Order(item="before"))
        first = next(changes)
        engine.save(Order(item="after"))
        cursor_id = changes._reader._seen.cursor_id  # test-only peek
        killed = engine.database.command("killCursors", "order", cursors=[cursor_id])
        assert killed["cursorsKilled"] == [cursor_id]
        change = next(changes)  # CursorNotFound: the driver reopens from `first` once
        assert changes._reader._seen.cursor_id != cursor_id
    assert first.document is not None
    assert first.document.item == "before"
    assert change.document is not None
    assert change.document.item == "after"
