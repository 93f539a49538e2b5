"""Item 1: every value the model layer can store works as ``_id``: save, find, update,
delete and references."""

from __future__ import annotations

import enum
import uuid
from decimal import Decimal
from typing import Any

import pytest

from anyodm import EmbeddedModel, Field, Model, Reference


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Key(EmbeddedModel):
    region: str
    number: int


class ByUUID(Model):
    key: uuid.UUID = Field(primary_field=True, default_factory=uuid.uuid4)
    name: str


class ByEnum(Model):
    color: Color = Field(primary_field=True)
    name: str


class ByDecimal(Model):
    amount: Decimal = Field(primary_field=True)
    name: str


class ByEmbedded(Model):
    key: Key = Field(primary_field=True)
    name: str


class Pointer(Model):
    by_uuid: ByUUID = Reference()
    by_enum: ByEnum = Reference()
    by_decimal: ByDecimal = Reference()
    by_embedded: ByEmbedded = Reference()


def _instances() -> list[Model]:
    return [
        ByUUID(name="u"),
        ByEnum(color=Color.BLUE, name="e"),
        ByDecimal(amount=Decimal("1.25"), name="d"),
        ByEmbedded(key=Key(region="eu", number=7), name="m"),
    ]


@pytest.mark.parametrize("index", range(4), ids=["uuid", "enum", "decimal", "embedded"])
async def test_save_find_update_delete(engine: Any, index: int) -> None:
    instance = _instances()[index]
    model = type(instance)
    primary = model.__anyodm__.primary_field
    pk = getattr(instance, primary)
    await engine.save(instance)  # an upsert: the key was chosen by the user (or a factory)
    found = await engine.find_one(model, getattr(model, primary) == pk)
    assert found == instance

    found.name = "changed"  # a $set filtered by the stored key
    await engine.save(found)
    assert (await engine.find_one(model)).name == "changed"
    assert await engine.count(model) == 1

    await engine.save(model(**{primary: pk, "name": "explicit"}))  # explicit save, same key
    assert await engine.count(model) == 1
    assert (await engine.find_one(model)).name == "explicit"

    await engine.delete(found)
    assert await engine.count(model) == 0


async def test_references_to_any_key_type(engine: Any) -> None:
    u, e, d, m = _instances()
    pointer = Pointer(by_uuid=u, by_enum=e, by_decimal=d, by_embedded=m)
    await engine.save(pointer)  # saves the referenced instances first
    found = await engine.find_one(Pointer)
    assert found == pointer
    assert found.by_embedded.key == Key(region="eu", number=7)
    assert await engine.find_one(Pointer, Pointer.by_enum == e) == pointer


def test_stored_form_of_the_keys() -> None:
    u, e, d, m = _instances()
    assert ByUUID.__anyodm__.primary_field == "key"
    assert e.model_dump_doc()["_id"] == "blue"
    assert m.model_dump_doc()["_id"] == {"region": "eu", "number": 7}
    doc = Pointer(by_uuid=u, by_enum=e, by_decimal=d, by_embedded=m).model_dump_doc()
    assert doc["by_enum"] == "blue"
    assert doc["by_embedded"] == {"region": "eu", "number": 7}
    assert str(doc["by_decimal"]) == "1.25"
    assert doc["by_uuid"].subtype == 4
