"""What MongoDB refuses on views and time-series collections is refused before anything
is sent, with an error naming the model; time-series measurements are inserted and read
like any model's documents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from pymongo import MongoClient

from anyodm import InvalidOperationError, Model, ObjectId, Reference, SyncEngine, update

from .conftest import Commands, Monitored
from .models import Book, LongBook, Publisher, Reading, Sensor

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def reading(celsius: float = 20.5, site: str = "north") -> Reading:
    return Reading(at=NOW, sensor=Sensor(site=site, number=1), celsius=celsius)


def view_writes(engine: Any) -> dict[str, Callable[[], Awaitable[Any]]]:
    loaded = LongBook(title="t", publisher=Publisher(name="p"))
    return {
        "save": lambda: engine.save(loaded),
        "save_all": lambda: engine.save_all([loaded]),
        "delete": lambda: engine.delete(loaded),
        "remove": lambda: engine.remove(LongBook),
        "update_one": lambda: engine.update_one(LongBook, update=update.set(LongBook.title, "x")),
        "update_many": lambda: engine.update_many(LongBook, {}, update={"$set": {"a": 1}}),
        "find_one_and_update": lambda: engine.find_one_and_update(
            LongBook, update=update.set(LongBook.title, "x")
        ),
        "find_one_and_delete": lambda: engine.find_one_and_delete(LongBook),
    }


@pytest.mark.parametrize(
    "operation",
    [
        "save",
        "save_all",
        "delete",
        "remove",
        "update_one",
        "update_many",
        "find_one_and_update",
        "find_one_and_delete",
    ],
)
async def test_every_write_to_a_view_is_refused_and_nothing_is_sent(
    monitored: Monitored, operation: str
) -> None:
    write = view_writes(monitored.engine)[operation]
    with pytest.raises(
        InvalidOperationError, match=rf"{operation}\(\) on LongBook: it is a read-only view"
    ):
        await write()
    assert monitored.commands.sent == []


async def test_saving_a_book_that_references_a_new_view_instance_is_refused(
    monitored: Monitored,
) -> None:
    class Shelf(Model):
        book: LongBook = Reference()

    with pytest.raises(InvalidOperationError, match=r"save\(\) on LongBook"):
        await monitored.engine.save(Shelf(book=LongBook(title="t", publisher=Publisher(name="p"))))
    assert monitored.commands.sent == []


def test_watching_a_view_or_a_time_series_collection_is_refused(
    anyodm_sync_engine: SyncEngine,
) -> None:
    with pytest.raises(
        InvalidOperationError, match=r"watch\(\) on LongBook: .*no change streams on a view"
    ):
        anyodm_sync_engine.watch(LongBook)
    with pytest.raises(InvalidOperationError, match=r"watch\(\) on Reading: .*time-series"):
        anyodm_sync_engine.watch([Book, Reading])


async def test_a_fresh_measurement_is_inserted_and_read_back(monitored: Monitored) -> None:
    engine = monitored.engine
    await engine.configure_database([Reading])
    monitored.commands.sent.clear()
    first = await engine.save(reading())
    await engine.save_all([reading(21.0, "south"), reading(19.0, "south")])
    # inserts, never upserts (a time-series collection refuses them)
    assert monitored.commands.names == ["insert", "insert"]
    found = await engine.find(Reading, Reading.sensor.site == "south", sort=Reading.celsius)
    assert [r.celsius for r in found] == [19.0, 21.0]
    assert await engine.count(Reading) == 3
    again = await engine.find_one(Reading, Reading.id == first.id)
    assert again is not None
    assert again.at.replace(tzinfo=timezone.utc) == NOW
    assert again.sensor == first.sensor


async def test_a_stored_measurement_saved_unchanged_sends_nothing_changed_is_refused(
    monitored: Monitored,
) -> None:
    engine = monitored.engine
    stored = await engine.save(reading())
    monitored.commands.sent.clear()
    await engine.save(stored)
    stored.celsius = 99.0
    with pytest.raises(
        InvalidOperationError, match=r"save\(\) of a Reading that is already stored"
    ):
        await engine.save(stored)
    with pytest.raises(InvalidOperationError, match=r"Reading that is already stored"):
        await engine.save_all([reading(), stored])  # nothing of it is written
    assert monitored.commands.sent == []
    assert await engine.count(Reading) == 1


async def test_a_copy_under_another_key_is_inserted(monitored: Monitored) -> None:
    engine = monitored.engine
    stored = await engine.save(reading())
    copy = stored.model_copy(update={"id": ObjectId()})
    monitored.commands.sent.clear()
    await engine.save(copy)
    assert monitored.commands.names == ["insert"]


def test_time_series_writes_in_a_transaction_are_refused_and_nothing_is_sent(
    mongodb_uri: str, mongo_database: Any
) -> None:
    commands = Commands()
    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[commands])
    try:
        engine = SyncEngine(client=client, database=mongo_database.name)
        stored = engine.save(reading())
        commands.sent.clear()
        with engine.transaction() as tx:
            for write in (
                lambda: tx.save(reading()),
                lambda: tx.save_all([reading()]),
                lambda: tx.delete(stored),
                lambda: tx.remove(Reading),
                lambda: tx.update_many(Reading, update=update.set(Reading.celsius, 1.0)),
                lambda: tx.find_one_and_delete(Reading),
            ):
                with pytest.raises(
                    InvalidOperationError,
                    match=r"on Reading: MongoDB does not allow writes to a time-series collection "
                    r"inside a transaction",
                ):
                    write()
            assert tx.count(Reading) == 1  # reads are allowed
        assert "insert" not in commands.names
        assert "delete" not in commands.names
        assert engine.count(Reading) == 1
    finally:
        client.close()


async def test_async_transaction_refuses_a_time_series_insert(monitored: Monitored) -> None:
    if monitored.kind == "sync":
        pytest.skip("the sync engine's transactions are tested above")
    engine = monitored.engine
    async with engine.transaction() as tx:
        with pytest.raises(InvalidOperationError, match=r"save\(\) on Reading"):
            await tx.save(reading())
    assert "insert" not in monitored.commands.names
