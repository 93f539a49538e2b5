"""The embedded server's ``failCommand`` reaches getMore and change-stream aggregates.

mongoeco fires its fail point only for the commands it runs through its database
command path; ``anyodm/testing/_fail_command_patch.py`` makes it fire for ``getMore``
(every cursor) and for ``aggregate`` with ``$changeStream`` too, before the command runs,
as MongoDB does: the error arrives as MongoDB's would and the cursor stays open.
"""

from __future__ import annotations

import importlib.metadata
import time
from typing import Any

import anyio
import pytest
from pymongo.errors import CursorNotFound, OperationFailure

from anyodm import Engine, Model
from anyodm.testing import _fail_command_patch
from anyodm.testing.plugin import ArmFailPoint

pytestmark = pytest.mark.embedded_only("tests the embedded server's failCommand patch")

RESUMABLE = "ResumableChangeStreamError"


class Item(Model):
    n: int


def open_find(db: Any, count: int = 6, batch: int = 2) -> int:
    """A find cursor on ``db.things`` holding ``count`` documents; its id."""
    db.things.insert_many([{"_id": i} for i in range(count)])
    reply = db.command("find", "things", sort={"_id": 1}, batchSize=batch)
    assert [d["_id"] for d in reply["cursor"]["firstBatch"]] == list(range(batch))
    cursor_id: int = reply["cursor"]["id"]
    assert cursor_id
    return cursor_id


def get_more(db: Any, cursor_id: int, collection: str = "things", **options: Any) -> Any:
    return db.command("getMore", cursor_id, collection=collection, batchSize=2, **options)


def test_another_mongoeco_version_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9.9")
    assert _fail_command_patch.apply() == (
        "mongoeco 9.9.9 is not 4.11.0, which the patch was written for"
    )


def test_a_failed_get_more_raises_the_code_and_leaves_the_cursor_open(
    failpoint: ArmFailPoint, mongo_database: Any
) -> None:
    cursor_id = open_find(mongo_database)
    failpoint(["getMore"], error_code=43)
    with pytest.raises(CursorNotFound) as caught:
        get_more(mongo_database, cursor_id)
    assert caught.value.code == 43
    assert caught.value.details["commandName"] == "getMore"
    # The fail point fired before the command ran: the cursor is where it was.
    reply = get_more(mongo_database, cursor_id)
    assert [d["_id"] for d in reply["cursor"]["nextBatch"]] == [2, 3]


def test_error_labels_come_through_a_driver_cursor(
    failpoint: ArmFailPoint, mongo_database: Any
) -> None:
    mongo_database.things.insert_many([{"_id": i} for i in range(6)])
    cursor = mongo_database.things.find(batch_size=2)
    assert next(cursor) == {"_id": 0}
    failpoint(["getMore"], error_code=2, error_labels=[RESUMABLE, "RetryableWriteError"])
    with pytest.raises(OperationFailure) as caught:
        list(cursor)
    assert caught.value.code == 2
    assert caught.value.has_error_label(RESUMABLE)
    assert caught.value.has_error_label("RetryableWriteError")


def test_times_counts_get_mores(failpoint: ArmFailPoint, mongo_database: Any) -> None:
    cursor_id = open_find(mongo_database, count=8)
    failpoint(["getMore", "find"], mode={"times": 3}, error_code=2)
    for _ in range(2):
        with pytest.raises(OperationFailure):
            get_more(mongo_database, cursor_id)
    with pytest.raises(OperationFailure):
        mongo_database.things.find_one()  # the third: find and getMore share the count
    assert [d["_id"] for d in get_more(mongo_database, cursor_id)["cursor"]["nextBatch"]] == [
        2,
        3,
    ]
    assert mongo_database.things.find_one({"_id": 7}) == {"_id": 7}


def test_always_on_fails_every_get_more_until_disarmed(
    failpoint: ArmFailPoint, mongo_database: Any
) -> None:
    cursor_id = open_find(mongo_database)
    point = failpoint(["getMore"], mode="alwaysOn", error_code=2)
    for _ in range(3):
        with pytest.raises(OperationFailure):
            get_more(mongo_database, cursor_id)
    point.disable()
    assert get_more(mongo_database, cursor_id)["cursor"]["nextBatch"] == [{"_id": 2}, {"_id": 3}]


def test_block_connection_delays_a_get_more(failpoint: ArmFailPoint, mongo_database: Any) -> None:
    cursor_id = open_find(mongo_database)
    failpoint(["getMore"], block_ms=400, error_code=262, error_labels=["ExceededTimeLimit"])
    began = time.monotonic()
    with pytest.raises(OperationFailure) as caught:
        get_more(mongo_database, cursor_id)
    assert time.monotonic() - began >= 0.4
    assert caught.value.code == 262
    began = time.monotonic()
    assert get_more(mongo_database, cursor_id)["cursor"]["nextBatch"] == [{"_id": 2}, {"_id": 3}]
    assert time.monotonic() - began < 0.4  # once: the next one is not held


def test_the_namespace_filter_applies_to_get_more(
    failpoint: ArmFailPoint, mongo_database: Any
) -> None:
    cursor_id = open_find(mongo_database)
    mongo_database.others.insert_many([{"_id": i} for i in range(4)])
    other = mongo_database.command("find", "others", batchSize=1)["cursor"]["id"]
    failpoint(["getMore"], error_code=2, namespace=f"{mongo_database.name}.others")
    assert get_more(mongo_database, cursor_id)["cursor"]["nextBatch"] == [{"_id": 2}, {"_id": 3}]
    with pytest.raises(OperationFailure):
        get_more(mongo_database, other, collection="others")


def test_a_change_stream_get_more_fails_and_its_cursor_lives(
    failpoint: ArmFailPoint, mongo_database: Any
) -> None:
    reply = mongo_database.command(
        "aggregate", "things", pipeline=[{"$changeStream": {}}], cursor={}
    )
    cursor_id = reply["cursor"]["id"]
    mongo_database.things.insert_one({"_id": "written"})
    failpoint(["getMore"], error_code=43, error_labels=[RESUMABLE])
    with pytest.raises(CursorNotFound) as caught:
        get_more(mongo_database, cursor_id, maxTimeMS=50)
    assert caught.value.has_error_label(RESUMABLE)
    batch = get_more(mongo_database, cursor_id, maxTimeMS=50)["cursor"]["nextBatch"]
    assert [event["documentKey"] for event in batch] == [{"_id": "written"}]
    mongo_database.command("killCursors", "things", cursors=[cursor_id])


def test_a_change_stream_aggregate_fails(failpoint: ArmFailPoint, mongo_database: Any) -> None:
    failpoint(["aggregate"], error_code=2, error_labels=["SomeLabel"])
    with pytest.raises(OperationFailure) as caught:
        mongo_database.things.watch()
    assert caught.value.code == 2
    assert caught.value.has_error_label("SomeLabel")
    with mongo_database.things.watch(max_await_time_ms=50) as stream:  # {"times": 1}
        assert stream.try_next() is None


def test_a_change_stream_aggregate_counts_once(
    failpoint: ArmFailPoint, mongo_database: Any
) -> None:
    mongo_database.things.insert_one({"_id": 1})
    failpoint(["aggregate"], mode={"times": 2}, error_code=2)
    with pytest.raises(OperationFailure):
        mongo_database.things.watch()
    with pytest.raises(OperationFailure):
        list(mongo_database.things.aggregate([]))  # mongoeco's own path takes the second
    assert list(mongo_database.things.aggregate([])) == [{"_id": 1}]


async def test_a_streamed_find_meets_a_failed_get_more(
    anyodm_engine: Engine, failpoint: ArmFailPoint
) -> None:
    await anyodm_engine.save_all([Item(n=n) for n in range(150)])  # two batches of 100
    seen = 0
    with pytest.raises(CursorNotFound):
        async for _ in anyodm_engine.find(Item, sort=Item.n):
            seen += 1
            if seen == 1:
                failpoint(["getMore"], error_code=43)
    assert seen == 100
    assert len(await anyodm_engine.find(Item)) == 150  # disarmed after one


async def test_a_blocked_get_more_meets_the_deadline(
    anyodm_engine: Engine, failpoint: ArmFailPoint
) -> None:
    await anyodm_engine.save_all([Item(n=n) for n in range(150)])
    failpoint(["getMore"], block_ms=2000)
    seen = 0
    with pytest.raises(TimeoutError):
        with anyio.fail_after(1):
            async for _ in anyodm_engine.find(Item):
                seen += 1
    assert seen == 100


async def test_an_anyodm_change_stream_resumes_after_a_failed_get_more(
    anyodm_engine: Engine, failpoint: ArmFailPoint
) -> None:
    async with anyodm_engine.watch(Item, max_await_time=0.05) as changes:
        first = await anyodm_engine.save(Item(n=1))
        with anyio.fail_after(10):
            assert (await changes.__anext__()).document == first
        second = await anyodm_engine.save(Item(n=2))
        failpoint(["getMore"], error_code=43, error_labels=[RESUMABLE])
        with anyio.fail_after(10):
            change = await changes.__anext__()
        assert change.document == second
        third = await anyodm_engine.save(Item(n=3))
        with anyio.fail_after(10):
            assert (await changes.__anext__()).document == third  # nothing sent twice


async def test_an_anyodm_change_stream_resumes_before_its_first_event(
    anyodm_engine: Engine, failpoint: ArmFailPoint
) -> None:
    async with anyodm_engine.watch(Item, max_await_time=0.05) as changes:
        saved = await anyodm_engine.save(Item(n=1))
        failpoint(["getMore"], error_code=43, error_labels=[RESUMABLE])
        with anyio.fail_after(3):
            change = await changes.__anext__()
        assert change.document == saved


def test_a_change_stream_resumes(mongo_database: Any, failpoint: ArmFailPoint) -> None:
    """The example of docs/testing.md, as written there."""
    with mongo_database.things.watch() as stream:
        mongo_database.things.insert_one({"_id": 1})
        failpoint(["getMore"], error_code=43)  # the next getMore fails, once
        assert stream.next()["documentKey"] == {"_id": 1}  # resumed, sent once
