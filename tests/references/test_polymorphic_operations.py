"""Every operation on a class of a polymorphic family keeps to the documents of that
class and of its subclasses: aggregations (the class's ``$match`` first), server-side
updates, find-and-modify, ``remove``, ``distinct`` and ``count`` (on Engine with trio
and asyncio, and on SyncEngine; in transactions too)."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import Engine, SyncEngine, update
from anyodm.core.find import make_aggregate_spec
from anyodm.core.polymorphism import family_documents_filter, keep_pipeline_to_class
from tests.references.family import Bike, Car, Garage, SportsCar, Vehicle

CARS = {"_t": {"$in": ["Car", "sports"]}}


async def _family(engine: Any) -> None:
    await engine.save_all(
        [Vehicle(name="v"), Car(name="c"), SportsCar(name="s"), Bike(name="b", wheels=2)]
    )


def _raw(engine: Any) -> dict[str, dict[str, Any]]:
    return {doc["name"]: doc for doc in engine.database["vehicles"].find()}


# -- the filter helper ----------------------------------------------------------------------


def test_the_family_filter_of_each_class() -> None:
    assert family_documents_filter(Vehicle) is None  # the base: every document
    assert family_documents_filter(Garage) is None  # outside a family
    assert family_documents_filter(Car) == CARS
    assert family_documents_filter(SportsCar) == {"_t": {"$in": ["sports"]}}
    assert family_documents_filter(Bike) == {"_t": {"$in": ["Bike"]}}
    first = family_documents_filter(Car)
    assert first is not None
    first["_t"]["$in"].append("mutated")
    assert family_documents_filter(Car) == CARS  # a new document each time


# -- aggregate -------------------------------------------------------------------------------


async def test_an_aggregation_of_a_subclass_reads_only_its_documents(engine: Any) -> None:
    await _family(engine)
    found = await engine.aggregate(Car, [{"$sort": {"name": 1}}])
    assert [doc["name"] for doc in found] == ["c", "s"]
    counted = await engine.aggregate(Car, [{"$group": {"_id": None, "n": {"$sum": 1}}}])
    assert [doc["n"] for doc in counted] == [2]
    assert [doc["name"] for doc in await engine.aggregate(SportsCar, [])] == ["s"]
    bikes = await engine.aggregate(Bike, [{"$match": Bike.wheels == 2}], into=Bike)
    assert [(type(b), b.name) for b in bikes] == [(Bike, "b")]
    assert await engine.aggregate(Bike, [{"$match": Vehicle.name == "c"}]) == []


async def test_an_aggregation_of_the_base_reads_the_whole_family(engine: Any) -> None:
    await _family(engine)
    found = await engine.aggregate(Vehicle, [{"$sort": {"name": 1}}], into=Vehicle)
    assert [type(v) for v in found] == [Bike, Car, SportsCar, Vehicle]


async def test_a_streamed_aggregation_of_a_subclass_reads_only_its_documents(
    anyodm_engine: Engine,
) -> None:
    await _family(anyodm_engine)
    names = []
    async for doc in anyodm_engine.aggregate(Car, [{"$project": {"name": 1}}]):
        names.append(doc["name"])
    assert sorted(names) == ["c", "s"]


def test_sync_streamed_aggregation_of_a_subclass_reads_only_its_documents(
    anyodm_sync_engine: SyncEngine,
) -> None:
    anyodm_sync_engine.save_all([Vehicle(name="v"), Car(name="c"), SportsCar(name="s")])
    names = [doc["name"] for doc in anyodm_sync_engine.aggregate(SportsCar, [])]
    assert names == ["s"]


async def test_an_aggregation_in_a_transaction_keeps_to_its_class(anyodm_engine: Engine) -> None:
    await _family(anyodm_engine)
    async with anyodm_engine.transaction() as tx:
        await tx.save(Car(name="c2"))
        found = await tx.aggregate(Car, [{"$sort": {"name": 1}}])
    assert [doc["name"] for doc in found] == ["c", "c2", "s"]


def test_sync_aggregation_in_a_transaction_keeps_to_its_class(
    anyodm_sync_engine: SyncEngine,
) -> None:
    anyodm_sync_engine.save_all([Vehicle(name="v"), Car(name="c"), Bike(name="b")])
    with anyodm_sync_engine.transaction() as tx:
        found = list(tx.aggregate(Bike, []))
    assert [doc["name"] for doc in found] == ["b"]


def test_the_class_match_comes_first_in_the_pipeline_sent() -> None:
    spec = make_aggregate_spec(Car, [{"$match": Car.doors == 2}], None)
    assert spec.pipeline == [{"$match": CARS}, {"$match": {"doors": {"$eq": 2}}}]
    assert make_aggregate_spec(Car, [], None).pipeline == [{"$match": CARS}]
    base = make_aggregate_spec(Vehicle, [{"$match": Vehicle.name == "v"}], None)
    assert base.pipeline == [{"$match": {"name": {"$eq": "v"}}}]  # the base: nothing added
    other = make_aggregate_spec(Garage, [], None)
    assert other.pipeline == []


def test_stages_that_must_come_first_stay_first() -> None:
    near = {"near": {"type": "Point", "coordinates": [0, 0]}, "distanceField": "d"}
    assert keep_pipeline_to_class(Car, [{"$geoNear": near}]) == [
        {"$geoNear": {**near, "query": CARS}}
    ]
    filtered = {**near, "query": {"doors": 2}}
    assert keep_pipeline_to_class(Car, [{"$geoNear": filtered}, {"$limit": 1}]) == [
        {"$geoNear": {**near, "query": {"$and": [CARS, {"doors": 2}]}}},
        {"$limit": 1},
    ]
    assert near == {"near": {"type": "Point", "coordinates": [0, 0]}, "distanceField": "d"}
    search = {"$search": {"text": {"query": "c", "path": "name"}}}
    assert keep_pipeline_to_class(Car, [search, {"$limit": 1}]) == [
        search,
        {"$match": CARS},
        {"$limit": 1},
    ]
    stats = [{"$collStats": {"count": {}}}]
    assert keep_pipeline_to_class(Car, stats) == stats  # not documents: left as it is


# -- updates, find-and-modify, remove, distinct, count ---------------------------------------


async def test_updates_of_a_subclass_keep_to_its_documents(engine: Any) -> None:
    await _family(engine)
    missed = await engine.update_one(Bike, Bike.name == "c", update=update.set(Bike.bell, False))
    assert (missed.matched, missed.modified) == (0, 0)
    assert "bell" not in _raw(engine)["c"]
    result = await engine.update_many(Car, update=update.inc(Car.wheels, 1))
    assert (result.matched, result.modified) == (2, 2)
    assert {name: doc["wheels"] for name, doc in _raw(engine).items()} == {
        "v": 4,
        "c": 5,
        "s": 5,
        "b": 2,
    }


async def test_find_one_and_update_of_a_subclass_keeps_to_its_documents(engine: Any) -> None:
    await _family(engine)
    assert (
        await engine.find_one_and_update(
            SportsCar, SportsCar.name == "c", update=update.set(SportsCar.top_speed, 1)
        )
        is None
    )
    assert "top_speed" not in _raw(engine)["c"]
    first = await engine.find_one_and_update(
        Car, sort=Car.name.desc(), update=update.set(Car.doors, 3)
    )
    assert (type(first), first.name, first.doors) == (SportsCar, "s", 3)  # not "v"


async def test_find_one_and_delete_of_a_subclass_keeps_to_its_documents(engine: Any) -> None:
    await _family(engine)
    assert await engine.find_one_and_delete(Bike, Bike.name == "v") is None
    deleted = await engine.find_one_and_delete(Car, sort=Car.name.desc())
    assert (type(deleted), deleted.name) == (SportsCar, "s")  # not "v"
    assert sorted(_raw(engine)) == ["b", "c", "v"]


async def test_remove_distinct_and_count_of_a_subclass_keep_to_its_documents(
    engine: Any,
) -> None:
    await _family(engine)
    assert sorted(await engine.distinct(Car, Car.name)) == ["c", "s"]
    assert await engine.distinct(Bike, "wheels") == [2]
    assert await engine.count(Car, Car.name == "b") == 0
    assert await engine.remove(Bike, Bike.wheels == 4) == 0
    assert await engine.remove(SportsCar) == 1
    assert sorted(_raw(engine)) == ["b", "c", "v"]


async def test_server_operations_of_a_subclass_keep_to_it_in_a_transaction(
    anyodm_engine: Engine,
) -> None:
    await _family(anyodm_engine)
    async with anyodm_engine.transaction() as tx:
        assert (await tx.update_many(Bike, update=update.set(Bike.bell, False))).matched == 1
        assert await tx.find_one_and_delete(Bike, Bike.name == "c") is None
        assert sorted(await tx.distinct(Car, "name")) == ["c", "s"]
    raw = _raw(anyodm_engine)
    assert raw["b"]["bell"] is False
    assert sorted(raw) == ["b", "c", "s", "v"]


@pytest.mark.parametrize("model", [Car, SportsCar, Bike])
def test_every_filter_of_a_subclass_starts_with_its_family_filter(model: Any) -> None:
    from anyodm.core.find import make_filter_spec, make_find_spec
    from anyodm.core.server_operations import make_distinct_spec, make_update_spec

    expected = family_documents_filter(model)
    query = (model.name == "x",)
    filters = [
        make_find_spec(model, query, None, 0, None, "find").filter,
        make_find_spec(model, query, model.name, 0, 1, "find_one_and_delete").filter,
        make_filter_spec(model, query, "count").filter,
        make_filter_spec(model, query, "remove").filter,
        make_update_spec(
            model, query, update.set(model.name, "y"), False, "update_many"
        ).find.filter,
        make_distinct_spec(model, "name", query).find.filter,
    ]
    for sent in filters:
        assert sent == {"$and": [expected, {"name": {"$eq": "x"}}]}
