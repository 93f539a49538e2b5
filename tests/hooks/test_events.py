"""Which hooks a write runs, in which order, and what a hook can change: on ``Engine``
and on ``SyncEngine`` alike (plain hooks, which both run)."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import update
from anyodm.model.tracking import is_persisted
from tests.hooks.models import (
    Author,
    Base,
    Book,
    Child,
    Dog,
    Guarded,
    Note,
    Refused,
    Stamped,
)

SAVE_INSERT = ["INSERT", "SAVE", "VALIDATE"]
SAVE_UPDATE = ["SAVE", "UPDATE", "VALIDATE"]


async def test_a_save_runs_the_save_and_insert_hooks_then_the_validation_hooks(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    note = Note(text="a")
    await engine.save(note)
    assert calls == [
        ("before_save", "a"),
        ("before_insert", "a", SAVE_INSERT),
        ("before_validate", "a"),
        ("after_validate", "a"),
        ("after_write", "a", SAVE_INSERT),  # declared for Save, Insert and Update: once
    ]


async def test_a_save_of_a_stored_instance_runs_the_update_hooks(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    await engine.save(Note(text="a"))
    loaded = await engine.find_one(Note)
    calls.clear()
    loaded.text = "b"
    await engine.save(loaded)
    assert calls == [
        ("before_save", "b"),
        ("before_update", "b"),
        ("before_validate", "b"),
        ("after_validate", "b"),
        ("after_write", "b", SAVE_UPDATE),
    ]
    calls.clear()
    await engine.save(loaded)  # nothing changed: nothing is sent, the hooks still run
    assert [call[0] for call in calls] == [
        "before_save",
        "before_update",
        "before_validate",
        "after_validate",
        "after_write",
    ]


async def test_a_deleted_instance_saved_again_is_an_insert(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    note = Note(text="a")
    await engine.save(note)
    calls.clear()
    await engine.delete(note)
    assert calls == [("before_delete", "a"), ("after_delete", "a")]
    calls.clear()
    await engine.save(note)
    assert ("before_insert", "a", SAVE_INSERT) in calls


async def test_hooks_of_base_classes_run_first_and_an_override_keeps_its_place(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    await engine.save(Base(name="b"))
    assert calls == [
        ("Base.first", "Base"),
        ("Base.second", "Base"),
        ("Base.third", "Base"),
    ]
    calls.clear()
    await engine.save(Child(name="c"))
    assert calls == [
        ("Base.first", "Child"),
        ("Child.second", "Child"),  # the override, where Base declared it
        ("Child.own", "Child"),  # Child.third is not decorated: not a hook
    ]


async def test_a_polymorphic_subclass_runs_its_family_hooks_and_each_hook_once(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    await engine.save(Dog(name="rex"))
    assert calls == [("Animal.animal_hook", "Dog"), ("Dog.dog_hook", "Dog")]


async def test_skip_hooks_runs_none(engine: Any, calls: list[tuple[Any, ...]]) -> None:
    note = Note(text="a")
    await engine.save(note, skip_hooks=True)
    await engine.save_all([note, Note(text="b")], skip_hooks=True)
    await engine.delete(note, skip_hooks=True)
    assert calls == []
    assert await engine.count(Note) == 1


async def test_a_before_hook_that_raises_sends_nothing(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    fresh = Guarded(name="fresh", fail="before")
    with pytest.raises(Refused):
        await engine.save(fresh)
    assert calls == [("check", "fresh")]
    assert await engine.count(Guarded) == 0
    assert not is_persisted(fresh)

    stored = Guarded(name="stored")
    await engine.save(stored)
    stored.fail = "before"
    stored.name = "changed"
    with pytest.raises(Refused):
        await engine.save(stored)
    with pytest.raises(Refused):
        await engine.delete(stored)
    raw = engine.database.get_collection("guarded").find_one({"_id": stored.id})
    assert raw["name"] == "stored"


async def test_an_after_hook_that_raises_comes_after_the_write(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    guarded = Guarded(name="g", fail="after")
    with pytest.raises(Refused):
        await engine.save(guarded)
    assert calls == [("check", "g"), ("report", "g")]
    assert await engine.count(Guarded) == 1
    assert is_persisted(guarded)
    with pytest.raises(Refused):
        await engine.delete(guarded)
    assert await engine.count(Guarded) == 0


async def test_a_field_set_by_a_before_save_hook_is_saved(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    fresh = Stamped(name="s")
    await engine.save(fresh)
    assert fresh.updated is not None
    collection = engine.database.get_collection("stamped")
    assert collection.find_one({"_id": fresh.id})["updated"] is not None

    collection.update_one({"_id": fresh.id}, {"$set": {"updated": None}})
    loaded = await engine.find_one(Stamped)
    assert loaded.updated is None
    await engine.save(loaded)  # nothing else changed: the hook's change is sent
    assert collection.find_one({"_id": fresh.id})["updated"] is not None

    collection.update_one({"_id": fresh.id}, {"$set": {"updated": None}})
    loaded = await engine.find_one(Stamped)
    loaded.count = 5
    await engine.save(loaded)
    raw = collection.find_one({"_id": fresh.id})
    assert raw["count"] == 5
    assert raw["updated"] is not None


async def test_save_all_runs_each_listed_instance_hooks_in_order_and_once(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    a, b = Note(text="a"), Note(text="b")
    await engine.save_all([a, b, a])
    assert [call[:2] for call in calls] == [
        ("before_save", "a"),
        ("before_insert", "a"),
        ("before_validate", "a"),
        ("after_validate", "a"),
        ("before_save", "b"),
        ("before_insert", "b"),
        ("before_validate", "b"),
        ("after_validate", "b"),
        ("after_write", "a"),
        ("after_write", "b"),
    ]


async def test_save_all_sends_nothing_when_a_before_hook_raises(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    first, second = Guarded(name="1"), Guarded(name="2", fail="before")
    with pytest.raises(Refused):
        await engine.save_all([first, second, Guarded(name="3")])
    assert calls == [("check", "1"), ("check", "2")]
    assert await engine.count(Guarded) == 0
    assert not is_persisted(first)


async def test_referenced_instances_saved_by_the_cascade_do_not_run_their_hooks(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    author = Author(name="ann")
    book = Book(title="t", author=author)
    await engine.save(book)
    assert calls == [("book_saved", "t")]
    assert await engine.count(Author) == 1  # saved, without its hooks
    calls.clear()
    author.name = "bea"
    await engine.save_all([author, book])  # listed: its hooks run
    assert calls == [("author_saved", "bea"), ("book_saved", "t")]


async def test_operations_by_query_run_no_hooks(engine: Any, calls: list[tuple[Any, ...]]) -> None:
    await engine.save_all([Note(text="a"), Note(text="b"), Note(text="c")], skip_hooks=True)
    await engine.update_one(Note, Note.text == "a", update=update.set(Note.text, "x"))
    await engine.update_many(Note, update=update.push(Note.tags, "t"))
    found = await engine.find_one_and_update(
        Note, Note.text == "b", update=update.set(Note.text, "y")
    )
    assert found is not None
    assert await engine.find_one_and_delete(Note, Note.text == "y") is not None
    assert await engine.remove(Note, Note.text == "x") == 1
    assert calls == []
    assert await engine.count(Note) == 1
