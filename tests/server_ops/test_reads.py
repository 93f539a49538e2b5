"""find_one_and_update / find_one_and_delete, distinct, projections and aggregate, on
Engine (trio, asyncio) and SyncEngine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from anyodm import DocumentParsingError, InvalidFieldError, pipeline, update
from tests.server_ops.models import (
    Address,
    Book,
    BookPublisherId,
    BookWithPublisher,
    Color,
    Counter,
    Item,
    ItemName,
    ItemWhere,
    PagesByPublisher,
    Publisher,
)

# -- find-and-modify ---------------------------------------------------------------------


async def test_counter_pattern_returns_the_updated_instance(engine: Any) -> None:
    values = []
    for _ in range(3):
        counter = await engine.find_one_and_update(
            Counter, Counter.name == "orders", update=update.inc(Counter.value, 1), upsert=True
        )
        values.append(counter.value)
    assert values == [1, 2, 3]


async def test_return_updated_false_gives_the_document_before(engine: Any) -> None:
    await engine.save(Counter(name="c", value=10))
    before = await engine.find_one_and_update(
        Counter, Counter.name == "c", update=update.inc(Counter.value, 5), return_updated=False
    )
    assert before == Counter(name="c", value=10)
    assert (await engine.find_one(Counter)).value == 15


async def test_job_queue_pattern_takes_jobs_in_sort_order(engine: Any) -> None:
    await engine.save_all([Item(name=f"job{n}", count=n, required_note=None) for n in (3, 1, 2)])
    taken = []
    while True:
        job = await engine.find_one_and_update(
            Item,
            Item.note == None,  # noqa: E711 - a query
            update=update.set(Item.note, "taken"),
            sort=Item.count,
        )
        if job is None:
            break
        taken.append(job.name)
    assert taken == ["job1", "job2", "job3"]


async def test_find_one_and_update_none_when_nothing_matches(engine: Any) -> None:
    found = await engine.find_one_and_update(
        Counter, Counter.name == "x", update=update.inc(Counter.value, 1)
    )
    assert found is None
    assert await engine.count(Counter) == 0


async def test_find_one_and_update_loads_references(engine: Any) -> None:
    publisher = await engine.save(Publisher(name="p"))
    await engine.save(Book(title="t", publisher=publisher))
    book = await engine.find_one_and_update(Book, update=update.inc(Book.pages, 10))
    assert book.pages == 10
    assert book.publisher == publisher


async def test_the_returned_instance_is_saved_state(engine: Any) -> None:
    await engine.save(Counter(name="c"))
    counter = await engine.find_one_and_update(Counter, update=update.inc(Counter.value, 1))
    counter.value = 42
    await engine.save(counter)
    assert (await engine.find_one(Counter)).value == 42


async def test_find_one_and_delete(engine: Any) -> None:
    await engine.save_all([Item(name=f"i{n}", count=n, required_note=None) for n in range(3)])
    gone = await engine.find_one_and_delete(Item, sort=Item.count.desc())
    assert gone.name == "i2"
    assert await engine.count(Item) == 2
    assert await engine.find_one_and_delete(Item, Item.name == "none") is None
    # the returned instance is unsaved: saving it puts it back whole
    await engine.save(gone)
    assert await engine.find_one(Item, Item.name == "i2") == gone


# -- distinct ----------------------------------------------------------------------------


async def test_distinct_decodes_through_the_field_type(engine: Any) -> None:
    await engine.save_all(
        [
            Item(
                name="a",
                price=Decimal("1.5"),
                color=Color.BLUE,
                tags=["x", "y"],
                required_note=None,
            ),
            Item(name="b", price=Decimal("1.5"), color=Color.RED, tags=["y"], required_note=None),
            Item(name="c", price=Decimal("2"), address=Address(city="Oslo"), required_note=None),
        ]
    )
    assert sorted(await engine.distinct(Item, Item.price)) == [Decimal("1.5"), Decimal("2")]
    assert set(await engine.distinct(Item, Item.color)) == {Color.BLUE, Color.RED}
    assert sorted(await engine.distinct(Item, Item.tags)) == ["x", "y"]
    assert await engine.distinct(Item, Item.address.city) == ["Oslo"]
    assert await engine.distinct(Item, Item.name, Item.price > Decimal("1.6")) == ["c"]
    assert sorted(await engine.distinct(Item, "name")) == ["a", "b", "c"]


async def test_distinct_of_a_reference_gives_keys(engine: Any) -> None:
    publisher = await engine.save(Publisher(name="p"))
    await engine.save_all([Book(title=t, publisher=publisher) for t in "ab"])
    assert await engine.distinct(Book, Book.publisher) == [publisher.id]


# -- projections -------------------------------------------------------------------------


async def test_projection_requests_only_the_view_fields(engine: Any) -> None:
    await engine.save_all([Item(name=f"i{n}", count=n, required_note=None) for n in range(3)])
    views = await engine.find(Item, Item.count >= 1, sort=Item.count, projection=ItemName)
    assert views == [ItemName(name="i1", count=1), ItemName(name="i2", count=2)]
    one = await engine.find_one(Item, Item.count == 0, projection=ItemName)
    assert one == ItemName(name="i0", count=0)


async def test_projection_of_embedded_paths_and_bson_types(engine: Any) -> None:
    await engine.save(
        Item(
            name="a",
            price=Decimal("3.5"),
            address=Address(street="S", city="Oslo"),
            required_note=None,
        )
    )
    await engine.save(Item(name="b", required_note=None))
    views = await engine.find(Item, sort=Item.name, projection=ItemWhere)
    assert views[0].model_dump() == {
        "name": "a",
        "price": Decimal("3.5"),
        "address": {"city": "Oslo"},
    }
    assert views[1].address is None


async def test_projection_streams(engine: Any) -> None:
    await engine.save_all([Item(name=f"i{n}", count=n, required_note=None) for n in range(5)])
    seen = [view.count async for view in engine.find(Item, sort=Item.count, projection=ItemName)]
    assert seen == list(range(5))


async def test_projection_with_references(engine: Any) -> None:
    publisher = await engine.save(Publisher(name="p"))
    await engine.save(Book(title="t", publisher=publisher))
    assert await engine.find_one(Book, projection=BookWithPublisher) == BookWithPublisher(
        title="t", publisher=publisher
    )
    assert await engine.find_one(Book, projection=BookPublisherId) == BookPublisherId(
        title="t", publisher=publisher.id
    )


async def test_projection_naming_an_unknown_field_fails_at_once(engine: Any) -> None:
    from pydantic import BaseModel

    class Wrong(BaseModel):
        name: str
        colour: str

    with pytest.raises(InvalidFieldError, match=r"Item\.colour.*Wrong"):
        engine.find(Item, projection=Wrong)  # when find() is called, before any I/O
    with pytest.raises(InvalidFieldError, match=r"Item\.colour.*Wrong"):
        await engine.find_one(Item, projection=Wrong)


async def test_projection_view_that_does_not_fit_is_a_parsing_error(engine: Any) -> None:
    from pydantic import BaseModel

    class NeedsNote(BaseModel):
        name: str
        note: str

    await engine.save(Item(name="a", required_note=None))
    with pytest.raises(DocumentParsingError, match="NeedsNote"):
        await engine.find_one(Item, projection=NeedsNote)


# -- aggregate ---------------------------------------------------------------------------


async def test_aggregate_gives_dicts_with_field_proxies_in_stages(engine: Any) -> None:
    publisher = await engine.save(Publisher(name="p"))
    await engine.save_all([Book(title=f"b{n}", pages=n, publisher=publisher) for n in (10, 20)])
    results = await engine.aggregate(
        Book,
        [
            {"$match": Book.pages > 5},
            {"$group": {"_id": Book.publisher, "total": {"$sum": Book.pages}}},
        ],
    )
    assert results == [{"_id": publisher.id, "total": 30}]


async def test_aggregate_into_a_pydantic_model(engine: Any) -> None:
    publisher = await engine.save(Publisher(name="p"))
    await engine.save_all([Book(title=f"b{n}", pages=n, publisher=publisher) for n in (1, 2)])
    results = await engine.aggregate(
        Book,
        [
            {"$group": {"_id": Book.publisher, "total": {"$sum": Book.pages}}},
            {"$project": {"_id": 0, "publisher": "$_id", "total": 1}},
        ],
        into=PagesByPublisher,
    )
    assert results == [PagesByPublisher(publisher=publisher.id, total=3)]


async def test_aggregate_into_the_model_with_references_joined(engine: Any) -> None:
    publisher = await engine.save(Publisher(name="p"))
    books = [Book(title=f"b{n}", pages=n, publisher=publisher) for n in range(3)]
    await engine.save_all(books)
    results = await engine.aggregate(
        Book,
        [
            {"$match": Book.pages >= 1},
            {"$sort": {Book.pages: -1}},
            *pipeline.lookup_references(Book),
        ],
        into=Book,
    )
    assert results == [books[2], books[1]]


async def test_aggregate_streams_and_closes(engine: Any) -> None:
    await engine.save_all([Item(name=f"i{n}", count=n, required_note=None) for n in range(250)])
    seen = 0
    cursor = engine.aggregate(Item, [{"$sort": {Item.count: 1}}], into=Item)
    async for item in cursor:
        assert item.count == seen
        seen += 1
        if seen == 120:
            break
    await cursor.aclose()
    assert seen == 120


async def test_aggregate_document_that_does_not_fit_into(engine: Any) -> None:
    await engine.save(Item(name="a", required_note=None))
    with pytest.raises(DocumentParsingError, match="PagesByPublisher"):
        await engine.aggregate(Item, [{"$project": {"name": 1}}], into=PagesByPublisher)


async def test_aggregate_bad_pipelines_fail_before_sending(engine: Any) -> None:
    for bad in ({"$match": {}}, [{"match": {}}], [{"$match": {}, "$sort": {}}], ["x"]):
        with pytest.raises(TypeError, match="aggregate"):
            engine.aggregate(Item, bad)
    with pytest.raises(TypeError, match="Publisher"):
        engine.aggregate(Item, [{"$match": Publisher.name == "x"}])
    with pytest.raises(TypeError, match="into"):
        engine.aggregate(Item, [], into=dict)
