"""Against the server, on Engine (trio, asyncio) and SyncEngine: queries find what save
stored (values in their stored form), pushed dicts are stored literally, and a
generator given to ``not_in`` is read once (SPEC S10)."""

# ruff: noqa: RUF012 - pydantic field defaults (ruff cannot tell Model is pydantic)

from __future__ import annotations

from typing import Annotated, Any

from pydantic import field_serializer

from anyodm import Model, update
from anyodm.bson import WithBsonSerializer

#: an int stored as its decimal string (the int validator reads it back)
Code = Annotated[int, WithBsonSerializer(str)]


class Parcel(Model):
    model_config = {"collection": "stored_form_parcels"}
    code: Code
    label: str = ""
    codes: list[Code] = []

    @field_serializer("label")
    def _upper(self, value: str) -> str:
        return value.upper()


class Inbox(Model):
    model_config = {"collection": "stored_form_inboxes"}
    messages: list[dict[str, Any]] = []


class Person(Model):
    model_config = {"collection": "stored_form_people"}
    name: str


async def test_queries_find_what_save_stored(engine: Any, raw: Any) -> None:
    parcel = await engine.save(Parcel(code=42, label="fragile", codes=[1, 2]))
    await engine.save(Parcel(code=7, label="other"))
    stored = raw["stored_form_parcels"].find_one({"_id": parcel.id})
    assert (stored["code"], stored["label"], stored["codes"]) == ("42", "FRAGILE", ["1", "2"])

    for found in [
        await engine.find_one(Parcel, Parcel.code == 42),
        await engine.find_one(Parcel, Parcel.code.in_([42, 43])),
        await engine.find_one(Parcel, Parcel.code.in_(c for c in [42])),
        await engine.find_one(Parcel, Parcel.label == "fragile"),
        await engine.find_one(Parcel, Parcel.label.in_(["fragile"])),
        await engine.find_one(Parcel, Parcel.codes.contains(2)),
        await engine.find_one(Parcel, Parcel.codes.all([1, 2])),
    ]:
        assert found is not None
        assert found.id == parcel.id
    assert await engine.count(Parcel, Parcel.code != 42) == 1
    assert await engine.count(Parcel, Parcel.code.not_in([42])) == 1


async def test_update_filter_and_upsert_use_the_stored_form(engine: Any, raw: Any) -> None:
    parcel = await engine.save(Parcel(code=42))
    result = await engine.update_one(Parcel, Parcel.code == 42, update=update.push(Parcel.codes, 5))
    assert (result.matched, result.modified) == (1, 1)
    assert raw["stored_form_parcels"].find_one({"_id": parcel.id})["codes"] == ["5"]

    upserted = await engine.find_one_and_update(
        Parcel, Parcel.code == 9, update=update.set(Parcel.label, "new"), upsert=True
    )
    assert upserted.code == 9
    assert upserted.label == "NEW"
    doc = raw["stored_form_parcels"].find_one({"_id": upserted.id})
    assert (doc["code"], doc["label"]) == ("9", "NEW")


async def test_a_pushed_dict_is_stored_literally(engine: Any, raw: Any) -> None:
    inbox = await engine.save(Inbox())
    await engine.update_one(
        Inbox, Inbox.id == inbox.id, update=update.push(Inbox.messages, {"$each": [1, 2]})
    )
    await engine.update_one(
        Inbox, Inbox.id == inbox.id, update=update.add_to_set(Inbox.messages, {"$each": [3]})
    )
    expected = [{"$each": [1, 2]}, {"$each": [3]}]
    assert raw["stored_form_inboxes"].find_one({"_id": inbox.id})["messages"] == expected
    loaded = await engine.find_one(Inbox, Inbox.id == inbox.id)
    assert loaded.messages == expected


async def test_pull_of_a_dict_removes_only_equal_elements(engine: Any, raw: Any) -> None:
    inbox = await engine.save(Inbox(messages=[{"a": 1}, {"a": 1, "b": 2}, {"$gt": 0}]))
    await engine.update_one(
        Inbox,
        Inbox.id == inbox.id,
        update=[update.pull(Inbox.messages, {"a": 1})],
    )
    await engine.update_one(
        Inbox, Inbox.id == inbox.id, update=update.pull(Inbox.messages, {"$gt": 0})
    )
    stored = raw["stored_form_inboxes"].find_one({"_id": inbox.id})["messages"]
    assert stored == [{"a": 1, "b": 2}]


async def test_remove_not_in_a_generator_removes_only_the_others(engine: Any) -> None:
    await engine.save_all([Person(name=name) for name in ["a", "b", "c", "d"]])
    keep = (name for name in ["a", "b"])
    assert await engine.remove(Person, Person.name.not_in(keep)) == 2
    names = sorted(person.name for person in await engine.find(Person))
    assert names == ["a", "b"]
