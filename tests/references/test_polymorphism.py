"""Polymorphic models: a base model and its subclasses in one collection, each document
parsed as its own class (on Engine and SyncEngine, in sessions and transactions)."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import Engine, Model, SyncEngine
from anyodm.errors import DocumentParsingError, InvalidValueError
from anyodm.model import ODMConfigDict
from anyodm.model.tracking import changes_for_save
from tests.references.family import Bike, Car, Garage, SportsCar, Vehicle


def _family() -> list[Vehicle]:
    return [Vehicle(name="v"), Car(name="c"), SportsCar(name="s"), Bike(name="b")]


async def test_one_collection_each_document_its_own_class(engine: Any) -> None:
    await engine.save_all(_family())
    raw = {doc["name"]: doc["_t"] for doc in engine.database["vehicles"].find()}
    assert raw == {"v": "Vehicle", "c": "Car", "s": "sports", "b": "Bike"}
    found = await engine.find(Vehicle, sort=Vehicle.name)
    assert [type(v) for v in found] == [Bike, Car, SportsCar, Vehicle]
    assert all(changes_for_save(v) == {} for v in found)
    sports = await engine.find_one(Vehicle, Vehicle.name == "s")
    assert isinstance(sports, SportsCar)
    assert sports.top_speed == 250


async def test_a_subclass_finds_its_own_documents_and_its_subclasses(engine: Any) -> None:
    await engine.save_all(_family())
    assert [type(c) for c in await engine.find(Car, sort=Car.name)] == [Car, SportsCar]
    assert [type(s) for s in await engine.find(SportsCar)] == [SportsCar]
    assert await engine.count(Car) == 2
    assert await engine.count(Bike) == 1
    assert await engine.count(Vehicle) == 4
    assert await engine.find_one(Bike, Bike.name == "c") is None
    assert await engine.remove(Car) == 2
    assert sorted(v.name for v in await engine.find(Vehicle)) == ["b", "v"]


async def test_changes_to_a_subclass_instance_are_saved(engine: Any) -> None:
    await engine.save_all(_family())
    car = await engine.find_one(Vehicle, Vehicle.name == "c")
    car.doors = 2
    await engine.save(car)
    raw = engine.database["vehicles"].find_one({"name": "c"})
    assert raw["doors"] == 2
    assert raw["_t"] == "Car"


async def test_references_to_the_base_load_each_subclass(engine: Any) -> None:
    sports, bike, plain = SportsCar(name="s"), Bike(name="b"), Vehicle(name="v")
    garage = Garage(main=sports, others=[bike, plain])
    await engine.save(garage)
    found = await engine.find_one(Garage)
    assert isinstance(found.main, SportsCar)
    assert [type(v) for v in found.others] == [Bike, Vehicle]
    assert found == garage
    assert changes_for_save(found) == {}


async def test_an_unknown_discriminator_is_a_parsing_error(engine: Any) -> None:
    engine.database["vehicles"].insert_one({"_t": "Plane", "name": "p", "wheels": 3})
    with pytest.raises(DocumentParsingError, match=r"_t: unknown discriminator 'Plane'"):
        await engine.find(Vehicle)


async def test_a_document_without_discriminator_is_the_base(engine: Any) -> None:
    engine.database["vehicles"].insert_one({"name": "old", "wheels": 3})
    found = await engine.find_one(Vehicle)
    assert type(found) is Vehicle
    found.wheels = 5
    await engine.save(found)  # the base's own document: updated in place
    assert engine.database["vehicles"].count_documents({}) == 1


async def test_a_subclass_saved_over_a_siblings_document_is_refused(engine: Any) -> None:
    car = Car(name="c")
    await engine.save(car)
    bike = Bike(id=car.id, name="intruder")
    with pytest.raises(InvalidValueError, match=r"stored as a Car of the Vehicle family"):
        await engine.save(bike)
    with pytest.raises(InvalidValueError, match=r"stored as a Car of the Vehicle family"):
        await engine.save_all([bike])
    raw = engine.database["vehicles"].find_one({"_id": car.id})
    assert raw == {"_id": car.id, "name": "c", "wheels": 4, "doors": 4, "_t": "Car"}
    assert changes_for_save(bike)  # still unsaved


async def test_the_familys_indexes_are_created_together(engine: Any) -> None:
    await engine.configure_database([Vehicle])
    names = set(engine.database["vehicles"].index_information())
    assert {"wheels_1", "top_speed_1_sports"} <= names  # a subclass's: named by its class


def test_a_discriminator_collision_is_refused_at_class_creation() -> None:
    with pytest.raises(TypeError, match=r"discriminator 'Car' is already used by Car"):

        class Van(Vehicle):
            model_config = ODMConfigDict(discriminator="Car")

    with pytest.raises(TypeError, match=r"already used by SportsCar"):

        class sports(Car):
            pass

    with pytest.raises(TypeError, match=r"stored in its collection 'vehicles'"):

        class Truck(Vehicle):
            model_config = ODMConfigDict(collection="trucks")

    with pytest.raises(TypeError, match=r"needs a polymorphic base"):

        class Plain(Model):
            model_config = ODMConfigDict(discriminator="x")


async def test_an_aborted_transaction_saves_none_of_the_family(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    garage = Garage(main=SportsCar(name="s"), others=[Bike(name="b")])
    with pytest.raises(RuntimeError, match="boom"):
        async with engine.transaction() as tx:
            await tx.save(garage)
            raise RuntimeError("boom")
    assert engine.database["vehicles"].count_documents({}) == 0
    async with engine.session() as session:
        await session.save(garage)
        assert [type(v) for v in await session.find(Vehicle, sort=Vehicle.name)] == [
            Bike,
            SportsCar,
        ]


def test_sync_transaction_with_the_family(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    with engine.transaction() as tx:
        tx.save_all(_family())
        assert tx.count(Car) == 2
    assert [type(v) for v in engine.find(Car, sort=Car.name)] == [Car, SportsCar]


def test_a_refused_class_does_not_join_the_family() -> None:
    with pytest.raises(TypeError, match=r"stored in its collection"):

        class Lorry(Vehicle):
            model_config = ODMConfigDict(collection="lorries")

    class Lorry(Vehicle):  # type: ignore[no-redef]  # the name is free
        pass

    assert Vehicle.__anyodm__.family is not None
    assert Vehicle.__anyodm__.family.classes["Lorry"] is Lorry


async def test_an_upsert_of_a_subclass_records_its_class(engine: Any) -> None:
    from anyodm import update

    result = await engine.update_one(
        SportsCar, SportsCar.name == "new", update=update.set(SportsCar.doors, 2), upsert=True
    )
    assert result.upserted_id is not None
    assert engine.database["vehicles"].find_one()["_t"] == "sports"
    assert type(await engine.find_one(Vehicle)) is SportsCar
