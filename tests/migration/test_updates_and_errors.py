"""Items 3, 4 and 6: ``model_update`` with extra keys, primary keys that cannot change,
``DuplicateKeyError.instance``, ``find(limit=0)``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from anyodm import DuplicateKeyError, Field, Model, ObjectId


class Item(Model):
    name: str
    price: int = 0


class Member(Model):
    email: str = Field(unique=True)


class ItemPatch(BaseModel):
    name: str | None = None
    comment: str | None = None  # not a field of Item


def test_model_update_ignores_keys_the_model_lacks() -> None:
    item = Item(name="pen", price=2)
    item.model_update({"name": "pencil", "colour": "red", "price": 3})
    assert (item.name, item.price) == ("pencil", 3)
    item.model_update(ItemPatch(name="ink", comment="ignored"))
    assert item.name == "ink"


def test_model_update_with_another_primary_key_raises() -> None:
    item = Item(name="pen")
    with pytest.raises(ValueError, match=r"Item\.model_update: the primary key 'id'"):
        item.model_update({"id": ObjectId(), "name": "x"})
    assert item.name == "pen"  # nothing changed
    item.model_update({"id": item.id, "name": "same key is fine"})
    assert item.name == "same key is fine"


async def test_the_fastapi_patch_pattern(engine: Any) -> None:
    item = await engine.save(Item(name="pen", price=2))
    request_body = {"price": 5, "unknown": True}  # a request model's model_dump()
    item.model_update(request_body)
    await engine.save(item)
    found = await engine.find_one(Item, Item.id == item.id)
    assert (found.name, found.price) == ("pen", 5)


async def test_reassigning_a_persisted_primary_key_raises(engine: Any) -> None:
    fresh = Item(name="a")
    fresh.id = ObjectId()  # not saved yet: choosing its key is fine
    await engine.save(fresh)
    with pytest.raises(NotImplementedError, match=r"Item\.id: the primary key"):
        fresh.id = ObjectId()
    loaded = await engine.find_one(Item)
    with pytest.raises(NotImplementedError):
        loaded.id = ObjectId()
    await engine.save(loaded)
    assert await engine.count(Item) == 1  # no second document
    copy = loaded.model_copy(update={"id": ObjectId()})  # the documented way
    await engine.save(copy)
    assert await engine.count(Item) == 2


async def test_duplicate_key_error_names_the_instance(engine: Any) -> None:
    await engine.configure_database([Member])
    await engine.save(Member(email="a@x"))
    second = Member(email="a@x")
    with pytest.raises(DuplicateKeyError) as caught:
        await engine.save(second)
    assert caught.value.instance is second
    assert caught.value.model is Member
    assert caught.value.key_value == {"email": "a@x"}
    assert caught.value.driver_error is not None

    batch = [Member(email="b@x"), Member(email="a@x"), Member(email="c@x")]
    with pytest.raises(DuplicateKeyError) as caught:
        await engine.save_all(batch)
    assert caught.value.instance is batch[1]


@pytest.mark.parametrize("limit", [0, -1])
async def test_find_limit_must_be_positive(engine: Any, limit: int) -> None:
    with pytest.raises(ValueError, match="limit must be a positive int"):
        await engine.find(Item, limit=limit)
    with pytest.raises(ValueError, match="skip"):
        await engine.find(Item, skip=-1)
    assert await engine.find(Item, limit=None) == []
