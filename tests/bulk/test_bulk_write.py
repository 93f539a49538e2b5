"""``bulk_write``: mixed items of several models, ordered and unordered, per-item
results, and saved state that follows what the server acknowledged."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import BulkWriteError, DuplicateKeyError, RevisionConflictError, bulk, update
from anyodm.errors import InvalidValueError
from anyodm.model.tracking import is_persisted, saved_state
from tests.bulk.conftest import stored
from tests.bulk.models import CALLS, Author, Book, Hooked, Versioned


async def test_mixed_items_of_two_models_are_written_in_one_call(engine: Any) -> None:
    old = Book(title="old", pages=1)
    gone = Book(title="gone")
    await engine.save_all([old, gone])
    author = Author(name="Ann")
    book = Book(title="new", author=author)
    old.pages = 2
    result = await engine.bulk_write(
        [
            bulk.Insert(author),
            bulk.Save(book),
            bulk.Save(old),
            bulk.UpdateOne(Book, Book.title == "new", update=update.inc(Book.pages, 10)),
            bulk.Delete(gone),
        ]
    )
    assert result.ok
    assert [item.status for item in result.items] == ["written"] * 5
    assert (result.inserted, result.matched, result.modified, result.deleted) == (2, 2, 2, 1)
    assert result.items[0].instance is author
    assert {doc["title"]: doc["pages"] for doc in stored(engine, Book)} == {"old": 2, "new": 10}
    assert stored(engine, Book)[1]["author"] == author.id
    assert is_persisted(author)
    assert is_persisted(book)
    assert is_persisted(old)
    assert saved_state(gone) is None
    # the saved state is what was sent: a later save sends only what changed since
    book.title = "renamed"
    await engine.save(book)
    assert (await engine.find_one(Book, Book.id == book.id)).pages == 10


async def test_update_many_delete_one_and_delete_many_by_query(engine: Any) -> None:
    await engine.save_all([Book(title=f"b{i}", pages=i) for i in range(6)])
    result = await engine.bulk_write(
        [
            bulk.UpdateMany(Book, Book.pages >= 3, update=update.set(Book.pages, 100)),
            bulk.DeleteOne(Book, Book.title == "b0"),
            bulk.DeleteMany(Book, Book.pages == 100),
        ]
    )
    assert (result.matched, result.modified, result.deleted) == (3, 3, 4)
    assert sorted(doc["title"] for doc in stored(engine, Book)) == ["b1", "b2"]


async def test_update_one_of_an_instance_and_an_upsert(engine: Any) -> None:
    book = Book(title="t")
    await engine.save(book)
    result = await engine.bulk_write(
        [
            bulk.UpdateOne(book, update=update.set(Book.pages, 7)),
            bulk.UpdateOne(
                Author, Author.name == "Zed", update=update.set(Author.name, "Zed"), upsert=True
            ),
        ]
    )
    assert result.upserted == 1
    assert result.items[1].upserted_id is not None
    assert stored(engine, Book)[0]["pages"] == 7
    assert book.pages == 0  # the instance is not changed by a server-side update
    assert [doc["name"] for doc in stored(engine, Author)] == ["Zed"]


async def test_ordered_stops_at_a_duplicate_key_across_two_models(engine: Any) -> None:
    await engine.save(Author(name="taken"))
    first = Book(title="first")
    ann = Author(name="Ann")
    clash = Author(name="taken")
    after = Author(name="after")
    later = Book(title="later")
    with pytest.raises(BulkWriteError) as info:
        await engine.bulk_write(
            [
                bulk.Save(first),
                bulk.Insert(ann),
                bulk.Save(clash),
                bulk.Save(after),
                bulk.Insert(later),
            ]
        )
    result = info.value.result
    assert [item.status for item in result.items] == [
        "written",
        "written",
        "failed",
        "not_written",
        "not_written",
    ]
    failed = result.items[2]
    assert failed.code == 11000
    assert failed.instance is clash
    assert isinstance(failed.error, DuplicateKeyError)
    assert failed.error.instance is clash
    assert info.value.failed == [failed]
    assert "item 2" in str(info.value)
    assert "1 of 5" in str(info.value)
    assert is_persisted(first)
    assert is_persisted(ann)
    assert saved_state(clash) is None
    assert saved_state(after) is None
    assert saved_state(later) is None
    assert sorted(doc["name"] for doc in stored(engine, Author)) == ["Ann", "taken"]
    assert [doc["title"] for doc in stored(engine, Book)] == ["first"]


async def test_unordered_attempts_every_item(engine: Any) -> None:
    await engine.save(Author(name="taken"))
    clash = Author(name="taken")
    ann = Author(name="Ann")
    book = Book(title="b")
    with pytest.raises(BulkWriteError) as info:
        await engine.bulk_write([bulk.Save(clash), bulk.Save(book), bulk.Save(ann)], ordered=False)
    statuses = [item.status for item in info.value.result.items]
    assert statuses == ["failed", "written", "written"]
    assert saved_state(clash) is None
    assert is_persisted(book)
    assert is_persisted(ann)
    assert sorted(doc["name"] for doc in stored(engine, Author)) == ["Ann", "taken"]


async def test_insert_of_an_existing_key_fails_but_save_upserts(engine: Any) -> None:
    book = Book(title="x")
    await engine.save(book)
    copy = Book(id=book.id, title="y")
    with pytest.raises(BulkWriteError) as info:
        await engine.bulk_write([bulk.Insert(copy)])
    assert info.value.result.items[0].code == 11000
    await engine.bulk_write([bulk.Save(copy)])
    assert [doc["title"] for doc in stored(engine, Book)] == ["y"]


async def test_a_save_whose_document_was_deleted_elsewhere_stores_it_whole(engine: Any) -> None:
    book = Book(title="t", pages=3)
    await engine.save(book)
    await engine.remove(Book)
    book.pages = 4
    result = await engine.bulk_write([bulk.Save(book)])
    assert result.upserted == 1
    [doc] = stored(engine, Book)
    assert (doc["title"], doc["pages"]) == ("t", 4)


async def test_a_save_without_changes_sends_nothing_and_is_written(engine: Any) -> None:
    book = Book(title="t")
    await engine.save(book)
    result = await engine.bulk_write([bulk.Save(book)])
    assert result.ok
    assert result.matched == 0


async def test_revision_conflicts_are_item_failures(engine: Any) -> None:
    mine = Versioned(name="v")
    await engine.save(mine)
    theirs = await engine.find_one(Versioned)
    theirs.value = 1
    await engine.save(theirs)
    mine.value = 2
    fresh = Versioned(name="fresh")
    with pytest.raises(BulkWriteError) as info:
        await engine.bulk_write([bulk.Save(mine), bulk.Save(fresh)], ordered=False)
    failed, written = info.value.result.items
    assert failed.status == "failed"
    assert isinstance(failed.error, RevisionConflictError)
    assert written.status == "written"
    assert stored(engine, Versioned)[0]["value"] == 1
    # a stale delete is refused too; a current one goes
    with pytest.raises(BulkWriteError) as info:
        await engine.bulk_write([bulk.Delete(mine)])
    assert isinstance(info.value.result.items[0].error, RevisionConflictError)
    await engine.bulk_write([bulk.Delete(theirs), bulk.Delete(fresh)])
    assert stored(engine, Versioned) == []


async def test_an_unsaved_reference_is_refused_before_anything_is_sent(engine: Any) -> None:
    author = Author(name="A")
    book = Book(title="b", author=author)
    other = Book(title="other")
    with pytest.raises(InvalidValueError, match="not saved"):
        await engine.bulk_write([bulk.Save(other), bulk.Save(book)])
    assert stored(engine, Book) == []
    assert saved_state(other) is None
    # an earlier item of the same call saves it
    await engine.bulk_write([bulk.Save(author), bulk.Save(book)])
    with pytest.raises(InvalidValueError, match="not saved"):
        await engine.bulk_write(
            [bulk.UpdateOne(Book, update=update.set(Book.author, Author(name="new")))]
        )


async def test_a_generator_of_items_is_consumed_once(engine: Any) -> None:
    books = [Book(title=f"g{i}") for i in range(3)]
    result = await engine.bulk_write(bulk.Insert(book) for book in books)
    assert len(result.items) == 3
    assert result.inserted == 3


@pytest.mark.parametrize(
    ("items", "error", "match"),
    [
        ([], ValueError, "at least one item"),
        ("items", TypeError, "iterable of bulk items"),
        (lambda: [Book(title="x")], TypeError, r"item 0 is a Book.*bulk.Save"),
        (lambda: [__import__("pymongo").InsertOne({})], TypeError, "PyMongo's InsertOne"),
        (lambda: [bulk.Save(b := Book(title="x")), bulk.Delete(b)], ValueError, "items 0 and 1"),
    ],
)
async def test_bad_input_is_refused_before_anything_is_sent(
    engine: Any, items: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await engine.bulk_write(items() if callable(items) else items)
    assert stored(engine, Book) == []


async def test_bad_items_are_refused_where_they_are_made() -> None:
    with pytest.raises(TypeError, match=r"bulk\.Save"):
        bulk.Save(Book)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bulk.UpdateOne(Book(title="x"), Book.title == "x", update=update.set(Book.pages, 1))
    with pytest.raises(InvalidValueError):
        bulk.UpdateMany(Book, update=update.set(Book.pages, "many"))


async def test_ordered_must_be_a_bool(engine: Any) -> None:
    with pytest.raises(TypeError, match="ordered"):
        await engine.bulk_write([bulk.Insert(Book(title="x"))], ordered="yes")


async def test_instance_items_run_their_hooks_filter_items_none(engine: Any) -> None:
    CALLS.clear()
    a, b = Hooked(name="a"), Hooked(name="b")
    await engine.save(b)
    CALLS.clear()
    await engine.bulk_write(
        [bulk.Insert(a), bulk.Delete(b), bulk.DeleteMany(Hooked, Hooked.name == "zzz")]
    )
    assert CALLS == ["before save a", "before delete b", "after save a", "after delete b"]
    CALLS.clear()
    await engine.bulk_write([bulk.Save(a)], skip_hooks=True)
    assert CALLS == []


async def test_a_failed_bulk_runs_no_after_hook(engine: Any) -> None:
    await engine.save(Author(name="taken"))
    CALLS.clear()
    with pytest.raises(BulkWriteError):
        await engine.bulk_write([bulk.Save(Hooked(name="h")), bulk.Insert(Author(name="taken"))])
    assert CALLS == ["before save h"]
