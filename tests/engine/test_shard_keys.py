"""A model declaring its shard key: every write of one instance filters on the key's
stored values (where the document lives), on both engines; changing a value is refused
outside a transaction and sent with the old values inside one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from bson import Decimal128

from anyodm import BackReference, Field, Model, Reference
from anyodm.errors import InvalidOperationError, RevisionConflictError
from anyodm.model import ODMConfigDict
from tests.engine.test_what_is_stored import Writes, transaction, watched

__all__ = ["watched"]  # the fixture, imported for the tests below


class Order(Model):
    tenant: str = Field(key_name="t")
    region: Decimal = Decimal("1.5")
    item: str = ""
    model_config = ODMConfigDict(collection="shard_orders", shard_key=("tenant", "region", "id"))


class Ticket(Model):
    tenant: str
    title: str = ""
    model_config = ODMConfigDict(
        collection="shard_tickets", shard_key=("tenant",), optimistic_concurrency=True
    )


class Animal(Model):
    zoo: str
    name: str = ""
    model_config = ODMConfigDict(collection="shard_animals", shard_key=("zoo",), polymorphic=True)


class Lion(Animal):
    mane: bool = True


class Plain(Order):
    """A plain subclass: its own collection, its parent's shard key."""

    model_config = ODMConfigDict(collection="shard_plain")


class Writer(Model):
    name: str = ""
    model_config = ODMConfigDict(collection="shard_writers")


class ShardBook(Model):
    writer: Writer = Reference()
    model_config = ODMConfigDict(collection="shard_books")


WHERE = {"t": "acme", "region": Decimal128("1.5")}


def _filters(writes: Writes) -> list[dict[str, Any]]:
    """The filter of every update and delete sent, in order."""
    found = []
    for command in writes.sent:
        for item in command.get("updates", []):
            found.append(dict(item["q"]))
        for item in command.get("deletes", []):
            found.append(dict(item["q"]))
    return found


def _has(filter_: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(key in filter_ and filter_[key] == value for key, value in expected.items())


# -- declaration -------------------------------------------------------------------------


def test_the_shard_key_is_known_by_stored_names() -> None:
    shard_key = Order.__anyodm__.shard_key
    assert shard_key is not None
    assert shard_key.fields == ("tenant", "region", "id")
    assert shard_key.keys == ("t", "region", "_id")
    assert Lion.__anyodm__.shard_key == Animal.__anyodm__.shard_key
    assert Plain.__anyodm__.shard_key == shard_key


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (("tenant", "nope"), r"^Bad\.nope: .*names 'nope', which is not a field of Bad"),
        ("tenant", r"^Bad: .*must be a tuple of field names.*\(\"tenant\",\)"),
        ((), r"^Bad: model_config\['shard_key'\] names no field"),
        (("tags",), r"^Bad\.tags: a shard key field cannot be a list"),
        (("tenant", "tenant"), r"^Bad\.tenant: .*names it twice"),
        (("address.city",), r"^Bad\.address\.city: .*not a field of Bad"),
        ((1,), r"^Bad: .*holds 1, not a field name"),
    ],
)
def test_a_bad_shard_key_is_refused_at_class_creation(declared: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):

        class Bad(Model):
            tenant: str
            tags: list[str] = Field(default_factory=list)
            model_config = ODMConfigDict(shard_key=declared)


def test_a_back_reference_is_not_a_shard_key() -> None:
    with pytest.raises(TypeError, match=r"^Author\.books: a back-reference is never stored"):

        class Author(Model):
            books: list[ShardBook] = BackReference("writer")
            model_config = ODMConfigDict(collection="shard_authors", shard_key=("books",))


def test_a_polymorphic_subclass_keeps_its_base_shard_key() -> None:
    with pytest.raises(TypeError, match=r"^Tiger: a subclass of the polymorphic Animal .*base's"):

        class Tiger(Animal):
            stripes: int = 0
            model_config = ODMConfigDict(shard_key=("name",))

    class Cub(Animal):  # the base's own key, named again: accepted
        model_config = ODMConfigDict(shard_key=("zoo",))

    assert Cub.__anyodm__.shard_key == Animal.__anyodm__.shard_key


# -- writes ------------------------------------------------------------------------------


async def test_every_write_of_an_instance_names_its_shard_key(
    watched: tuple[Any, Writes],
) -> None:
    engine, writes = watched
    order = Order(tenant="acme", item="a")
    await engine.save(order)  # a generated key: an insert, the key in the document
    assert [c["documents"][0]["t"] for c in writes.sent] == ["acme"]
    writes.sent.clear()

    loaded = await engine.find_one(Order, Order.id == order.id)
    loaded.item = "b"
    await engine.save(loaded)  # an update of the stored document
    chosen = Order(id=order.id, tenant="acme", item="c")
    await engine.save(chosen)  # a chosen key, nothing known stored: an upsert
    await engine.save_all([loaded.model_copy(update={"item": "d"}), Order(tenant="acme")])
    await engine.delete(loaded)
    filters = _filters(writes)
    assert len(filters) == 4
    for filter_ in filters:
        assert _has(filter_, {**WHERE, "_id": order.id}), filter_
    update = writes.updates()[0]
    assert update["u"] == {"$set": {"item": "b"}}  # the key itself is not sent again


async def test_a_plain_subclass_filters_on_its_parents_shard_key(
    watched: tuple[Any, Writes],
) -> None:
    engine, writes = watched
    plain = Plain(tenant="acme")
    await engine.save(plain)
    plain.item = "x"
    await engine.save(plain)
    assert _has(_filters(writes)[0], {**WHERE, "_id": plain.id})


async def test_the_filter_holds_the_values_the_document_was_loaded_with(
    watched: tuple[Any, Writes],
) -> None:
    engine, writes = watched
    order = Order(tenant="acme")
    await engine.save(order)
    order.tenant = "other"  # not saved: the document is still under "acme"
    writes.sent.clear()
    await engine.delete(order)
    assert _has(_filters(writes)[0], {**WHERE, "_id": order.id})
    assert await engine.count(Order) == 0


async def test_changing_a_shard_key_value_is_refused_outside_a_transaction(
    watched: tuple[Any, Writes],
) -> None:
    engine, writes = watched
    order = Order(tenant="acme", item="a")
    await engine.save(order)
    order.tenant = "other"
    order.item = "b"
    writes.sent.clear()
    with pytest.raises(InvalidOperationError, match=r"^Order\.tenant: the save changes a shard"):
        await engine.save(order)
    with pytest.raises(InvalidOperationError, match=r"^Order\.tenant: .*nothing was sent"):
        await engine.save_all([Order(tenant="fresh"), order])
    assert writes.sent == []
    stored = await engine.find_one(Order)
    assert (stored.tenant, stored.item) == ("acme", "a")


async def test_a_shard_key_value_changes_inside_a_transaction(
    watched: tuple[Any, Writes],
) -> None:
    engine, writes = watched
    order = Order(tenant="acme", item="a")
    await engine.save(order)
    order.tenant = "other"
    writes.sent.clear()
    async with transaction(engine) as tx:
        await tx.save(order)
    (update,) = writes.updates()
    assert _has(update["q"], {**WHERE, "_id": order.id})  # the old values
    assert update["u"] == {"$set": {"t": "other"}}  # the new ones
    stored = await engine.find_one(Order)
    assert stored.tenant == "other"
    writes.sent.clear()
    stored.item = "moved"
    await engine.save(stored)  # its saved state follows: the new values now
    assert _has(_filters(writes)[0], {"t": "other", "_id": order.id})


async def test_revision_checked_writes_name_the_shard_key(watched: tuple[Any, Writes]) -> None:
    engine, writes = watched
    ticket = Ticket(tenant="acme")
    await engine.save(ticket)
    ticket.title = "t"
    await engine.save(ticket)
    await engine.delete(ticket)
    filters = _filters(writes)
    assert [f.get("_rev") for f in filters] == [1, 2]
    assert all(_has(f, {"tenant": "acme", "_id": ticket.id}) for f in filters)
    stale = Ticket(id=ticket.id, tenant="acme")
    await engine.save(stale)  # never loaded: an upsert of a document without a revision
    assert _has(_filters(writes)[-1], {"tenant": "acme", "_rev": {"$exists": False}})
    other = await engine.find_one(Ticket)
    other.title = "x"
    await engine.save(other)
    stale.title = "y"
    with pytest.raises(RevisionConflictError):
        await engine.save(stale)


async def test_a_polymorphic_subclass_writes_with_its_base_shard_key(
    watched: tuple[Any, Writes],
) -> None:
    engine, writes = watched
    lion = Lion(zoo="north", name="leo")
    await engine.save(lion)
    lion.mane = False
    await engine.save(lion)
    await engine.delete(lion)
    filters = _filters(writes)
    assert len(filters) == 2
    assert all(_has(f, {"zoo": "north", "_id": lion.id}) and "_t" in f for f in filters)


async def test_a_document_deleted_meanwhile_is_stored_again_where_it_was(
    watched: tuple[Any, Writes],
) -> None:
    engine, writes = watched
    order = Order(tenant="acme")
    await engine.save(order)
    engine.database["shard_orders"].delete_one({"_id": order.id})
    order.item = "again"
    writes.sent.clear()
    await engine.save(order)  # the update matches nothing: the whole document upserted
    filters = _filters(writes)
    assert len(filters) == 2
    assert all(_has(f, {**WHERE, "_id": order.id}) for f in filters)
    assert (await engine.find_one(Order)).item == "again"
