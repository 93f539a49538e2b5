"""A bulk write keeps the rules a model declares elsewhere: delete rules of references
(a bulk delete cannot apply them, so it is refused), views (never written) and shard
keys (every delete of one instance filters on them)."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import Model, Reference, View, bulk
from anyodm.errors import InvalidOperationError
from anyodm.model import ODMConfigDict
from tests.engine.test_what_is_stored import Writes, watched

__all__ = ["watched"]  # the fixture, imported for the tests below


class Shelf(Model):
    name: str
    model_config = ODMConfigDict(collection="bulk_rules_shelves")


class Volume(Model):
    shelf: Shelf = Reference(on_delete="deny")
    model_config = ODMConfigDict(collection="bulk_rules_volumes")


class ShelfNames(Model):
    name: str
    model_config = ODMConfigDict(
        collection="bulk_rules_shelf_names",
        view=View(source=Shelf, pipeline=[{"$project": {Shelf.name: 1}}]),
    )


class Parcel(Model):
    tenant: str
    note: str = ""
    model_config = ODMConfigDict(collection="bulk_rules_parcels", shard_key=("tenant", "id"))


async def test_deleting_a_target_of_delete_rules_is_refused_before_sending(
    watched: tuple[Any, Writes],
) -> None:
    engine, writes = watched
    shelf = Shelf(name="a")
    await engine.save(Volume(shelf=shelf))
    writes.sent.clear()
    for item in (bulk.Delete(shelf), bulk.DeleteMany(Shelf), bulk.DeleteOne(Shelf)):
        with pytest.raises(InvalidOperationError, match=r"Volume\.shelf"):
            await engine.bulk_write([bulk.Insert(Shelf(name="b")), item])
    assert writes.sent == []
    assert await engine.count(Shelf) == 1


async def test_writing_to_a_view_is_refused_before_sending(watched: tuple[Any, Writes]) -> None:
    engine, writes = watched
    with pytest.raises(InvalidOperationError, match="ShelfNames"):
        await engine.bulk_write([bulk.Insert(Shelf(name="b")), bulk.Insert(ShelfNames(name="x"))])
    assert writes.sent == []


async def test_a_bulk_delete_filters_on_the_shard_key_where_the_document_lives(
    watched: tuple[Any, Writes],
) -> None:
    engine, writes = watched
    parcel = Parcel(tenant="acme")
    await engine.save(parcel)
    parcel.note = "unsaved change"
    writes.sent.clear()
    await engine.bulk_write([bulk.Delete(parcel)])
    (command,) = writes.sent
    (delete,) = command["deletes"]
    assert delete["q"] == {"_id": parcel.id, "tenant": "acme"}
    assert await engine.count(Parcel) == 0
