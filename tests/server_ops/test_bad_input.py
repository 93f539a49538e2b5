"""Misuse of the update operators and server-side operations: a clear error naming the
model, the field and the reason, raised before anything is sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from anyodm import InvalidFieldError, InvalidValueError, update
from tests.server_ops.models import Address, Book, Counter, Item, Publisher


@pytest.mark.parametrize(
    ("make", "where", "reason"),
    [
        (lambda: update.inc(Item.name, 1), "Item.name", "numeric field"),
        (lambda: update.mul(Item.tags, 2), "Item.tags", "numeric field"),
        (lambda: update.inc(Book.publisher, 1), "Book.publisher", "numeric field"),
        (lambda: update.push(Item.name, "x"), "Item.name", "array field"),
        (lambda: update.pull(Item.count, 1), "Item.count", "array field"),
        (lambda: update.add_to_set(Item.address, "x"), "Item.address", "array field"),
        (lambda: update.push(Item.labels_set, "x"), "Item.labels_set", "add_to_set"),
        (lambda: update.current_date(Item.name), "Item.name", "datetime field"),
        (lambda: update.min(Item.tags, ["a"]), "Item.tags", "scalar field"),
        (lambda: update.max(Item.address, {}), "Item.address", "scalar field"),
        (lambda: update.set(Item.id, "x"), "Item.id", "primary key"),
        (lambda: update.inc(Counter.name, 1), "Counter.name", "primary key"),
        (lambda: update.unset(Item.name), "Item.name", "no default"),
        (lambda: update.unset(Item.required_note), "Item.required_note", "no default"),
        (lambda: update.set(Item.history.city, "x"), "Item.history.city", "array"),
    ],
)
def test_operator_on_the_wrong_field(make: Any, where: str, reason: str) -> None:
    with pytest.raises(InvalidFieldError, match=reason) as caught:
        make()
    assert caught.value.field == where
    assert where in str(caught.value)


@pytest.mark.parametrize(
    ("make", "where", "reason"),
    [
        (lambda: update.set(Item.count, "many"), "Item.count", "integer"),
        (lambda: update.set(Item.count, -1), "Item.count", "greater than or equal to 0"),
        (lambda: update.set(Item.name, None), "Item.name", "string"),
        (lambda: update.set(Item.price, "abc"), "Item.price", "decimal"),
        (lambda: update.set(Item.color, "green"), "Item.color", "red"),
        (lambda: update.set(Item.address, {"street": "x"}), "Item.address", "city"),
        (lambda: update.set(Item.address.city, 3), "Item.address.city", "string"),
        (lambda: update.inc(Item.count, 1.5), "Item.count", "integer"),
        (lambda: update.inc(Item.count, "1"), "Item.count", "number"),
        (lambda: update.inc(Item.score, None), "Item.score", "number"),
        (lambda: update.push(Item.scores, "x"), "Item.scores", "integer"),
        (lambda: update.push(Item.tags, each="abc"), "Item.tags", "list"),
        (lambda: update.push(Item.tags, "a", position="0"), "Item.tags", "position"),
        (lambda: update.add_to_set(Item.history, 5), "Item.history", "Address"),
        (lambda: update.set(Book.publisher, Address(city="x")), "Book.publisher", "Publisher"),
        (lambda: update.set(Book.publisher, "not-an-id"), "Book.publisher", "ObjectId"),
        (lambda: update.set(Item.when, "yesterday"), "Item.when", "datetime"),
    ],
)
def test_value_that_does_not_fit(make: Any, where: str, reason: str) -> None:
    with pytest.raises(InvalidValueError, match=reason) as caught:
        make()
    assert caught.value.field == where
    assert caught.value.model is Item or caught.value.model is Book


def test_not_a_field() -> None:
    with pytest.raises(TypeError, match="model field"):
        update.set("name", "x")
    with pytest.raises(AttributeError, match="colour"):
        update.set(Item.colour, "x")  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="value or each"):
        update.push(Item.tags)


async def test_update_of_another_model_is_refused_before_sending(engine: Any, raw: Any) -> None:
    await engine.save(Item(name="a", required_note=None))
    with pytest.raises(InvalidFieldError, match="Publisher"):
        await engine.update_one(Item, update=update.set(Publisher.name, "x"))
    with pytest.raises(TypeError, match="Publisher"):
        await engine.update_many(Item, Publisher.name == "x", update=update.set(Item.name, "b"))


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([], "empty"),
        ({}, "empty"),
        ({"name": "x"}, "not an update operator"),
        ({"$set": "x"}, "non-empty dict"),
        ("x", "update="),
        (Item.name == "x", "update="),
        ([update.set(Item.count, 1), update.inc(Item.count, 1)], "twice"),
        ([update.set(Item.address, None), update.set(Item.address.city, "x")], "twice"),
    ],
)
async def test_bad_update_documents_send_nothing(
    engine: Any, raw: Any, bad: Any, match: str
) -> None:
    item = await engine.save(Item(name="a", required_note=None))
    before = raw["item"].find_one({"_id": item.id})
    with pytest.raises(TypeError, match=match):
        await engine.update_one(Item, update=bad)
    with pytest.raises(TypeError, match=match):
        await engine.find_one_and_update(Item, update=bad)
    assert raw["item"].find_one({"_id": item.id}) == before


async def test_bad_options(engine: Any) -> None:
    with pytest.raises(TypeError, match="upsert"):
        await engine.update_one(Item, update=update.set(Item.count, 1), upsert="yes")
    with pytest.raises(TypeError, match="return_updated"):
        await engine.find_one_and_update(Item, update=update.set(Item.count, 1), return_updated=1)
    with pytest.raises(TypeError, match="Model subclass"):
        await engine.update_one(Address, update={"$set": {"a": 1}})
    with pytest.raises(InvalidFieldError, match="nope"):
        await engine.distinct(Item, "nope")
    with pytest.raises(TypeError, match="model field"):
        await engine.distinct(Item, 3)
    with pytest.raises(InvalidFieldError, match="Publisher"):
        await engine.distinct(Item, Publisher.name)


def test_operations_show_the_update_they_send() -> None:
    assert update.inc(Item.price, Decimal("1.5")).as_dict() == {
        "$inc": {"price": __import__("bson").Decimal128("1.5")}
    }
    assert update.push(Item.tags, each=["a"], slice=-5).as_dict() == {
        "$push": {"labels": {"$each": ["a"], "$slice": -5}}
    }
