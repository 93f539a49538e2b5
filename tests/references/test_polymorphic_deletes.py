"""Deletes (and revision-checked saves) of polymorphic instances keep to the instance's
class: a document of another class of the family with the same ``_id`` is left alone."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from anyodm import Engine, SyncEngine
from anyodm.errors import DocumentNotFoundError, InvalidValueError, RevisionConflictError
from anyodm.model.tracking import changes_for_save
from tests.references.family import Bike, Car, Cat, Dog, SportsCar, Vehicle


def _raw(engine: Any, collection: str) -> list[dict[str, Any]]:
    return list(engine.database[collection].find(sort=[("_id", 1)]))


async def test_a_delete_through_a_sibling_leaves_its_document_alone(engine: Any) -> None:
    car = Car(name="c")
    await engine.save(car)
    before = _raw(engine, "vehicles")
    with pytest.raises(
        DocumentNotFoundError,
        match=r"stored as a Car of the Vehicle family.*"
        r"delete through Bike leaves alone",
    ):
        await engine.delete(Bike(id=car.id, name="intruder"))
    assert _raw(engine, "vehicles") == before
    with pytest.raises(DocumentNotFoundError, match=r"stored as a Car"):
        await engine.delete(SportsCar(id=car.id, name="a subclass is not enough"))
    assert _raw(engine, "vehicles") == before
    with pytest.raises(DocumentNotFoundError, match=r"^Bike instance not found .*\)$"):
        await engine.delete(Bike(name="nowhere"))  # no document at all: the usual error


async def test_a_delete_of_an_instance_whose_document_changed_class(engine: Any) -> None:
    await engine.save(Car(name="c"))
    car = await engine.find_one(Car)
    engine.database["vehicles"].replace_one(
        {"_id": car.id}, {"_t": "Bike", "name": "b", "wheels": 2, "bell": True}
    )
    before = _raw(engine, "vehicles")
    with pytest.raises(DocumentNotFoundError, match=r"stored as a Bike"):
        await engine.delete(car)
    assert _raw(engine, "vehicles") == before
    assert changes_for_save(car)  # no Car document: saving it again stores it whole
    engine.database["vehicles"].update_one({"_id": car.id}, {"$set": {"_t": "Plane"}})
    with pytest.raises(DocumentNotFoundError, match=r"stored as a discriminator 'Plane'"):
        await engine.delete(car)
    assert engine.database["vehicles"].count_documents({}) == 1


async def test_a_delete_through_the_class_or_an_ancestor(engine: Any) -> None:
    sports, plain = SportsCar(name="s"), Vehicle(name="v")
    await engine.save_all([sports, plain, Car(name="c")])
    await engine.delete(Car(id=sports.id, name="s"))  # a SportsCar is a Car
    assert await engine.find_one(Vehicle, Vehicle.id == sports.id) is None
    bike = Bike(name="b")
    await engine.save(bike)
    await engine.delete(Vehicle(id=bike.id, name="b"))  # the base: every document
    engine.database["vehicles"].insert_one({"name": "old", "wheels": 3})  # no _t: the base's
    old = await engine.find_one(Vehicle, Vehicle.name == "old")
    await engine.delete(old)
    await engine.delete(plain)
    assert [v.name for v in await engine.find(Vehicle)] == ["c"]


async def test_revision_checked_writes_keep_to_their_class(engine: Any) -> None:
    await engine.save(Cat(name="tom"))
    cat = await engine.find_one(Cat)
    engine.database["pets"].replace_one(  # a Dog at the revision the cat knows
        {"_id": cat.id}, {"_t": "Dog", "name": "rex", "good": True, "_rev": 1}
    )
    before = _raw(engine, "pets")
    cat.lives = 8
    with pytest.raises(InvalidValueError, match=r"stored as a Dog of the Pet family"):
        await engine.save(cat)
    with pytest.raises(DocumentNotFoundError, match=r"stored as a Dog of the Pet family"):
        await engine.delete(cat)
    assert _raw(engine, "pets") == before
    with pytest.raises(InvalidValueError, match=r"stored as a Dog"):
        await engine.save(Cat(id=cat.id, name="fresh"))
    assert _raw(engine, "pets") == before

    await engine.save(Dog(name="own"))
    dog = await engine.find_one(Dog, Dog.name == "own")
    engine.database["pets"].update_one({"_id": dog.id}, {"$inc": {"_rev": 1}})
    dog.good = False
    with pytest.raises(RevisionConflictError):  # its own class, another revision
        await engine.save(dog)
    with pytest.raises(RevisionConflictError):
        await engine.delete(dog)
    assert await engine.count(Dog) == 2


async def test_in_a_transaction(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    car = Car(name="c")
    await engine.save(car)
    before = _raw(engine, "vehicles")
    async with engine.transaction() as tx:
        with pytest.raises(DocumentNotFoundError, match=r"stored as a Car"):
            await tx.delete(Bike(id=car.id, name="b"))
        await tx.save(Bike(name="b"))
    assert _raw(engine, "vehicles")[0] == before[0]
    assert await engine.count(Bike) == 1
    with pytest.raises(RuntimeError, match="boom"):
        async with engine.transaction() as tx:
            await tx.delete(car)
            raise RuntimeError("boom")
    assert _raw(engine, "vehicles")[0] == before[0]
    async with engine.session() as session:
        with pytest.raises(DocumentNotFoundError, match=r"stored as a Car"):
            await session.delete(Bike(id=car.id, name="b"))
        await session.delete(car)
    assert await engine.count(Car) == 0


def test_sync_transaction(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    car = Car(name="c")
    engine.save(car)
    with engine.transaction() as tx, pytest.raises(DocumentNotFoundError, match=r"a Car"):
        tx.delete(Bike(id=car.id, name="b"))  # caught inside: the transaction commits
    assert engine.count(Car) == 1
    with engine.transaction() as tx:
        tx.delete(car)
    assert engine.count(Vehicle) == 0


class Commands(monitoring.CommandListener):
    """The filters of the update and delete commands a client sends."""

    def __init__(self) -> None:
        self.filters: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update":
            self.filters += [("update", u["q"]) for u in event.command["updates"]]
        elif event.command_name == "delete":
            self.filters += [("delete", d["q"]) for d in event.command["deletes"]]

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_the_filters_sent_name_the_class(mongodb_uri: str, mongo_database: Any) -> None:
    commands = Commands()
    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[commands])
    try:
        engine = SyncEngine(client=client, database=mongo_database.name)
        car, plain = Car(name="c"), Vehicle(name="v")
        engine.save_all([car, plain])
        car.doors = 2
        plain.wheels = 3
        engine.save_all([car, plain])
        engine.delete(car)
        engine.delete(plain)
        assert commands.filters == [
            ("update", {"_id": car.id, "_t": {"$in": ["Car"]}}),  # a save: its own class
            ("update", {"_id": plain.id, "_t": {"$in": ["Vehicle", None]}}),
            ("delete", {"_id": car.id, "_t": {"$in": ["Car", "sports"]}}),  # and subclasses
            ("delete", {"_id": plain.id}),  # the base: every document
        ]
    finally:
        client.close()
