"""Lists of references and optional references: stored as keys, loaded in order with one
``$lookup``, queried, and saved like single references (on Engine and SyncEngine)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from anyodm import Engine, Model, Reference, SyncEngine, query
from anyodm.errors import DocumentParsingError, InvalidValueError
from anyodm.model.tracking import changes_for_save
from tests.references.models import (
    Anthology,
    Author,
    Book,
    Chapter,
    Edition,
    Publisher,
    Volume,
)


async def test_a_list_of_references_is_stored_as_keys_and_loaded_in_order(engine: Any) -> None:
    a, b, c = Author(name="a"), Author(name="b"), Author(name="c")
    book = Book(title="t", authors=[c, a, b, a], editor=b)
    await engine.save(book)  # the authors are saved first
    raw = engine.database["book"].find_one()
    assert raw["authors"] == [c.id, a.id, b.id, a.id]
    assert raw["editor"] == b.id
    assert await engine.count(Author) == 3

    found = await engine.find_one(Book)
    assert found == book
    assert [author.name for author in found.authors] == ["c", "a", "b", "a"]
    assert all(isinstance(author, Author) for author in found.authors)
    assert changes_for_save(found) == {}
    assert changes_for_save(found.authors[0]) == {}


async def test_an_empty_list_and_an_absent_optional_reference(engine: Any) -> None:
    await engine.save(Book(title="empty", authors=[]))
    found = await engine.find_one(Book)
    assert found.authors == []
    assert found.editor is None
    assert engine.database["book"].find_one()["editor"] is None


async def test_changes_in_a_list_of_references_are_saved(engine: Any) -> None:
    a, b = Author(name="a"), Author(name="b")
    await engine.save(Book(title="t", authors=[a, b]))
    found = await engine.find_one(Book)
    found.authors[0].name = "renamed"  # a change inside a referenced instance
    found.authors.append(Author(name="new"))  # a new, unsaved instance
    await engine.save(found)
    names = sorted(author.name for author in await engine.find(Author))
    assert names == ["b", "new", "renamed"]
    again = await engine.find_one(Book)
    assert [author.name for author in again.authors] == ["renamed", "b", "new"]

    again.authors.reverse()
    await engine.save(again)
    assert [author.name for author in (await engine.find_one(Book)).authors] == [
        "new",
        "b",
        "renamed",
    ]


async def test_queries_on_a_list_of_references(engine: Any) -> None:
    a, b, c = Author(name="a"), Author(name="b"), Author(name="c")
    await engine.save_all(
        [
            Book(title="ab", authors=[a, b]),
            Book(title="bc", authors=[b, c]),
            Book(title="c", authors=[c]),
        ]
    )
    titles = [
        book.title for book in await engine.find(Book, Book.authors.contains(b), sort=Book.title)
    ]
    assert titles == ["ab", "bc"]
    assert [book.title for book in await engine.find(Book, query.contains(Book.authors, a))] == [
        "ab"
    ]
    assert [book.title for book in await engine.find(Book, Book.authors.size(1))] == ["c"]
    assert await engine.count(Book, Book.authors.all([b, c])) == 1
    assert await engine.count(Book, Book.authors.in_([a, c])) == 3
    assert await engine.count(Book, Book.editor == None) == 3  # noqa: E711 - a query


async def test_a_missing_target_is_an_error_naming_its_key(engine: Any) -> None:
    a, b = Author(name="a"), Author(name="b")
    await engine.save(Book(title="t", authors=[a, b]))
    engine.database["author"].delete_one({"_id": b.id})
    with pytest.raises(DocumentParsingError) as caught:
        await engine.find_one(Book)
    message = str(caught.value)
    assert "authors.1" in message
    assert repr(b.id) in message
    assert "Author" in message


async def test_a_missing_target_of_optional_items_or_reference_is_none(engine: Any) -> None:
    a, b = Author(name="a"), Author(name="b")
    await engine.save(Anthology(title="x", contributors=[a, None, b]))
    await engine.save(Book(title="t", authors=[a], editor=b))
    engine.database["author"].delete_one({"_id": b.id})
    found = await engine.find_one(Anthology)
    assert found.contributors == [a, None, None]
    assert (await engine.find_one(Book)).editor is None


async def test_lists_of_references_whose_targets_have_references(engine: Any) -> None:
    a = Author(name="a")
    first, second = Book(title="1", authors=[a]), Book(title="2", authors=[a], editor=a)
    await engine.save(Edition(year=2020, books=[second, first]))
    found = await engine.find_one(Edition)
    assert [book.title for book in found.books] == ["2", "1"]
    assert found.books[0].editor == a
    assert found.books[1].authors == [a]
    found.books[1].authors[0].name = "deep"
    await engine.save(found)
    assert (await engine.find_one(Author)).name == "deep"


async def test_lists_of_references_in_embedded_models(engine: Any) -> None:
    a, b = Author(name="a"), Author(name="b")
    volume = Volume(
        chapters=[Chapter(title="1", authors=[b, a]), Chapter(title="2", authors=[])],
        lead=Chapter(title="lead", authors=[a]),
    )
    await engine.save(volume)
    raw = engine.database["volume"].find_one()
    assert raw["chapters"][0]["by"] == [b.id, a.id]
    assert raw["lead"]["by"] == [a.id]
    found = await engine.find_one(Volume)
    assert found == volume
    assert changes_for_save(found) == {}
    found.chapters[1].authors.append(Author(name="c"))
    await engine.save(found)
    again = await engine.find_one(Volume)
    assert [author.name for author in again.chapters[1].authors] == ["c"]


async def test_find_one_and_update_loads_lists_of_references(engine: Any) -> None:
    a, b = Author(name="a"), Author(name="b")
    await engine.save(Book(title="t", authors=[b, a]))
    from anyodm import update

    updated = await engine.find_one_and_update(
        Book, Book.title == "t", update=update.set(Book.title, "u")
    )
    assert updated.title == "u"
    assert updated.authors == [b, a]


async def test_save_all_refuses_a_wrong_item_before_writing_anything(engine: Any) -> None:
    fine = Book(title="fine", authors=[Author(name="a")])
    bad = Book(title="bad", authors=[Author(name="b")])
    bad.authors.append(Publisher(name="p"))  # type: ignore[arg-type]
    with pytest.raises(
        InvalidValueError, match=r"Book\.authors\.1: .*instead of an instance of Author"
    ):
        await engine.save_all([fine, bad])
    assert engine.database.list_collection_names() == []  # not even the fine book
    bad.authors.pop()
    await engine.save_all([fine, bad])
    assert await engine.count(Book) == 2


def test_reference_annotations_that_are_refused() -> None:
    with pytest.raises(TypeError, match=r"Shelf\.books: Reference\(\) needs"):

        class Shelf(Model):
            books: dict[str, Author] = Reference()

    with pytest.raises(TypeError, match=r"Pile\.books: Reference\(\) needs"):

        class Pile(Model):
            books: list[Author] | None = Reference()

    with pytest.raises(TypeError, match=r"Stack\.books: Author is a Model"):

        class Stack(Model):
            books: list[Author]


# ------------------------------------------------------------------ writes seen


class Writes(monitoring.CommandListener):
    """The write commands a client sends: (command, collection, number of documents)."""

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


class Lookups(monitoring.CommandListener):
    """How many aggregate commands a client sends, and their pipelines."""

    def __init__(self) -> None:
        self.pipelines: list[list[dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "aggregate":
            self.pipelines.append(event.command["pipeline"])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_one_bulk_write_per_model_children_first_only_changes(
    mongodb_uri: str, mongo_database: Any
) -> None:
    writes, lookups = Writes(), Lookups()
    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[writes, lookups])
    try:
        engine = SyncEngine(client=client, database=mongo_database.name)
        authors = [Author(name=f"a{i}") for i in range(5)]
        books = [Book(title=f"b{i}", authors=authors[i : i + 3]) for i in range(3)]
        engine.save_all(books)
        assert writes.seen == [("insert", "author", 5), ("insert", "book", 3)]

        writes.seen.clear()
        loaded = list(engine.find(Book, sort=Book.title))
        assert len(lookups.pipelines) == 1  # one round trip
        assert sum("$lookup" in stage for stage in lookups.pipelines[0]) == 2
        loaded[0].authors[1].name = "changed"
        engine.save_all(loaded)
        assert writes.seen == [("update", "author", 1)]
        writes.seen.clear()
        engine.save_all(loaded)
        assert writes.seen == []
    finally:
        client.close()


# ------------------------------------------------------------------ sessions and transactions


async def test_a_cascade_in_a_transaction_commits_together(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    a = Author(name="a")
    async with engine.transaction() as tx:
        await tx.save(Book(title="t", authors=[a, Author(name="b")]))
        assert engine.get_collection(Author).count_documents({}) == 0
    assert await engine.count(Author) == 2
    assert [x.name for x in (await engine.find_one(Book)).authors] == ["a", "b"]


async def test_an_aborted_transaction_saves_none_of_the_cascade(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    a, b = Author(name="a"), Author(name="b")
    book = Book(title="t", authors=[a, b])
    with pytest.raises(RuntimeError, match="boom"):
        async with engine.transaction() as tx:
            await tx.save(book)
            raise RuntimeError("boom")
    assert await engine.count(Author) == 0
    assert await engine.count(Book) == 0
    assert changes_for_save(a)  # still unsaved: the next save sends everything
    await engine.save(book)
    assert await engine.count(Author) == 2
    assert (await engine.find_one(Book)).authors == [a, b]


async def test_a_cascade_in_a_session(anyodm_engine: Engine) -> None:
    async with anyodm_engine.session() as session:
        await session.save(Anthology(title="x", contributors=[Author(name="a"), None]))
        found = await session.find_one(Anthology)
    assert found.contributors[0].name == "a"
    assert found.contributors[1] is None


def test_sync_transaction_abort_saves_none_of_the_cascade(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    book = Book(title="t", authors=[Author(name="a")])
    with pytest.raises(RuntimeError, match="boom"), engine.transaction() as tx:
        tx.save(book)
        raise RuntimeError("boom")
    assert engine.count(Author) == 0
    assert engine.count(Book) == 0
    with engine.transaction() as tx:
        tx.save(book)
    assert engine.find_one(Book) == book


# ------------------------------------------------------------------ bad input


class Person(Model):
    name: str
    friends: list[Person] = Reference(default_factory=list)


async def test_a_cycle_of_references_is_refused_before_anything_is_written(engine: Any) -> None:
    ann, bob = Person(name="ann"), Person(name="bob")
    ann.friends.append(bob)
    bob.friends.append(ann)
    with pytest.raises(TypeError, match=r"Person\.friends: cyclic references"):
        await engine.save(ann)
    with pytest.raises(TypeError, match=r"Person\.friends: cyclic references"):
        await engine.save_all([Book(title="t", authors=[]), ann])
    assert engine.database["person"].count_documents({}) == 0
    assert await engine.count(Book) == 0


async def test_a_reference_that_is_not_an_instance_is_refused(engine: Any) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"authors\.0"):
        Book(title="t", authors=["not an author"])
    book = Book(title="t", authors=[])
    with pytest.raises(ValidationError, match=r"authors\.0"):
        book.authors = [Person(name="x")]
    await engine.save(book)
    assert engine.database["book"].find_one()["authors"] == []


async def test_server_side_updates_of_a_list_of_references(engine: Any) -> None:
    from anyodm import update

    a, b, c = Author(name="a"), Author(name="b"), Author(name="c")
    await engine.save_all([a, b, c, Book(title="t", authors=[a])])
    await engine.update_one(Book, update=update.push(Book.authors, b))
    await engine.update_one(Book, update=update.push(Book.authors, each=[c, a]))
    assert engine.database["book"].find_one()["authors"] == [a.id, b.id, c.id, a.id]
    await engine.update_one(Book, update=update.pull(Book.authors, a))
    assert engine.database["book"].find_one()["authors"] == [b.id, c.id]
    await engine.update_one(Book, update=update.set(Book.authors, [c]))
    await engine.update_one(Book, update=update.set(Book.editor, b))
    found = await engine.find_one(Book)
    assert found.authors == [c]
    assert found.editor == b


async def test_find_one_and_update_of_a_cycle_is_refused_before_sending(engine: Any) -> None:
    from anyodm import update

    engine.database["person"].insert_one({"name": "ann", "friends": []})
    with pytest.raises(TypeError, match=r"Person\.friends: cyclic references"):
        await engine.find_one_and_update(Person, update=update.set(Person.name, "x"))
    assert engine.database["person"].find_one()["name"] == "ann"
