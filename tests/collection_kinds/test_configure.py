"""``configure_database`` creates time-series collections and views with the declared
options, accepts them when they exist as declared (twice, from two engines at once), and
refuses a collection of another kind or definition without changing it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio
import pytest
from pymongo.database import Database

from anyodm import CollectionMismatchError, Engine, Model, SyncEngine, TimeSeries, View

from .conftest import Monitored
from .models import Book, LongBook, PagesPerPublisher, Publisher, Reading

MODELS = [Publisher, Book, Reading, LongBook, PagesPerPublisher]


def options_of(db: Database[Any], name: str) -> dict[str, Any]:
    (info,) = db.list_collections(filter={"name": name})
    options: dict[str, Any] = info["options"]
    return options


async def test_creates_the_time_series_collection_and_the_views(
    monitored: Monitored, mongo_database: Database[Any]
) -> None:
    await monitored.engine.configure_database(MODELS)
    creates = {body["create"]: body for name, body in monitored.commands.sent if name == "create"}
    assert set(creates) == {"readings", "long_books", "pages_per_publisher"}
    assert creates["readings"]["timeseries"] == {
        "timeField": "at",
        "metaField": "s",
        "granularity": "minutes",
    }
    assert creates["readings"]["expireAfterSeconds"] == 30 * 24 * 3600
    assert creates["long_books"]["viewOn"] == "book"
    assert creates["long_books"]["pipeline"] == [
        {"$match": {"pages": {"$gt": 300}}},
        {"$project": {"title": 1, "publisher": 1}},
    ]
    # the collection is created before its index: an index first would make it plain
    order = [(name, body.get(name)) for name, body in monitored.commands.sent]
    assert order.index(("create", "readings")) < order.index(("createIndexes", "readings"))
    assert options_of(mongo_database, "readings")["timeseries"]["timeField"] == "at"
    assert options_of(mongo_database, "long_books")["viewOn"] == "book"


async def test_running_it_again_creates_nothing(monitored: Monitored) -> None:
    await monitored.engine.configure_database(MODELS)
    monitored.commands.sent.clear()
    await monitored.engine.configure_database(MODELS)
    assert "create" not in monitored.commands.names


async def test_two_engines_at_once(
    anyodm_engine: Engine, anyodm_sync_engine: SyncEngine, mongo_database: Database[Any]
) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyodm_engine.configure_database, MODELS)
        tg.start_soon(anyio.to_thread.run_sync, anyodm_sync_engine.configure_database, MODELS)
    assert options_of(mongo_database, "readings")["timeseries"]["metaField"] == "s"
    await anyodm_engine.configure_database(MODELS)


async def test_a_plain_collection_in_its_place_is_refused(
    monitored: Monitored, mongo_database: Database[Any]
) -> None:
    mongo_database.create_collection("readings")
    with pytest.raises(
        CollectionMismatchError, match=r"Reading's collection 'readings' .*not a time-series"
    ):
        await monitored.engine.configure_database([Reading])
    assert "timeseries" not in options_of(mongo_database, "readings")


async def test_other_time_series_options_are_refused(
    monitored: Monitored, mongo_database: Database[Any]
) -> None:
    mongo_database.create_collection(
        "readings", timeseries={"timeField": "at", "metaField": "s", "granularity": "hours"}
    )
    with pytest.raises(CollectionMismatchError) as caught:
        await monitored.engine.configure_database([Reading])
    assert caught.value.model is Reading
    assert caught.value.differences == [
        "granularity is 'hours', not 'minutes'",
        "expireAfterSeconds is None, not 2592000",
    ]
    assert "create" not in monitored.commands.names


async def test_the_server_defaults_count_as_declared(
    monitored: Monitored, mongo_database: Database[Any]
) -> None:
    # what a server reports for a collection created without granularity
    mongo_database.create_collection(
        "events",
        timeseries={"timeField": "at", "granularity": "seconds", "bucketMaxSpanSeconds": 3600},
    )

    class Event(Model):
        at: datetime
        model_config = {"collection": "events", "timeseries": TimeSeries(time_field="at")}  # noqa: RUF012

    await monitored.engine.configure_database([Event])


async def test_a_view_with_another_pipeline_is_refused(
    monitored: Monitored, mongo_database: Database[Any]
) -> None:
    mongo_database.create_collection("long_books", viewOn="book", pipeline=[{"$match": {}}])
    with pytest.raises(CollectionMismatchError, match=r"LongBook's .*its pipeline is .*drop it"):
        await monitored.engine.configure_database([LongBook])


async def test_a_view_on_another_source_is_refused(
    monitored: Monitored, mongo_database: Database[Any]
) -> None:
    class Other(Model):
        title: str
        model_config = {"collection": "long_books", "view": View(source=Publisher)}  # noqa: RUF012

    await monitored.engine.configure_database([LongBook])
    with pytest.raises(CollectionMismatchError, match=r"a view on 'book', not on 'publisher'"):
        await monitored.engine.configure_database([Other])
