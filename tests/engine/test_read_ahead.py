"""Async finds read one batch ahead: the next getMore is on the wire while a batch is
decoded, never more than one, never past the limit, stopped by a close or cancellation,
and not at all with one worker slot or in a session."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest
from pymongo import MongoClient, monitoring
from pymongo.errors import OperationFailure

from anyodm import DocumentParsingError, Engine, Model
from tests.engine.cursors import wait_until_closed

COUNT = 450
BATCH = 100
#: a generous bound for waits on events that arrive in milliseconds
WAIT = 10.0


class Tick(Model):
    """Calls ``ON_DECODE`` as each instance is made (in the decoding thread)."""

    n: int

    def model_post_init(self, context: Any) -> None:
        ON_DECODE(self.n)


def _nothing(n: int) -> None:
    pass


ON_DECODE: Callable[[int], None] = _nothing


class GetMores(monitoring.CommandListener):
    """The getMores started and finished, the documents of each reply, the cursor ids."""

    def __init__(self) -> None:
        self.started_count = 0
        self.succeeded_count = 0
        self.documents: list[int] = []
        self.cursor_ids: list[int] = []
        self.events: dict[int, threading.Event] = {}  # k-th getMore started

    def started_event(self, k: int) -> threading.Event:
        return self.events.setdefault(k, threading.Event())

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "getMore":
            self.started_count += 1
            self.started_event(self.started_count).set()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name in ("find", "aggregate", "getMore"):
            cursor = event.reply.get("cursor", {})
            self.documents.append(len(cursor.get("firstBatch", cursor.get("nextBatch", []))))
            if event.command_name != "getMore" and cursor.get("id"):
                self.cursor_ids.append(cursor["id"])
        if event.command_name == "getMore":
            self.succeeded_count += 1

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        if event.command_name == "getMore":
            self.succeeded_count += 1


class Ticks:
    def __init__(self, uri: str, database: str) -> None:
        self.commands = GetMores()
        self.client: MongoClient[Any] = MongoClient(uri, event_listeners=[self.commands])
        self.database = database
        self.client[database][Tick.__anyodm__.collection].insert_many(
            [{"n": i} for i in range(COUNT)]
        )
        self.engine = Engine(client=self.client, database=database)

    def closed(self) -> bool:
        return wait_until_closed(
            self.client, self.database, Tick.__anyodm__.collection, self.commands.cursor_ids[-1]
        )


@pytest.fixture
def ticks(mongodb_uri: str, mongo_database: Any) -> Iterator[Ticks]:
    global ON_DECODE
    ticks = Ticks(mongodb_uri, mongo_database.name)
    try:
        yield ticks
    finally:
        ON_DECODE = _nothing
        ticks.client.close()


def _block_decoding_at(n: int, until: threading.Event, waited: list[bool]) -> None:
    """Make the decoding of document ``n`` wait (bounded) for ``until``."""
    global ON_DECODE

    def on_decode(m: int) -> None:
        if m == n:
            waited.append(until.wait(WAIT))

    ON_DECODE = on_decode


async def test_the_next_batch_is_read_while_one_is_decoded(ticks: Ticks) -> None:
    # The first batch cannot finish decoding until the second batch's getMore started:
    # without a read ahead in another thread, this would wait out WAIT and fail.
    waited: list[bool] = []
    _block_decoding_at(0, ticks.commands.started_event(1), waited)
    found = [t.n async for t in ticks.engine.find(Tick, sort=Tick.n, batch_size=BATCH)]
    assert found == list(range(COUNT))
    assert waited == [True]


async def test_awaiting_a_find_with_batch_size_reads_ahead(ticks: Ticks) -> None:
    waited: list[bool] = []
    _block_decoding_at(BATCH, ticks.commands.started_event(2), waited)  # the second batch
    with anyio.fail_after(60):  # a deadline bounds each read, as without read-ahead
        found = await ticks.engine.find(Tick, sort=Tick.n, batch_size=BATCH)
    assert [t.n for t in found] == list(range(COUNT))
    assert waited == [True]
    assert ticks.commands.documents == [BATCH] * (COUNT // BATCH) + [COUNT % BATCH]


async def test_at_most_one_batch_is_in_flight_or_held(ticks: Ticks) -> None:
    decoded: list[int] = []
    global ON_DECODE
    ON_DECODE = decoded.append
    commands = ticks.commands
    cursor = ticks.engine.find(Tick, sort=Tick.n, batch_size=BATCH)
    async with cursor:
        i = 0
        async for tick in cursor:
            assert tick.n == i
            current = i // BATCH  # the batch being consumed
            # While the caller holds a document, nothing runs: the read of the batch
            # after this one's has finished, and the one after it has not started.
            assert commands.started_count == commands.succeeded_count
            assert commands.started_count <= current + 1
            # Decoded: up to the end of this batch; held: this batch and the next one.
            assert len(decoded) <= (current + 1) * BATCH
            held = len(cursor._batch) + cursor._pipeline.held_ahead
            assert held <= 2 * BATCH
            i += 1
    assert i == COUNT
    assert commands.started_count == COUNT // BATCH


@pytest.mark.parametrize("how", ["stream", "await"])
async def test_the_limit_is_never_passed(ticks: Ticks, how: str) -> None:
    limit = 2 * BATCH + BATCH // 2
    cursor = ticks.engine.find(Tick, sort=Tick.n, limit=limit, batch_size=BATCH)
    found = [t.n async for t in cursor] if how == "stream" else [t.n for t in await cursor]
    assert found == list(range(limit))
    assert sum(ticks.commands.documents) == limit  # no document fetched past the limit
    assert ticks.commands.started_count == 2


async def test_cancelling_mid_fetch_closes_the_cursor_and_stops_reading(ticks: Ticks) -> None:
    # The second batch is being decoded (held at its 150th document) while the third is
    # read ahead; the caller is cancelled then.
    release = threading.Event()
    waited: list[bool] = []
    _block_decoding_at(BATCH + BATCH // 2, release, waited)
    seen: list[int] = []
    engine = ticks.engine

    async def cancel_at_second_read_ahead(scope: anyio.CancelScope) -> None:
        started = await anyio.to_thread.run_sync(ticks.commands.started_event(2).wait, WAIT)
        assert started
        scope.cancel()
        release.set()

    async with anyio.create_task_group() as group:
        group.start_soon(cancel_at_second_read_ahead, group.cancel_scope)
        async for tick in engine.find(Tick, sort=Tick.n, batch_size=BATCH):
            seen.append(tick.n)
    assert seen == list(range(BATCH))
    assert waited == [True]
    # The read in flight completed in its thread; then the cursor was killed, and no
    # thread of the engine runs any more.
    assert ticks.commands.started_count == ticks.commands.succeeded_count == 2
    assert engine.thread_limiter.borrowed_tokens == 0
    assert ticks.closed()


async def test_a_document_failing_validation_is_raised_as_itself(ticks: Ticks) -> None:
    collection = ticks.client[ticks.database][Tick.__anyodm__.collection]
    collection.update_one({"n": BATCH + 7}, {"$set": {"n": "not a number"}})
    seen: list[int] = []
    with pytest.raises(DocumentParsingError):
        async for tick in ticks.engine.find(Tick, sort=Tick.id, batch_size=BATCH):
            seen.append(tick.n)
    assert seen == list(range(BATCH))  # the second batch failed, and nothing of it came
    assert ticks.engine.thread_limiter.borrowed_tokens == 0
    assert ticks.closed()


async def test_one_worker_slot_reads_each_batch_when_asked(ticks: Ticks) -> None:
    engine = Engine(client=ticks.client, database=ticks.database, max_threads=1)
    commands = ticks.commands
    i = 0
    async for tick in engine.find(Tick, sort=Tick.n, batch_size=BATCH):
        assert tick.n == i
        assert commands.started_count == i // BATCH  # no getMore before it is needed
        i += 1
    assert i == COUNT
    found = await engine.find(Tick, sort=Tick.n, batch_size=BATCH)
    assert [t.n for t in found] == list(range(COUNT))


async def test_a_find_in_a_session_reads_each_batch_when_asked(ticks: Ticks) -> None:
    commands = ticks.commands
    async with ticks.engine.session() as session:
        i = 0
        async for tick in session.find(Tick, sort=Tick.n, batch_size=BATCH):
            assert tick.n == i
            assert commands.started_count == i // BATCH
            i += 1
        assert i == COUNT
        assert len(await session.find(Tick, batch_size=BATCH)) == COUNT


async def test_a_failed_read_ahead_raises_after_the_batch_before_it(
    ticks: Ticks, failpoint: Any
) -> None:
    failpoint(["getMore"], error_code=2)  # the read ahead of the second batch fails
    seen: list[int] = []
    with pytest.raises(OperationFailure):
        async for tick in ticks.engine.find(Tick, sort=Tick.n, batch_size=BATCH):
            seen.append(tick.n)
    assert seen == list(range(BATCH))  # the first batch came whole, then the error
    assert ticks.engine.thread_limiter.borrowed_tokens == 0


async def test_asyncios_own_cancel_mid_fetch_closes_the_cursor(
    ticks: Ticks, anyio_backend: str
) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("task.cancel() is asyncio's own cancellation")
    import asyncio

    release = threading.Event()
    waited: list[bool] = []
    _block_decoding_at(BATCH + BATCH // 2, release, waited)
    seen: list[int] = []

    async def consume() -> None:
        async for tick in ticks.engine.find(Tick, sort=Tick.n, batch_size=BATCH):
            seen.append(tick.n)

    task = asyncio.ensure_future(consume())
    assert await anyio.to_thread.run_sync(ticks.commands.started_event(2).wait, WAIT)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == list(range(BATCH))
    assert waited == [True]
    assert ticks.commands.started_count == ticks.commands.succeeded_count == 2
    assert ticks.engine.thread_limiter.borrowed_tokens == 0
    assert ticks.closed()


async def test_a_stream_without_batch_size_reads_each_batch_when_asked(ticks: Ticks) -> None:
    commands = ticks.commands
    i = 0
    async for tick in ticks.engine.find(Tick, sort=Tick.n):  # 100-document batches
        assert tick.n == i
        assert commands.started_count == i // 100
        i += 1
    assert i == COUNT
