"""Items 2 and 9: changes anywhere in a reference graph are saved (each instance once,
children first, one bulk write per model, in the caller's session), and references
inside embedded models (directly, optional, in lists, generic) load and save like
top-level ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import pytest
from pymongo import MongoClient, monitoring

from anyodm import EmbeddedModel, Engine, Field, Model, Reference, SyncEngine
from anyodm.model.tracking import changes_for_save


class Country(Model):
    name: str


class Publisher(Model):
    name: str
    country: Country = Reference()


class Book(Model):
    title: str
    publisher: Publisher = Reference()


class Product(Model):
    name: str
    price: int = 0


class Line(EmbeddedModel):
    product: Product = Reference()
    quantity: int = 1


class Order(Model):
    main: Line
    lines: list[Line] = Field(default_factory=list)
    backup: Line | None = None


T = TypeVar("T", bound=Model)


class Box(EmbeddedModel, Generic[T]):
    item: T = Reference()
    label: str = ""


class Shelf(Model):
    box: Box[Product]


class Writes(monitoring.CommandListener):
    """The write commands a client sends, as (command, collection, documents) tuples."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in ("insert", "update"):
            docs = event.command.get("documents") or event.command.get("updates") or []
            self.seen.append((name, event.command[name], len(docs)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def writes() -> Writes:
    return Writes()


@pytest.fixture(params=["async", "sync"])
def watched_engine(
    request: pytest.FixtureRequest, mongodb_uri: str, mongo_database: Any, writes: Writes
) -> Iterator[Any]:
    """An engine (Engine, or SyncEngine behind awaitable methods) whose writes are seen."""
    from tests.engine.conftest import AwaitableSyncEngine

    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[writes])
    try:
        if request.param == "async":
            yield Engine(client=client, database=mongo_database.name)
        else:
            yield AwaitableSyncEngine(SyncEngine(client=client, database=mongo_database.name))
    finally:
        client.close()


async def test_a_change_two_references_deep_is_saved(engine: Any) -> None:
    book = Book(title="b", publisher=Publisher(name="p", country=Country(name="France")))
    await engine.save(book)
    loaded = await engine.find_one(Book)
    loaded.publisher.country.name = "Italy"  # the publisher itself is unchanged
    await engine.save(loaded)
    assert (await engine.find_one(Country)).name == "Italy"
    assert changes_for_save(loaded.publisher.country) == {}


async def test_each_instance_once_children_first_one_bulk_write_per_model(
    watched_engine: Any, writes: Writes
) -> None:
    france = Country(name="France")
    publishers = [Publisher(name=f"p{i}", country=france) for i in range(2)]
    books = [Book(title=f"b{i}", publisher=publishers[i % 2]) for i in range(4)]
    await watched_engine.save_all(books)
    assert [(command, collection) for command, collection, _ in writes.seen] == [
        ("insert", "country"),
        ("insert", "publisher"),
        ("insert", "book"),
    ]
    assert [count for _, _, count in writes.seen] == [1, 2, 4]

    writes.seen.clear()
    loaded = await watched_engine.find(Book, sort=Book.title)
    loaded[0].publisher.country.name = "Spain"
    loaded[1].publisher.name = "renamed"
    await watched_engine.save_all(loaded)  # the country is reached from every book
    assert writes.seen == [
        ("update", "country", 1),
        ("update", "publisher", 1),
    ]
    writes.seen.clear()
    await watched_engine.save(loaded[2])  # nothing changed any more
    assert writes.seen == []


async def test_a_deep_change_is_saved_in_the_callers_transaction(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    await engine.save(Book(title="b", publisher=Publisher(name="p", country=Country(name="F"))))
    loaded = await engine.find_one(Book)
    countries = engine.get_collection(Country)
    async with engine.transaction() as tx:
        loaded.publisher.country.name = "G"
        await tx.save(loaded)
        assert countries.find_one()["name"] == "F"  # not visible outside the transaction
    assert countries.find_one()["name"] == "G"


def test_a_deep_change_is_saved_in_a_sync_transaction(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    engine.save(Book(title="b", publisher=Publisher(name="p", country=Country(name="F"))))
    loaded = engine.find_one(Book)
    countries = engine.get_collection(Country)
    with engine.transaction() as tx:
        loaded.publisher.country.name = "G"
        tx.save(loaded)
        assert countries.find_one()["name"] == "F"
    assert countries.find_one()["name"] == "G"


async def test_references_inside_embedded_models(engine: Any) -> None:
    pen, ink, pad = Product(name="pen"), Product(name="ink"), Product(name="pad")
    order = Order(
        main=Line(product=pen, quantity=2),
        lines=[Line(product=ink), Line(product=pad), Line(product=ink)],
        backup=None,
    )
    await engine.save(order)  # the products are saved first
    raw = engine.database["order"].find_one()
    assert raw["main"]["product"] == pen.id
    assert [line["product"] for line in raw["lines"]] == [ink.id, pad.id, ink.id]
    assert await engine.count(Product) == 3

    found = await engine.find_one(Order)
    assert found == order
    assert found.lines[2].product == ink
    assert changes_for_save(found) == {}  # loaded references are not changes
    assert changes_for_save(found.lines[0].product) == {}

    found.lines[1].product.price = 7  # a change inside a referenced instance
    found.backup = Line(product=Product(name="new"))
    await engine.save(found)
    assert (await engine.find_one(Product, Product.name == "pad")).price == 7
    again = await engine.find_one(Order)
    assert again.backup.product.name == "new"
    assert await engine.find_one(Order, Order.main.product == pen) == again


async def test_generic_embedded_models_holding_references(engine: Any) -> None:
    shelf = Shelf(box=Box[Product](item=Product(name="lamp"), label="l"))
    await engine.save(shelf)
    found = await engine.find_one(Shelf)
    assert found.box.item.name == "lamp"
    assert isinstance(found.box.item, Product)
    found.box.item.name = "bulb"
    await engine.save(found)
    assert (await engine.find_one(Product)).name == "bulb"


class Keyed(EmbeddedModel):
    product: Product = Reference()


class ByName(Model):
    entries: dict[str, Keyed] = Field(default_factory=dict)


async def test_references_in_dict_values_are_refused_clearly(engine: Any) -> None:
    with pytest.raises(TypeError, match=r"ByName\.entries: Keyed holds references"):
        await engine.save(ByName(entries={"a": Keyed(product=Product(name="x"))}))
    assert await engine.count(Product) == 0


class Edition(EmbeddedModel):
    publisher: Publisher = Reference()  # itself referencing a Country


class Shipment(EmbeddedModel):
    line: Line
    lines: list[Line] = Field(default_factory=list)


class Catalog(Model):
    editions: list[Edition] = Field(default_factory=list)
    shipments: list[Shipment] = Field(default_factory=list)
    spare: Shipment | None = None


async def test_nested_embedded_references_and_nested_lookups(engine: Any) -> None:
    uk = Country(name="UK")
    penguin = Publisher(name="Penguin", country=uk)
    pen, ink = Product(name="pen"), Product(name="ink")
    catalog = Catalog(
        editions=[Edition(publisher=penguin), Edition(publisher=penguin)],
        shipments=[
            Shipment(line=Line(product=pen), lines=[Line(product=ink), Line(product=pen)]),
            Shipment(line=Line(product=ink)),
        ],
        spare=None,
    )
    await engine.save(catalog)
    assert await engine.count(Country) == 1
    assert await engine.count(Publisher) == 1
    found = await engine.find_one(Catalog)
    assert found == catalog
    assert found.editions[1].publisher.country.name == "UK"
    assert found.shipments[0].lines[1].product.name == "pen"
    assert changes_for_save(found) == {}

    found.editions[0].publisher.country.name = "GB"  # three references deep
    found.shipments[1].line.product.price = 3
    await engine.save(found)
    assert (await engine.find_one(Country)).name == "GB"
    assert (await engine.find_one(Product, Product.name == "ink")).price == 3
    assert await engine.count(Catalog) == 1
