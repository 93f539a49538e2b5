"""Change streams by the driver's rules: resuming without loss, deadlines that are not
the end, classes of a polymorphic family, transactions, and closes that never wait
behind queued reads (S9)."""

from __future__ import annotations

from typing import Any

import anyio
import pymongo
import pytest
from pymongo.errors import OperationFailure

from anyodm import (
    ChangeEvent,
    CursorClosedError,
    Engine,
    InvalidOperationError,
    Model,
    SyncEngine,
)
from anyodm.testing.plugin import ArmFailPoint
from tests.references.family import Bike, Car, SportsCar, Vehicle

Client = pymongo.MongoClient[dict[str, Any]]

#: A ResumableChangeStreamError the driver resumes after (MongoDB labels such errors);
#: 234 (RetryChangeStream) is not a "not primary" code, which would make the driver
#: rediscover the server before resuming.
RESUMABLE = {"error_code": 234, "error_labels": ["ResumableChangeStreamError"]}
CURSOR_NOT_FOUND = {"error_code": 43}


class Note(Model):
    text: str
    n: int = 0


def open_cursors(client: Client) -> int:
    status = client.admin.command("serverStatus")
    return int(status.get("metrics", {}).get("cursor", {}).get("open", {}).get("total", 0))


def texts(changes: list[ChangeEvent[Note]]) -> list[str]:
    return [c.document.text for c in changes if c.document is not None]


async def take(changes: Any, n: int) -> list[Any]:
    out = []
    with anyio.fail_after(30):
        async for change in changes:
            out.append(change)
            if len(out) == n:
                break
    return out


# -- resume rules (the driver's; the server fails the getMore) ------------------------


@pytest.mark.parametrize("error", [RESUMABLE, CURSOR_NOT_FOUND], ids=["labelled", "43"])
async def test_an_error_before_the_first_event_loses_nothing(
    anyodm_engine: Engine, failpoint: ArmFailPoint, mongo_client: Client, error: dict[str, Any]
) -> None:
    """Resumed from the stream's start (startAtOperationTime / postBatchResumeToken),
    not from "now": the write made before the failure is delivered, once."""
    engine = anyodm_engine
    before = open_cursors(mongo_client)
    async with engine.watch(Note) as changes:
        await engine.save(Note(text="written before the failure"))
        failpoint(["getMore"], **error)
        await engine.save(Note(text="after"))
        got = await take(changes, 2)
    assert texts(got) == ["written before the failure", "after"]
    assert open_cursors(mongo_client) == before


async def test_an_error_between_batches_resumes_after_the_last_event(
    anyodm_engine: Engine, failpoint: ArmFailPoint
) -> None:
    engine = anyodm_engine
    async with engine.watch(Note, batch_size=2) as changes:
        for n in range(3):
            await engine.save(Note(text=f"a{n}"))
        first = await take(changes, 3)
        failpoint(["getMore"], **RESUMABLE)
        for n in range(3):
            await engine.save(Note(text=f"b{n}"))
        second = await take(changes, 3)
    assert texts(first) + texts(second) == ["a0", "a1", "a2", "b0", "b1", "b2"]


async def test_an_error_after_an_empty_batch_resumes_from_the_batch_token(
    anyodm_engine: Engine, failpoint: ArmFailPoint
) -> None:
    engine = anyodm_engine
    async with engine.watch(Note, max_await_time=0.05) as changes:
        with anyio.move_on_after(0.3):  # empty batches: the postBatchResumeToken moves
            await take(changes, 1)
        await engine.save(Note(text="x"))
        failpoint(["getMore"], **RESUMABLE)
        [got] = await take(changes, 1)
    assert texts([got]) == ["x"]


async def test_an_error_at_the_start_of_a_start_after_stream(
    anyodm_engine: Engine, failpoint: ArmFailPoint
) -> None:
    engine = anyodm_engine
    async with engine.watch(Note) as changes:
        await engine.save(Note(text="old"))
        [old] = await take(changes, 1)
    await engine.save(Note(text="new"))
    failpoint(["getMore"], **RESUMABLE)
    async with engine.watch(Note, start_after=old.resume_token) as changes:
        got = await take(changes, 1)
    assert texts(got) == ["new"]


async def test_a_non_resumable_error_ends_the_stream_clearly(
    anyodm_engine: Engine, failpoint: ArmFailPoint, mongo_client: Client
) -> None:
    engine = anyodm_engine
    before = open_cursors(mongo_client)
    async with engine.watch(Note) as changes:
        failpoint(["getMore"], error_code=2)  # BadValue: not resumable
        with pytest.raises(OperationFailure):
            await take(changes, 1)
        with pytest.raises(CursorClosedError, match="ended by an error"):
            await take(changes, 1)
    assert open_cursors(mongo_client) == before


def test_sync_stream_resumes_by_the_same_rules(
    anyodm_sync_engine: SyncEngine, failpoint: ArmFailPoint
) -> None:
    engine = anyodm_sync_engine
    with engine.watch(Note) as changes:
        engine.save(Note(text="one"))
        failpoint(["getMore"], **CURSOR_NOT_FOUND)
        first = next(changes)
        engine.save(Note(text="two"))
        failpoint(["getMore"], **RESUMABLE)
        second = next(changes)
    assert texts([first, second]) == ["one", "two"]


# -- a deadline on one wait is not the end ---------------------------------------------


async def test_a_deadline_around_one_step_leaves_the_stream_usable(
    anyodm_engine: Engine, mongo_client: Client
) -> None:
    engine = anyodm_engine
    before = open_cursors(mongo_client)
    async with engine.watch(Note, max_await_time=5) as changes:
        for _ in range(3):  # each cuts a getMore short: the driver resumes next time
            with anyio.move_on_after(0.05) as scope:
                await changes.__anext__()
            assert scope.cancelled_caught
        await engine.save(Note(text="after the deadlines"))
        got = await take(changes, 1)
    assert texts(got) == ["after the deadlines"]
    assert open_cursors(mongo_client) == before


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_timeout_around_one_step_leaves_the_stream_usable(
    anyodm_engine: Engine,
) -> None:
    import asyncio

    engine = anyodm_engine
    async with engine.watch(Note, max_await_time=1) as changes:
        with pytest.raises(TimeoutError):  # native: waits for the getMore (max_await_time)
            async with asyncio.timeout(0.05):
                await changes.__anext__()
        await engine.save(Note(text="x"))
        got = await take(changes, 1)
    assert texts(got) == ["x"]


async def test_a_stream_without_async_with_is_closed_by_a_cancelled_step(
    anyodm_engine: Engine, mongo_client: Client
) -> None:
    """Nothing else would close it; the next step says so instead of ending quietly."""
    engine = anyodm_engine
    before = open_cursors(mongo_client)
    changes = engine.watch(Note)
    with anyio.move_on_after(0.1):
        async for _change in changes:
            pass
    assert open_cursors(mongo_client) == before
    with pytest.raises(CursorClosedError, match="closed by a failed read"):
        await changes.__anext__()


def test_sync_timeout_around_one_step_leaves_the_stream_usable(
    anyodm_sync_engine: SyncEngine,
) -> None:
    engine = anyodm_sync_engine
    with engine.watch(Note, max_await_time=5) as changes:
        with pytest.raises(pymongo.errors.PyMongoError) as raised, pymongo.timeout(0.05):
            next(changes)
        assert raised.value.timeout
        engine.save(Note(text="x"))
        got = next(changes)
    assert texts([got]) == ["x"]


# -- a polymorphic family: each class sees its own documents ---------------------------


async def test_watching_a_subclass_sees_only_its_class(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    async with engine.watch(Car) as changes:
        await engine.save(Bike(name="bmx"))
        car = await engine.save(Car(name="beetle"))
        await engine.save(Bike(name="road"))
        car.doors = 2
        await engine.save(car)
        await engine.save(SportsCar(name="gt"))
        got = await take(changes, 3)
    assert [(c.operation, type(c.document).__name__) for c in got] == [
        ("insert", "Car"),
        ("update", "Car"),
        ("insert", "SportsCar"),
    ]
    assert got[1].document is not None
    assert got[1].document.doors == 2


async def test_watching_the_base_sees_the_whole_family(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    async with engine.watch(Vehicle) as changes:
        await engine.save(Bike(name="bmx"))
        await engine.save(Car(name="beetle"))
        got = await take(changes, 2)
    assert [type(c.document).__name__ for c in got] == ["Bike", "Car"]


def test_watching_subclasses_database_wide(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    with engine.watch([Bike, Note]) as changes:
        engine.save(Car(name="beetle"))
        engine.save(Bike(name="bmx"))
        engine.save(Note(text="n"))
        got = [next(changes), next(changes)]
    assert [type(c.document).__name__ for c in got] == ["Bike", "Note"]


async def test_a_document_that_does_not_fit_fails_its_event_alone(
    anyodm_engine: Engine, mongo_database: Any
) -> None:
    engine = anyodm_engine
    async with engine.watch(Note) as changes:
        await engine.save(Note(text="before"))
        mongo_database["note"].insert_one({"text": 12, "n": "not a number"})
        await engine.save(Note(text="after"))
        [before] = await take(changes, 1)
        with pytest.raises(Exception, match="does not fit model Note"):
            await changes.__anext__()
        bad_token = changes.resume_token
        [after] = await take(changes, 1)
    assert texts([before, after]) == ["before", "after"]
    async with engine.watch(Note, resume_after=bad_token) as changes:
        [again] = await take(changes, 1)
    assert texts([again]) == ["after"]


# -- transactions -----------------------------------------------------------------------


async def test_watch_inside_a_transaction_is_refused(anyodm_engine: Engine) -> None:
    async with anyodm_engine.transaction() as tx:
        with pytest.raises(InvalidOperationError, match=r"watch\(\).*transaction"):
            anyodm_engine.watch(Note, session=tx)


def test_sync_watch_inside_a_transaction_is_refused(anyodm_sync_engine: SyncEngine) -> None:
    with (
        anyodm_sync_engine.transaction() as tx,
        pytest.raises(InvalidOperationError, match=r"watch\(\).*transaction"),
    ):
        anyodm_sync_engine.watch(Note, session=tx)


# -- the driver state the reader reads ------------------------------------------------


def test_one_read_takes_every_event_the_driver_holds(anyodm_sync_engine: SyncEngine) -> None:
    """The reader reads two pieces of PyMongo's private state (buffered events, current
    cursor); if a PyMongo release moves them, this fails (the stream would still work,
    one event per read, and dropped cursors would wait for the server's timeout)."""
    from anyodm.core.changes import _buffered, _cursor_id, _driver_cursor

    engine = anyodm_sync_engine
    with engine.watch(Note) as changes:
        reader = changes._reader
        engine.save_all([Note(text=f"n{i}") for i in range(5)])
        batch = reader.next_batch()  # one getMore brings the five: one read takes them
        stream = reader._stream
        assert stream is not None
        assert _cursor_id(_driver_cursor(stream)) > 0
        assert _buffered(stream) == 0
    assert len(batch) == 5
