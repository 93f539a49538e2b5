"""What only the async Engine promises: threads (S1), deadlines (S2), cursors (S6)."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pymongo
import pytest

from anyodm import Engine, SyncEngine
from tests.engine.models import Author

pytestmark = pytest.mark.anyio


async def test_a_find_blocked_on_the_server_does_not_stop_the_event_loop(
    anyodm_engine: Engine, failpoint: Any
) -> None:
    await anyodm_engine.save(Author(name="slow", age=1))
    failpoint(["find"], mode={"times": 1}, block_ms=1000)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.05)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        found = await anyodm_engine.find(Author)
        tg.cancel_scope.cancel()
    assert [a.name for a in found] == ["slow"]
    assert ticks >= 5  # ~20 expected in a second; the loop kept running


async def test_move_on_after_returns_at_the_deadline_of_a_blocked_find(
    anyodm_engine: Engine, failpoint: Any
) -> None:
    await anyodm_engine.save(Author(name="slow", age=1))
    failpoint(["find"], mode={"times": 1}, block_ms=3000)
    started = anyio.current_time()
    with anyio.move_on_after(0.3) as scope:
        await anyodm_engine.find(Author)
    elapsed = anyio.current_time() - started
    assert scope.cancelled_caught
    assert elapsed < 2.0  # the deadline reached the driver; the 3 s block did not


async def test_fail_after_raises_timeout_error_for_a_blocked_find_one(
    anyodm_engine: Engine, failpoint: Any
) -> None:
    failpoint(["find"], mode={"times": 1}, block_ms=3000)
    started = anyio.current_time()
    with pytest.raises(TimeoutError), anyio.fail_after(0.3):
        await anyodm_engine.find_one(Author)
    assert anyio.current_time() - started < 2.0


async def test_a_deadline_already_past_raises_at_once(anyodm_engine: Engine) -> None:
    with anyio.move_on_after(0) as scope:
        await anyodm_engine.count(Author)
    assert scope.cancelled_caught


async def test_many_concurrent_tasks_never_exceed_the_thread_limiter(
    mongodb_uri: str, mongo_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anyodm.core import operations

    running = peak = 0
    lock = threading.Lock()
    real_count = operations.count

    def counting(*args: Any) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real_count(*args)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(operations, "count", counting)
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongodb_uri)
    engine = Engine(client=client, database=mongo_database.name, max_threads=8)
    try:
        async with anyio.create_task_group() as tg:
            for _ in range(1000):
                tg.start_soon(engine.count, Author)
    finally:
        client.close()
    assert 1 <= peak <= 8


async def test_breaking_out_of_async_for_closes_the_server_cursor(watched: Any) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    async for _ in engine.find(Author):
        break
    assert await anyio.to_thread.run_sync(watched.last_cursor_closed)


async def test_an_exception_in_the_loop_body_closes_the_server_cursor(watched: Any) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    with pytest.raises(ZeroDivisionError):
        async for _ in engine.find(Author):
            1 / 0  # noqa: B018
    assert await anyio.to_thread.run_sync(watched.last_cursor_closed)


async def test_async_with_closes_the_server_cursor_before_continuing(watched: Any) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    async with engine.find(Author) as cursor:
        async for _ in cursor:
            break
    assert await anyio.to_thread.run_sync(watched.last_cursor_closed, 0.0)


async def test_cancelling_a_streaming_loop_closes_the_server_cursor(watched: Any) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    with anyio.CancelScope() as scope:
        async for _ in engine.find(Author):
            scope.cancel()
            await anyio.sleep(1)
    assert await anyio.to_thread.run_sync(watched.last_cursor_closed)


async def test_engine_owns_a_client_made_from_a_uri(mongodb_uri: str) -> None:
    async with Engine(mongodb_uri, database="anyodm_test_owned") as engine:
        assert await engine.count(Author) == 0
        client = engine.client
    with pytest.raises(pymongo.errors.InvalidOperation):
        client.admin.command("ping")


async def test_engine_leaves_a_given_client_open(mongo_client: Any) -> None:
    engine = Engine(client=mongo_client)
    await engine.aclose()
    mongo_client.admin.command("ping")


def test_an_async_client_is_refused_with_a_how_to() -> None:
    client: Any = pymongo.AsyncMongoClient("mongodb://localhost:1", connect=False)
    with pytest.raises(TypeError, match="MongoClient"):
        Engine(client=client)
    with pytest.raises(TypeError, match="synchronous"):
        SyncEngine(client=client)


async def test_unreachable_server_fails_within_its_selection_timeout() -> None:
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(
        "mongodb://127.0.0.1:9", serverSelectionTimeoutMS=300
    )
    engine = Engine(client=client)
    started = anyio.current_time()
    with pytest.raises(pymongo.errors.ServerSelectionTimeoutError):
        await engine.find_one(Author)
    assert anyio.current_time() - started < 5
    client.close()


async def test_unreachable_server_fails_within_an_anyio_deadline() -> None:
    client: pymongo.MongoClient[Any] = pymongo.MongoClient("mongodb://127.0.0.1:9")
    engine = Engine(client=client)
    started = anyio.current_time()
    with pytest.raises(TimeoutError), anyio.fail_after(0.5):
        await engine.find_one(Author)
    assert anyio.current_time() - started < 5
    client.close()
