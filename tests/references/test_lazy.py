"""Lazy references: finds leave them as keys; ``engine.fetch`` loads them on demand."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import Engine
from anyodm.errors import DocumentNotFoundError, InvalidFieldError
from anyodm.model.lazy import NotLoaded
from anyodm.model.tracking import changes_for_save
from tests.references.models import Author, Book, Club, Member


async def _members(engine: Any) -> tuple[Member, Member, Member]:
    ann, bob, cid = Member(name="ann"), Member(name="bob"), Member(name="cid")
    ann.friends = [bob, cid]
    bob.friends = [ann]  # a cycle: fine for lazy references
    cid.mentor = ann
    cid.club = Club(name="chess", owner=Author(name="owner"))
    await engine.save_all([ann, bob, cid])
    return ann, bob, cid


async def test_finds_leave_lazy_references_unloaded(engine: Any) -> None:
    ann, bob, _ = await _members(engine)
    raw = engine.database["member"].find_one({"name": "ann"})
    assert raw["friends"] == [bob.id, ann.friends[1].id]
    found = await engine.find_one(Member, Member.name == "ann")
    assert found.friends == [NotLoaded(Member, bob.id), NotLoaded(Member, ann.friends[1].id)]
    with pytest.raises(AttributeError, match=r"lazy reference not loaded yet.*fetch"):
        _ = found.friends[0].name
    assert changes_for_save(found) == {}
    found.name = "ann2"  # saving keeps the stored keys
    await engine.save(found)
    assert engine.database["member"].find_one({"_id": ann.id})["friends"] == raw["friends"]


async def test_fetch_loads_a_field_in_order(engine: Any) -> None:
    _ann, bob, _cid = await _members(engine)
    found = await engine.find_one(Member, Member.name == "cid")
    friends = await engine.fetch(found, "friends")
    assert friends == []
    mentor = await engine.fetch(found, Member.mentor)
    assert mentor.name == "ann"
    assert found.mentor is mentor
    assert isinstance(mentor.friends[0], NotLoaded)  # one level at a time
    assert [m.name for m in await engine.fetch(mentor, "friends")] == ["bob", "cid"]
    club = await engine.fetch(found, "club")
    assert club.owner.name == "owner"  # the target's eager references are loaded
    assert changes_for_save(found) == {}
    assert changes_for_save(club) == {}
    mentor.friends[0].name = "robert"  # fetched instances cascade like loaded ones
    await engine.save(found)
    assert engine.database["member"].find_one({"_id": bob.id})["name"] == "robert"


async def test_fetch_of_a_missing_target(engine: Any) -> None:
    ann, _bob, _cid = await _members(engine)
    engine.database["member"].delete_one({"_id": ann.id})
    engine.database["club"].delete_many({})
    found = await engine.find_one(Member, Member.name == "cid")
    assert await engine.fetch(found, "club") is None  # optional: None
    bob_found = await engine.find_one(Member, Member.name == "bob")
    with pytest.raises(DocumentNotFoundError, match=r"Member\.friends: referenced Member"):
        await engine.fetch(bob_found, "friends")
    assert isinstance(bob_found.friends[0], NotLoaded)  # unchanged by the failure


async def test_fetch_of_something_else_is_refused(engine: Any) -> None:
    ann, _, _ = await _members(engine)
    with pytest.raises(InvalidFieldError, match=r"Member\.name: fetch\(\): not a reference"):
        await engine.fetch(ann, "name")
    with pytest.raises(TypeError, match=r"fetch\(\) needs an instance of a Model"):
        await engine.fetch("ann", "friends")


async def test_fetch_reloads_an_eager_reference_too(engine: Any) -> None:
    a = Author(name="a")
    await engine.save(Book(title="t", authors=[a]))
    book = await engine.find_one(Book)
    engine.database["author"].update_one({"_id": a.id}, {"$set": {"name": "new"}})
    assert [x.name for x in await engine.fetch(book, "authors")] == ["new"]


async def test_fetch_in_a_transaction(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    async with engine.transaction() as tx:
        _ann, _, _ = await _members(tx)
        found = await tx.find_one(Member, Member.name == "ann")
        friends = await engine.fetch(found, "friends", session=tx)
        assert [m.name for m in friends] == ["bob", "cid"]


async def test_model_dump_of_unloaded_and_loaded_lazy_references(engine: Any) -> None:
    import json

    _, bob, cid = await _members(engine)
    found = await engine.find_one(Member, Member.name == "ann")
    dumped = json.loads(found.model_dump_json())  # FastAPI responses: the keys
    assert dumped["friends"] == [str(bob.id), str(cid.id)]
    assert found.model_dump()["friends"] == [bob.id, cid.id]
    await engine.fetch(found, "friends")
    names = [friend["name"] for friend in json.loads(found.model_dump_json())["friends"]]
    assert names == ["bob", "cid"]


async def test_fetch_in_a_session_and_a_transaction(anyodm_engine: Engine) -> None:
    await _members(anyodm_engine)
    async with anyodm_engine.session() as session:
        found = await session.find_one(Member, Member.name == "cid")
        assert found is not None
        mentor = await session.fetch(found, Member.mentor)
        assert mentor.name == "ann"
    async with anyodm_engine.transaction() as tx:
        found = await tx.find_one(Member, Member.name == "ann")
        assert found is not None
        assert [m.name for m in await tx.fetch(found, "friends")] == ["bob", "cid"]


def test_sync_fetch_in_a_transaction(anyodm_sync_engine: Any) -> None:
    ann, bob, cid = Member(name="ann"), Member(name="bob"), Member(name="cid")
    cid.mentor = ann
    anyodm_sync_engine.save_all([ann, bob, cid])
    with anyodm_sync_engine.transaction() as tx:
        found = tx.find_one(Member, Member.name == "cid")
        assert tx.fetch(found, "mentor").name == "ann"
