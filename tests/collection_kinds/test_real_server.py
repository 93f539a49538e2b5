"""End to end on a real server: the embedded server stores the options of a time-series
collection or a view but makes a plain collection of either."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from pymongo.database import Database

from anyodm import Engine

from .models import Book, LongBook, PagesPerPublisher, Publisher, Reading, Sensor

pytestmark = pytest.mark.needs_real_mongodb("time-series collections and views")


async def test_the_server_makes_a_time_series_collection_and_views(
    anyodm_engine: Engine, mongo_database: Database[Any]
) -> None:
    await anyodm_engine.configure_database([Reading, LongBook, PagesPerPublisher])
    kinds = {info["name"]: info["type"] for info in mongo_database.list_collections()}
    assert kinds["readings"] == "timeseries"
    assert kinds["long_books"] == kinds["pages_per_publisher"] == "view"
    # the server's reported options (its defaults filled in) count as the declared ones
    await anyodm_engine.configure_database([Reading, LongBook, PagesPerPublisher])


async def test_reads_through_a_view(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    await engine.configure_database([LongBook, PagesPerPublisher])
    north, south = Publisher(name="north"), Publisher(name="south")
    await engine.save_all(
        [
            Book(title="a", pages=500, publisher=north),
            Book(title="b", pages=100, publisher=north),
            Book(title="c", pages=400, publisher=south),
        ]
    )
    long_books = await engine.find(LongBook, sort=LongBook.title)
    assert [(b.title, b.publisher.name) for b in long_books] == [("a", "north"), ("c", "south")]
    assert await engine.count(LongBook, LongBook.title == "c") == 1
    assert await engine.distinct(LongBook, LongBook.title) == ["a", "c"]
    totals = {t.id: (t.books, t.pages) for t in await engine.find(PagesPerPublisher)}
    assert totals == {north.id: (2, 600), south.id: (1, 400)}


async def test_measurements_on_a_time_series_collection(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    await engine.configure_database([Reading])
    at = datetime(2024, 5, 1, tzinfo=timezone.utc)
    await engine.save_all(
        [
            Reading(at=at, sensor=Sensor(site=s, number=1), celsius=c)
            for s, c in [("n", 1), ("s", 2)]
        ]
    )
    found = await engine.find(Reading, Reading.sensor.site == "s")
    assert [r.celsius for r in found] == [2.0]
    # a delete by the meta field is allowed on every supported server
    assert await engine.remove(Reading, Reading.sensor.site == "n") == 1
    assert await engine.count(Reading) == 1
