"""``with_children=False``: finds and counts of a polymorphic class that keep to the
documents of exactly that class (its subclasses' left out)."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import Engine, NotLoaded, SyncEngine
from tests.references.family import Bike, Car, Garage, SportsCar, Vehicle
from tests.references.models import Author


async def _family(engine: Any) -> None:
    await engine.save_all([Vehicle(name="v"), Car(name="c"), SportsCar(name="s"), Bike(name="b")])
    # stored before the model became polymorphic: no discriminator, the base's
    engine.database["vehicles"].insert_one({"name": "legacy", "wheels": 3})


async def test_a_class_without_its_children(engine: Any) -> None:
    await _family(engine)
    bases = await engine.find(Vehicle, with_children=False, sort=Vehicle.name)
    assert [(type(v), v.name) for v in bases] == [(Vehicle, "legacy"), (Vehicle, "v")]
    assert [type(c) for c in await engine.find(Car, with_children=False)] == [Car]
    assert [type(s) for s in await engine.find(SportsCar, with_children=False)] == [SportsCar]
    assert await engine.count(Vehicle, with_children=False) == 2
    assert await engine.count(Car, with_children=False) == 1
    assert await engine.count(Bike, with_children=False) == 1
    assert await engine.count(Vehicle) == 5  # the default: the subclasses too
    assert await engine.count(Car) == 2


async def test_with_queries_sorts_and_windows(engine: Any) -> None:
    await _family(engine)
    assert await engine.find_one(Car, Car.name == "s", with_children=False) is None
    found = await engine.find_one(Car, Car.name == "c", with_children=False)
    assert type(found) is Car
    first = await engine.find_one(Vehicle, sort=Vehicle.name.desc(), with_children=False)
    assert first.name == "v"
    assert await engine.count(Vehicle, Vehicle.wheels == 3, with_children=False) == 1
    page = await engine.find(Vehicle, with_children=False, sort=Vehicle.name, skip=1, limit=1)
    assert [v.name for v in page] == ["v"]
    streamed = [v.name async for v in engine.find(Vehicle, with_children=False, sort=Vehicle.name)]
    assert streamed == ["legacy", "v"]
    raw = await engine.find(Vehicle, {"name": {"$in": ["c", "v"]}}, with_children=False)
    assert [v.name for v in raw] == ["v"]


async def test_a_document_with_a_null_discriminator_is_the_base_s(engine: Any) -> None:
    engine.database["vehicles"].insert_one({"name": "null", "wheels": 2, "_t": None})
    await engine.save(Car(name="c"))
    assert [v.name for v in await engine.find(Vehicle, with_children=False)] == ["null"]


async def test_a_model_outside_a_family_ignores_it(engine: Any) -> None:
    await engine.save_all([Author(name="a"), Author(name="b")])
    assert await engine.count(Author, with_children=False) == 2
    assert len(await engine.find(Author, with_children=False)) == 2
    assert (await engine.find_one(Author, Author.name == "b", with_children=False)).name == "b"


async def test_with_keys_only(engine: Any) -> None:
    sports, car = SportsCar(name="s"), Car(name="c")
    await engine.save(Garage(main=sports, others=[car]))
    [found] = await engine.find(Car, with_children=False, references="keys")
    assert found.name == "c"
    garage = await engine.find_one(Garage, references="keys", with_children=False)
    assert garage.main == NotLoaded(Vehicle, sports.id)


async def test_bad_with_children_is_refused_before_anything_is_sent(engine: Any) -> None:
    with pytest.raises(TypeError, match=r"find\(\): with_children must be True or False"):
        engine.find(Vehicle, with_children="no")
    with pytest.raises(TypeError, match=r"find_one\(\): with_children must be"):
        await engine.find_one(Vehicle, with_children=None)
    with pytest.raises(TypeError, match=r"count\(\): with_children must be"):
        await engine.count(Vehicle, with_children=0)


async def test_in_sessions_and_transactions(anyodm_engine: Engine) -> None:
    await _family(anyodm_engine)
    async with anyodm_engine.session() as session:
        assert await session.count(Car, with_children=False) == 1
        found = await session.find(Vehicle, with_children=False, sort=Vehicle.name)
        assert [v.name for v in found] == ["legacy", "v"]
    async with anyodm_engine.transaction() as tx:
        car = await tx.find_one(Car, with_children=False)
        assert car is not None
        assert car.name == "c"
        assert [c.name async for c in tx.find(Car, with_children=False)] == ["c"]


def test_sync_sessions_and_transactions(anyodm_sync_engine: SyncEngine) -> None:
    anyodm_sync_engine.save_all([Vehicle(name="v"), Car(name="c"), SportsCar(name="s")])
    with anyodm_sync_engine.transaction() as tx:
        assert tx.count(Car, with_children=False) == 1
        assert [c.name for c in tx.find(Car, with_children=False)] == ["c"]
        found = tx.find_one(Vehicle, with_children=False)
        assert found is not None
        assert type(found) is Vehicle
    with anyodm_sync_engine.session() as session:
        assert [v.name for v in session.find(SportsCar, with_children=False)] == ["s"]
