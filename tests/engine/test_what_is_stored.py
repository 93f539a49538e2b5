"""S8/S10: what a save sends is what the instance holds, and what anyodm remembers of a
stored document follows the database, whatever is done to the instance.

Each test runs on ``Engine`` (asyncio and trio) and on ``SyncEngine``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from anyodm import Engine, Field, Model, ObjectId, Reference, SyncEngine, update
from anyodm.errors import DuplicateKeyError
from tests.engine.conftest import AwaitableSyncEngine


class Doc(Model):
    name: str
    value: int = 0
    meta: dict[str, Any] = Field(default_factory=dict)
    rows: list[dict[str, Any]] = Field(default_factory=list)
    anything: list[Any] = Field(default_factory=list)
    bare: dict = Field(default_factory=dict)  # type: ignore[type-arg]


class Loose(Model):
    model_config = {"extra": "allow"}  # noqa: RUF012
    name: str


class Versioned(Model):
    model_config = {"optimistic_concurrency": True}  # noqa: RUF012
    email: str = Field(unique=True)
    value: int = 0


class Editor(Model):
    name: str


class Publisher(Model):
    name: str


class Book(Model):
    title: str
    editor: Editor | None = Reference()


class Novel(Model):
    title: str
    publisher: Publisher = Reference()


class Writes(monitoring.CommandListener):
    """The write commands a client sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("insert", "update", "delete"):
            self.sent.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def updates(self) -> list[dict[str, Any]]:
        return [u for cmd in self.sent for u in cmd.get("updates", [])]


@pytest.fixture(params=["async", "sync"])
def watched(
    request: pytest.FixtureRequest, mongodb_uri: str, mongo_database: Any
) -> Iterator[tuple[Any, Writes]]:
    """An engine (async, or the sync one behind awaitable methods) whose writes are seen."""
    writes = Writes()
    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[writes])
    try:
        if request.param == "async":
            yield Engine(client=client, database=mongo_database.name), writes
        else:
            sync = SyncEngine(client=client, database=mongo_database.name)
            yield AwaitableSyncEngine(sync), writes
    finally:
        client.close()


def stored(engine: Any, model: type[Model], key: Any) -> dict[str, Any] | None:
    collection = engine.sync.get_collection(model) if hasattr(engine, "sync") else None
    if collection is None:
        collection = engine.get_collection(model)
    doc: dict[str, Any] | None = collection.find_one({"_id": key})
    return doc


class AwaitableTransaction:
    """A ``SyncTransaction`` with awaitable methods; ``.raw`` is the transaction itself."""

    def __init__(self, tx: Any) -> None:
        self.raw = tx

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.raw, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


@asynccontextmanager
async def transaction(engine: Any) -> AsyncIterator[Any]:
    """A transaction of either engine, with awaitable methods (``.raw``: what
    ``session=`` takes)."""
    if isinstance(engine, AwaitableSyncEngine):
        with engine.sync.transaction() as tx:
            yield AwaitableTransaction(tx)
    else:
        async with engine.transaction() as tx:
            yield _Forward(tx)


class _Forward:
    def __init__(self, tx: Any) -> None:
        self.raw = tx

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class Abort(Exception):
    pass


@contextmanager
def aborted() -> Iterator[None]:
    with pytest.raises(Abort):
        yield


# -- what a save sends ---------------------------------------------------------------------


async def test_in_place_changes_at_any_depth_are_saved(watched: tuple[Any, Writes]) -> None:
    engine, _ = watched
    doc = await engine.save(
        Doc(name="d", meta={"tags": ["a"]}, rows=[{"k": 1}], anything=[{"x": []}], bare={"a": {}})
    )
    loaded = await engine.find_one(Doc, Doc.id == doc.id)
    loaded.meta["tags"].append("b")
    loaded.rows[0]["k"] = 2
    loaded.anything[0]["x"].append(1)
    loaded.bare["a"]["b"] = 1
    await engine.save(loaded)
    assert stored(engine, Doc, doc.id) == loaded.model_dump_doc()
    # the instance it was saved from is not the saved state: a second change is found too
    loaded.meta["tags"].append("c")
    await engine.save(loaded)
    assert stored(engine, Doc, doc.id)["meta"] == {"tags": ["a", "b", "c"]}  # type: ignore[index]


async def test_an_unchanged_instance_sends_nothing_and_a_change_only_itself(
    watched: tuple[Any, Writes],
) -> None:
    engine, writes = watched
    doc = await engine.save(Doc(name="d", meta={"big": "x" * 10_000}))
    loaded = await engine.find_one(Doc, Doc.id == doc.id)
    writes.sent.clear()
    await engine.save(loaded)
    assert writes.sent == []
    loaded.value = 5
    await engine.save(loaded)
    [sent] = writes.updates()
    assert sent["u"] == {"$set": {"value": 5}}
    assert not sent.get("upsert")


async def test_a_document_deleted_elsewhere_is_stored_again_whole(
    watched: tuple[Any, Writes],
) -> None:
    engine, _ = watched
    doc = await engine.save(Doc(name="d", meta={"a": 1}))
    await engine.remove(Doc, Doc.id == doc.id)
    doc.value = 3
    await engine.save(doc)
    assert stored(engine, Doc, doc.id) == doc.model_dump_doc()
    docs = [await engine.save(Doc(name=f"n{i}")) for i in range(3)]
    await engine.remove(Doc, Doc.id == docs[1].id)
    for item in docs:
        item.value = 9
    await engine.save_all(docs)
    for item in docs:
        assert stored(engine, Doc, item.id) == item.model_dump_doc()


async def test_extra_fields_are_saved_and_removed(watched: tuple[Any, Writes]) -> None:
    engine, _ = watched
    loose = await engine.save(Loose(name="l", colour="red", size=1))  # type: ignore[call-arg]
    loaded = await engine.find_one(Loose, Loose.id == loose.id)
    loaded.colour = "blue"
    loaded.shape = "round"
    del loaded.__pydantic_extra__["size"]
    await engine.save(loaded)
    assert stored(engine, Loose, loose.id) == {
        "_id": loose.id,
        "name": "l",
        "colour": "blue",
        "shape": "round",
    }


async def test_a_before_image_is_not_taken_for_what_is_stored(
    watched: tuple[Any, Writes],
) -> None:
    engine, _ = watched
    doc = await engine.save(Doc(name="d", value=0))
    before = await engine.find_one_and_update(
        Doc, Doc.id == doc.id, update=update.inc(Doc.value, 1), return_updated=False
    )
    assert before.value == 0
    await engine.save(before)  # the instance says 0: so must the database
    assert stored(engine, Doc, doc.id)["value"] == 0  # type: ignore[index]


async def test_a_copy_under_a_new_key_of_a_revised_model_is_a_new_document(
    watched: tuple[Any, Writes],
) -> None:
    engine, _ = watched
    first = await engine.save(Versioned(email="a@x"))
    copy = first.model_copy(update={"id": ObjectId(), "email": "b@x"})
    await engine.save(copy)
    assert stored(engine, Versioned, copy.id)["email"] == "b@x"  # type: ignore[index]
    assert stored(engine, Versioned, first.id)["email"] == "a@x"  # type: ignore[index]
    copy.value = 2
    await engine.save(copy)  # its own revision, not the original's
    assert stored(engine, Versioned, copy.id)["value"] == 2  # type: ignore[index]


async def test_a_unique_clash_of_a_revised_model_is_a_duplicate_key(
    watched: tuple[Any, Writes],
) -> None:
    engine, _ = watched
    await engine.configure_database([Versioned])
    await engine.save(Versioned(email="a@x"))
    other = await engine.save(Versioned(email="b@x"))
    other.email = "a@x"
    with pytest.raises(DuplicateKeyError):
        await engine.save(other)
    with pytest.raises(DuplicateKeyError):
        async with transaction(engine) as tx:
            await tx.save(other)
    other.email = "c@x"  # the advice of the error works: fix the value and save
    await engine.save(other)
    assert stored(engine, Versioned, other.id)["email"] == "c@x"  # type: ignore[index]


async def test_a_dangling_optional_reference_can_be_cleared(
    watched: tuple[Any, Writes],
) -> None:
    engine, _ = watched
    editor = await engine.save(Editor(name="e"))
    book = await engine.save(Book(title="t", editor=editor))
    await engine.delete(editor)
    loaded = await engine.find_one(Book, Book.id == book.id)
    assert loaded.editor is None
    loaded.editor = None
    await engine.save(loaded)
    assert stored(engine, Book, book.id)["editor"] is None  # type: ignore[index]


# -- transactions --------------------------------------------------------------------------


async def test_a_reference_fetched_in_an_aborted_transaction_is_saved_later(
    watched: tuple[Any, Writes],
) -> None:
    engine, _ = watched
    publisher = await engine.save(Publisher(name="old"))
    novel = await engine.save(Novel(title="t", publisher=publisher))
    loaded = await engine.find_one(Novel, Novel.id == novel.id)
    with aborted():
        async with transaction(engine) as tx:
            await tx.update_one(
                Publisher, Publisher.id == publisher.id, update=update.set(Publisher.name, "new")
            )
            fetched = await engine.fetch(loaded, Novel.publisher, session=tx.raw)
            raise Abort
    assert fetched.name == "new"  # what the aborted transaction showed
    await engine.save(fetched)  # must reach the database, which says "old"
    assert stored(engine, Publisher, publisher.id)["name"] == "new"  # type: ignore[index]


async def test_references_loaded_into_a_view_in_an_aborted_transaction_are_saved_later(
    watched: tuple[Any, Writes],
) -> None:
    from pydantic import BaseModel

    class View(BaseModel):
        title: str
        publisher: Publisher

    engine, _ = watched
    publisher = await engine.save(Publisher(name="old"))
    await engine.save(Novel(title="t", publisher=publisher))
    with aborted():
        async with transaction(engine) as tx:
            await tx.update_one(
                Publisher, Publisher.id == publisher.id, update=update.set(Publisher.name, "new")
            )
            view = await tx.find_one(Novel, projection=View)
            raise Abort
    assert view.publisher.name == "new"
    await engine.save(view.publisher)
    assert stored(engine, Publisher, publisher.id)["name"] == "new"  # type: ignore[index]


async def test_a_cascade_after_a_delete_in_one_transaction_stores_the_reference(
    watched: tuple[Any, Writes],
) -> None:
    engine, _ = watched
    publisher = await engine.save(Publisher(name="p"))
    async with transaction(engine) as tx:
        await tx.delete(publisher)
        novel = await tx.save(Novel(title="t", publisher=publisher))
    assert stored(engine, Publisher, publisher.id) == publisher.model_dump_doc()
    assert (await engine.find_one(Novel, Novel.id == novel.id)).publisher == publisher


async def test_save_all_whose_later_command_fails_leaves_no_instance_fresh(
    watched: tuple[Any, Writes], failpoint: Any
) -> None:
    engine, _ = watched
    existing = await engine.save(Doc(name="old"))
    existing.value = 1
    fresh = [Doc(name=f"new{i}") for i in range(3)]
    failpoint(["update"], mode={"times": 1}, error_code=2)  # the inserts are applied first
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
        await engine.save_all([*fresh, existing])
    await engine.save_all([*fresh, existing])  # no DuplicateKeyError on _id
    for item in [*fresh, existing]:
        assert stored(engine, Doc, item.id) == item.model_dump_doc()


async def test_a_fresh_instance_whose_document_exists_is_upserted(
    watched: tuple[Any, Writes],
) -> None:
    """Two copies of one fresh instance (one generated key), each saved: the second
    updates the document the first created, alone and in save_all; so does an instance
    saved again after a copy re-created its document. (Inside a transaction the insert
    is not tried twice: a write error ends the transaction, so it is a DuplicateKeyError.)"""
    engine, _ = watched
    first = Doc(name="a")
    copy = first.model_copy(update={"value": 2})
    await engine.save(first)
    await engine.save(copy)
    assert stored(engine, Doc, first.id) == copy.model_dump_doc()
    pair = [Doc(name="b"), Doc(name="c")]
    copies = [item.model_copy(update={"value": 3}) for item in pair]
    await engine.save_all(pair)
    await engine.save_all([Doc(name="d"), *copies])
    for item in copies:
        assert stored(engine, Doc, item.id) == item.model_dump_doc()
    await engine.delete(first)
    again = first.model_copy(update={"value": 4})
    await engine.save(again)
    first.value = 5
    await engine.save(first)
    assert stored(engine, Doc, first.id) == first.model_dump_doc()
    fresh = Doc(name="e")
    await engine.save(fresh.model_copy())
    with pytest.raises(DuplicateKeyError):
        async with transaction(engine) as tx:
            await tx.save(fresh)
