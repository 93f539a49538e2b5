"""``bulk_write`` in sessions and transactions, and cancelled while in flight."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from pymongo import MongoClient, monitoring

from anyodm import BulkResult, BulkWriteError, Engine, SyncEngine, bulk, update
from anyodm.model.tracking import is_persisted, saved_state
from tests.bulk.models import Author, Book


class Abort(Exception):
    pass


async def test_an_aborted_transaction_leaves_nothing_and_saved_state_unchanged(
    anyodm_engine: Engine,
) -> None:
    kept = Book(title="kept", pages=1)
    await anyodm_engine.save(kept)
    before = saved_state(kept)
    author = Author(name="A")
    kept.pages = 2
    with pytest.raises(Abort):
        async with anyodm_engine.transaction() as tx:
            result = await tx.bulk_write(
                [bulk.Insert(author), bulk.Save(kept), bulk.Delete(Book(title="x"))]
            )
            assert result.ok
            assert not is_persisted(author)  # pending until the commit
            raise Abort
    assert saved_state(author) is None
    assert saved_state(kept) == before
    assert await anyodm_engine.count(Author) == 0
    assert (await anyodm_engine.find_one(Book)).pages == 1


async def test_a_committed_transaction_makes_the_writes_saved(anyodm_engine: Engine) -> None:
    author = Author(name="A")
    async with anyodm_engine.transaction() as tx:
        await tx.bulk_write([bulk.Insert(author), bulk.Save(Book(title="b", author=author))])
    assert is_persisted(author)
    assert (await anyodm_engine.find_one(Book)).author.name == "A"


async def test_a_failure_in_a_transaction_sends_nothing_after_it_even_unordered(
    anyodm_engine: Engine,
) -> None:
    await anyodm_engine.configure_database([Author])
    await anyodm_engine.save(Author(name="taken"))
    book = Book(title="b")
    with pytest.raises(BulkWriteError) as info:
        async with anyodm_engine.transaction() as tx:
            await tx.bulk_write([bulk.Insert(Author(name="taken")), bulk.Save(book)], ordered=False)
    assert [item.status for item in info.value.result.items] == ["failed", "not_written"]
    assert saved_state(book) is None
    assert await anyodm_engine.count(Book) == 0


def test_sync_engine_in_a_session_and_a_transaction(anyodm_sync_engine: SyncEngine) -> None:
    with anyodm_sync_engine.session() as session:
        result = session.bulk_write([bulk.Insert(Book(title="s"))])
        assert isinstance(result, BulkResult)
        assert result.inserted == 1
    book = Book(title="t")
    with pytest.raises(Abort), anyodm_sync_engine.transaction() as tx:
        tx.bulk_write([bulk.Save(book), bulk.UpdateMany(Book, update=update.set(Book.pages, 9))])
        raise Abort
    assert saved_state(book) is None
    assert [b.pages for b in anyodm_sync_engine.find(Book)] == [0]


class HeldInsert(monitoring.CommandListener):
    """Holds the insert command in its worker thread (before it is sent) until
    ``release`` is set; ``sent`` tells that it got there."""

    def __init__(self) -> None:
        self.sent = threading.Event()
        self.release = threading.Event()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            self.sent.set()
            self.release.wait(10)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_cancelled_while_in_flight_the_write_completes_and_saved_state_follows(
    mongodb_uri: str, mongo_database: Any
) -> None:
    held = HeldInsert()
    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[held])
    try:
        engine = Engine(client=client, database=mongo_database.name)
        books = [Book(title=f"c{i}") for i in range(3)]
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_once_sent() -> None:
                    await anyio.to_thread.run_sync(held.sent.wait)
                    scope.cancel()
                    held.release.set()

                tg.start_soon(cancel_once_sent)
                await engine.bulk_write([bulk.Insert(book) for book in books])
        assert scope.cancelled_caught
        # the thread was not abandoned: the write happened and the instances know it
        assert all(is_persisted(book) for book in books)
        assert await engine.count(Book) == 3
    finally:
        held.release.set()
        client.close()
