"""update_one / update_many with each operator, on Engine (trio, asyncio) and SyncEngine:
what is stored is what ``save`` stores for the same value."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import pytest
from bson import Decimal128, Int64, ObjectId
from bson.binary import Binary
from pydantic import field_serializer, field_validator

from anyodm import Model, UpdateResult, query, update
from tests.server_ops.models import Address, Book, Color, Counter, Item, Publisher


def stored(raw: Any, model: Any, pk: Any) -> dict[str, Any]:
    doc: dict[str, Any] = raw[model.__anyodm__.collection].find_one({"_id": pk})
    return doc


async def test_set_each_field_type_stores_what_save_stores(engine: Any, raw: Any) -> None:
    item = await engine.save(Item(name="a", required_note=None))
    when = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone.utc)
    token = uuid.uuid4()
    other = ObjectId()
    changes: dict[str, Any] = {
        "count": 3,
        "score": 2.5,
        "price": Decimal("12.34"),
        "big": Int64(2**40),
        "when": when,
        "color": Color.BLUE,
        "token": token,
        "other": other,
        "tags": ["x", "y"],
        "labels_set": {"q"},
        "address": Address(street="Main", city="Paris"),
        "history": [Address(city="Oslo")],
        "note": "hi",
    }
    result = await engine.update_one(
        Item,
        Item.id == item.id,
        update=[update.set(getattr(Item, name), value) for name, value in changes.items()],
    )
    assert result == UpdateResult(matched=1, modified=1, upserted_id=None)
    # the same values saved through an instance
    twin = await engine.save(Item(name="a", required_note=None, **changes))
    got, expected = stored(raw, Item, item.id), stored(raw, Item, twin.id)
    got.pop("_id"), expected.pop("_id")
    assert got == expected
    assert got["price"] == Decimal128("12.34")
    assert got["token"] == Binary.from_uuid(token)
    assert got["labels"] == ["x", "y"]  # stored key name
    assert got["address"] == {"street": "Main", "town": "Paris"}
    assert got["when"] == datetime.datetime(2024, 5, 6, 7, 8, 9, 123000)
    assert got["color"] == "blue"
    loaded = await engine.find_one(Item, Item.id == item.id)
    assert loaded.price == Decimal("12.34")
    assert loaded.token == token


async def test_set_converts_like_validation_does(engine: Any, raw: Any) -> None:
    item = await engine.save(Item(name="a", required_note=None))
    aware = datetime.datetime(2024, 1, 1, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    await engine.update_one(
        Item,
        Item.id == item.id,
        update=[update.set(Item.count, "7"), update.set(Item.when, aware)],
    )
    doc = stored(raw, Item, item.id)
    assert doc["count"] == 7
    assert doc["when"] == datetime.datetime(2024, 1, 1, 10)


async def test_set_embedded_path_uses_stored_keys(engine: Any, raw: Any) -> None:
    item = await engine.save(Item(name="a", required_note=None, address=Address(city="Rome")))
    await engine.update_one(Item, Item.id == item.id, update=update.set(Item.address.city, "Paris"))
    assert stored(raw, Item, item.id)["address"] == {"street": "", "town": "Paris"}
    found = await engine.find_one(Item, Item.address.city == "Paris")
    assert found.address == Address(city="Paris")


async def test_unset_field_with_default(engine: Any, raw: Any) -> None:
    item = await engine.save(Item(name="a", note="x", required_note=None))
    await engine.update_one(Item, Item.id == item.id, update=update.unset(Item.note))
    assert "note" not in stored(raw, Item, item.id)
    assert (await engine.find_one(Item, Item.id == item.id)).note is None


async def test_inc_and_mul_numbers(engine: Any, raw: Any) -> None:
    item = await engine.save(
        Item(name="a", count=2, score=1.5, price=Decimal("1.5"), required_note=None)
    )
    await engine.update_one(
        Item,
        Item.id == item.id,
        update=[
            update.inc(Item.count, 3),
            update.mul(Item.score, 2),
            update.inc(Item.price, Decimal("0.25")),
            update.inc(Item.big, 5),
        ],
    )
    loaded = await engine.find_one(Item, Item.id == item.id)
    assert (loaded.count, loaded.score, loaded.price, loaded.big) == (5, 3.0, Decimal("1.75"), 5)


async def test_min_max(engine: Any) -> None:
    item = await engine.save(Item(name="a", count=5, required_note=None))
    early = datetime.datetime(1990, 1, 1, tzinfo=datetime.timezone.utc)
    await engine.update_one(
        Item,
        Item.id == item.id,
        update=[update.min(Item.count, 3), update.min(Item.when, early), update.max(Item.score, 9)],
    )
    loaded = await engine.find_one(Item, Item.id == item.id)
    assert (loaded.count, loaded.score) == (3, 9.0)
    assert loaded.when == early.replace(tzinfo=None) or loaded.when == early
    await engine.update_one(Item, Item.id == item.id, update=update.max(Item.count, 1))
    assert (await engine.find_one(Item, Item.id == item.id)).count == 3


async def test_push_pull_add_to_set(engine: Any, raw: Any) -> None:
    item = await engine.save(Item(name="a", tags=["a"], required_note=None))
    await engine.update_one(Item, Item.id == item.id, update=update.push(Item.tags, "b"))
    await engine.update_one(
        Item, Item.id == item.id, update=update.push(Item.tags, each=["c", "d"])
    )
    assert stored(raw, Item, item.id)["labels"] == ["a", "b", "c", "d"]
    await engine.update_one(
        Item, Item.id == item.id, update=update.push(Item.tags, each=["z"], position=0, slice=3)
    )
    assert stored(raw, Item, item.id)["labels"] == ["z", "a", "b"]
    await engine.update_one(Item, Item.id == item.id, update=update.pull(Item.tags, "a"))
    await engine.update_one(
        Item, Item.id == item.id, update=update.add_to_set(Item.tags, each=["b", "n"])
    )
    await engine.update_one(
        Item, Item.id == item.id, update=update.add_to_set(Item.labels_set, "s")
    )
    loaded = await engine.find_one(Item, Item.id == item.id)
    assert loaded.tags == ["z", "b", "n"]
    assert loaded.labels_set == {"s"}


async def test_push_and_pull_embedded_documents(engine: Any, raw: Any) -> None:
    item = await engine.save(Item(name="a", required_note=None))
    await engine.update_one(
        Item, Item.id == item.id, update=update.push(Item.history, Address(city="Oslo"))
    )
    await engine.update_one(
        Item, Item.id == item.id, update=update.push(Item.history, {"city": "Rome"})
    )
    assert stored(raw, Item, item.id)["history"] == [
        {"street": "", "town": "Oslo"},
        {"street": "", "town": "Rome"},
    ]
    await engine.update_one(
        Item, Item.id == item.id, update=update.pull(Item.history, Address.city == "Oslo")
    )
    assert (await engine.find_one(Item, Item.id == item.id)).history == [Address(city="Rome")]


async def test_pull_with_an_operator_condition(engine: Any) -> None:
    item = await engine.save(Item(name="a", scores=[1, 5, 9], required_note=None))
    await engine.update_one(Item, Item.id == item.id, update=update.pull(Item.scores, {"$gt": 4}))
    assert (await engine.find_one(Item, Item.id == item.id)).scores == [1]


async def test_current_date(engine: Any) -> None:
    item = await engine.save(Item(name="a", required_note=None))
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    await engine.update_one(Item, Item.id == item.id, update=update.current_date(Item.when))
    when = (await engine.find_one(Item, Item.id == item.id)).when.replace(tzinfo=None)
    assert when >= before - datetime.timedelta(seconds=60)


async def test_set_a_reference_stores_its_key(engine: Any, raw: Any) -> None:
    first = await engine.save(Publisher(name="first"))
    second = await engine.save(Publisher(name="second"))
    book = await engine.save(Book(title="t", publisher=first))
    await engine.update_one(Book, Book.id == book.id, update=update.set(Book.publisher, second))
    assert stored(raw, Book, book.id)["publisher"] == second.id
    assert (await engine.find_one(Book, Book.id == book.id)).publisher == second


async def test_update_many_counts_matched_and_modified(engine: Any) -> None:
    await engine.save_all([Item(name=f"i{n}", count=n % 2, required_note=None) for n in range(6)])
    result = await engine.update_many(Item, Item.count == 0, update=update.set(Item.count, 1))
    assert (result.matched, result.modified, result.upserted_id) == (3, 3, None)
    result = await engine.update_many(Item, update=update.set(Item.count, 1))
    assert (result.matched, result.modified) == (6, 0)
    assert await engine.count(Item, Item.count == 1) == 6


async def test_update_one_touches_one_document(engine: Any) -> None:
    await engine.save_all([Item(name="same", required_note=None) for _ in range(3)])
    result = await engine.update_one(Item, Item.name == "same", update=update.inc(Item.count, 1))
    assert (result.matched, result.modified) == (1, 1)
    assert await engine.count(Item, Item.count == 1) == 1


async def test_upsert_reports_the_new_id(engine: Any) -> None:
    result = await engine.update_one(
        Counter, Counter.name == "hits", update=update.inc(Counter.value, 1), upsert=True
    )
    assert result.matched == 0
    assert result.upserted_id == "hits"
    result = await engine.update_one(
        Counter, Counter.name == "hits", update=update.inc(Counter.value, 1), upsert=True
    )
    assert (result.matched, result.modified, result.upserted_id) == (1, 1, None)
    assert await engine.find_one(Counter) == Counter(name="hits", value=2)


async def test_raw_update_dict_is_accepted(engine: Any) -> None:
    item = await engine.save(Item(name="a", required_note=None))
    await engine.update_one(Item, Item.id == item.id, update={"$set": {"name": "b"}})
    assert (await engine.find_one(Item, Item.id == item.id)).name == "b"


async def test_queries_combine_like_find(engine: Any) -> None:
    await engine.save_all([Item(name=f"i{n}", count=n, required_note=None) for n in range(5)])
    result = await engine.update_many(
        Item,
        Item.count >= 2,
        query.or_(Item.name == "i2", Item.name == "i4"),
        update=update.set(Item.note, "picked"),
    )
    assert result.modified == 2


@pytest.mark.parametrize("many", [False, True])
async def test_nothing_matched(engine: Any, many: bool) -> None:
    method = engine.update_many if many else engine.update_one
    result = await method(Item, Item.name == "none", update=update.set(Item.count, 1))
    assert result == UpdateResult(0, 0, None)


class Tagged(Model):
    name: str
    code: str = ""

    @field_validator("name")
    @classmethod
    def lower(cls, value: str) -> str:
        return value.lower()

    @field_serializer("code")
    def upper(self, value: str) -> str:
        return value.upper()


async def test_field_validators_and_serializers_apply_as_in_save(engine: Any, raw: Any) -> None:
    tagged = await engine.save(Tagged(name="x"))
    await engine.update_one(
        Tagged,
        Tagged.id == tagged.id,
        update=[update.set(Tagged.name, "MIXED Case"), update.set(Tagged.code, "ab")],
    )
    twin = await engine.save(Tagged(name="MIXED Case", code="ab"))
    got, expected = stored(raw, Tagged, tagged.id), stored(raw, Tagged, twin.id)
    assert got["name"] == expected["name"] == "mixed case"
    assert got["code"] == expected["code"] == "AB"
    assert await engine.distinct(Tagged, Tagged.name) == ["mixed case"]
