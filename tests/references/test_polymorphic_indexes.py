"""Indexes of a polymorphic family: the base's cover the whole collection, a subclass's
own cover only its documents and its subclasses' (a partial filter on ``_t``), so two
siblings may share a value that one of them declares unique."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import IndexModel

from anyodm import Engine, Field, Index, Model, SyncEngine
from anyodm.errors import DuplicateKeyError
from anyodm.model import ODMConfigDict


class Product(Model):
    model_config = ODMConfigDict(polymorphic=True, collection="products")
    sku: str = Field(unique=True)  # the base's: every product


class Gadget(Product):
    serial: str = Field(unique=True)  # Gadgets and Phones only


class Phone(Gadget):
    imei: str = Field(default="", unique=True)  # Phones only


class Gift(Product):
    serial: str = ""  # not unique among Gifts


class Card(Product):
    model_config = ODMConfigDict(
        indexes=lambda: [
            Index(Card.code, unique=True),
            Index(Card.code, Card.sku, name="by_code"),
            IndexModel([("note", 1)], sparse=True, partialFilterExpression={"sku": {"$gt": ""}}),
        ]
    )
    code: str = ""
    note: str | None = None


class Badge(Model):
    """Two siblings with a unique index each on the same key."""

    model_config = ODMConfigDict(polymorphic=True, collection="badges")


class Staff(Badge):
    number: int = Field(unique=True)


class Guest(Badge):
    number: int = Field(unique=True)


def _documents(model: type[Model]) -> list[dict[str, Any]]:
    return [index.document for index in model.__anyodm__.indexes]


def test_a_subclass_index_covers_its_own_documents() -> None:
    assert _documents(Product) == [{"key": {"sku": 1}, "unique": True, "name": "sku_1"}]
    assert _documents(Gadget) == [  # its own field only (sku is the base's)
        {
            "key": {"serial": 1},
            "unique": True,
            "name": "serial_1_Gadget",
            "partialFilterExpression": {"_t": {"$in": ["Gadget", "Phone"]}},
        }
    ]
    assert _documents(Phone) == [
        {
            "key": {"imei": 1},
            "unique": True,
            "name": "imei_1_Phone",
            "partialFilterExpression": {"_t": "Phone"},
        }
    ]
    card = _documents(Card)
    assert card[0]["name"] == "code_1_Card"
    assert card[0]["partialFilterExpression"] == {"_t": "Card"}
    assert card[1]["name"] == "by_code"  # a name given is kept
    assert card[2]["partialFilterExpression"] == {  # sparse: the server refuses it with a
        "sku": {"$gt": ""},  # partial filter, so it becomes $exists (and yours is kept)
        "_t": "Card",
        "note": {"$exists": True},
    }
    assert "sparse" not in card[2]


@pytest.fixture
def members_left_alone() -> Iterator[None]:
    """Classes a test adds to the Product family leave it afterwards."""
    family = Product.__anyodm__.family
    assert family is not None
    before = dict(family.classes)
    yield
    family.classes.clear()
    family.classes.update(before)


@pytest.mark.usefixtures("members_left_alone")
def test_bad_subclass_indexes_are_refused_before_anything_is_sent(
    anyodm_sync_engine: SyncEngine,
) -> None:
    class Sparse(Product):
        model_config = ODMConfigDict(indexes=[IndexModel([("a", 1), ("b", 1)], sparse=True)])

    with pytest.raises(TypeError, match=r"Sparse: the index 'a_1_b_1' .* sparse=True"):
        Sparse.__anyodm__.indexes  # noqa: B018
    with pytest.raises(TypeError, match=r"Sparse: the index 'a_1_b_1'"):
        anyodm_sync_engine.configure_database([Gift, Product])
    assert "products" not in anyodm_sync_engine.database.list_collection_names()
    Product.__anyodm__.family.classes.pop("Sparse")  # type: ignore[union-attr]

    class Named(Product):
        model_config = ODMConfigDict(indexes=[Index("sku", name="by_code")])

    with pytest.raises(TypeError, match=r"Named: the index name 'by_code' is already used"):
        anyodm_sync_engine.configure_database([Product])
    assert "products" not in anyodm_sync_engine.database.list_collection_names()


async def test_siblings_may_share_a_value_one_declares_unique(engine: Any) -> None:
    await engine.configure_database([Product])
    names = set(engine.database["products"].index_information())
    assert {"sku_1", "serial_1_Gadget", "imei_1_Phone", "code_1_Card", "by_code"} <= names
    await engine.save_all(
        [
            Gadget(sku="g1", serial="x"),
            Gift(sku="f1", serial="x"),  # a sibling: Gadget's unique index leaves it
            Gift(sku="f2", serial="x"),  # Gifts themselves have no unique serial
            Card(sku="c1", code="x"),
            Card(sku="c2", code="y", note="n"),
            Card(sku="c3", code="z"),
            Phone(sku="p1", serial="y", imei="1"),
            Gadget(sku="g2", serial="z"),  # Gadgets have no imei: Phones' index leaves them
        ]
    )
    assert await engine.count(Product) == 8
    before = list(engine.database["products"].find(sort=[("_id", 1)]))
    for duplicate in (
        Gadget(sku="g3", serial="x"),  # a Gadget's serial
        Phone(sku="p2", serial="x", imei="2"),  # a Phone is a Gadget
        Phone(sku="p3", serial="w", imei="1"),  # a Phone's imei
        Card(sku="c4", code="x"),  # a Card's code
        Gift(sku="g1"),  # the base's index covers every product
    ):
        with pytest.raises(DuplicateKeyError):
            await engine.save(duplicate)
    assert list(engine.database["products"].find(sort=[("_id", 1)])) == before


async def test_in_a_transaction(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    await engine.configure_database([Product])
    async with engine.transaction() as tx:
        await tx.save_all([Gadget(sku="g", serial="x"), Gift(sku="f", serial="x")])
    with pytest.raises(DuplicateKeyError):
        async with engine.transaction() as tx:
            await tx.save(Gift(sku="f2", serial="x"))  # fine: a sibling
            await tx.save(Phone(sku="p", serial="x"))  # a Gadget's serial: all aborted
    assert await engine.count(Product) == 2
    async with engine.session() as session:
        await session.save(Gift(sku="f2", serial="x"))
    assert await engine.count(Gift) == 2


def test_sync_transaction(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    engine.configure_database([Product])
    with engine.transaction() as tx:
        tx.save_all([Gadget(sku="g", serial="x"), Gift(sku="f", serial="x")])
    with pytest.raises(DuplicateKeyError), engine.transaction() as tx:
        tx.save(Gadget(sku="g2", serial="x"))
    assert engine.count(Product) == 2


@pytest.mark.needs_real_mongodb(
    "the embedded server refuses a second index on one key pattern, even with another "
    "partial filter (MongoDB accepts it)"
)
async def test_siblings_each_with_a_unique_index_on_one_key(engine: Any) -> None:
    await engine.configure_database([Badge])
    assert {"number_1_Staff", "number_1_Guest"} <= set(
        engine.database["badges"].index_information()
    )
    await engine.save_all([Staff(number=1), Guest(number=1)])
    with pytest.raises(DuplicateKeyError):
        await engine.save(Guest(number=1))
    assert await engine.count(Badge) == 2
