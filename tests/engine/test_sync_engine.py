"""What the sync engine's cursor promises beyond the shared CRUD tests."""

from __future__ import annotations

import gc
from typing import Any

import pymongo

from anyodm import SyncEngine
from tests.engine.cursors import CursorIds, wait_until_closed
from tests.engine.models import Author


def _engine(mongodb_uri: str, db: str) -> tuple[SyncEngine, CursorIds, Any]:
    listener = CursorIds()
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongodb_uri, event_listeners=[listener])
    engine = SyncEngine(client=client, database=db)
    engine.save_all([Author(name=f"c{i:03}", age=i) for i in range(300)])
    return engine, listener, client


def test_breaking_out_of_a_sync_loop_closes_the_server_cursor(
    mongodb_uri: str, mongo_database: Any
) -> None:
    engine, listener, client = _engine(mongodb_uri, mongo_database.name)
    try:
        for _ in engine.find(Author):
            break
        assert wait_until_closed(client, mongo_database.name, "author", listener.ids[-1])
    finally:
        client.close()


def test_a_cursor_dropped_in_a_reference_cycle_is_closed_by_the_collector(
    mongodb_uri: str, mongo_database: Any
) -> None:
    engine, listener, client = _engine(mongodb_uri, mongo_database.name)
    try:
        holder: dict[str, Any] = {}
        holder["self"] = holder  # a cycle: only the garbage collector frees it
        holder["it"] = iter(engine.find(Author))
        next(holder["it"])
        del holder
        gc.collect()  # closing must neither block nor deadlock on the driver's locks
        assert wait_until_closed(client, mongo_database.name, "author", listener.ids[-1])
        assert engine.count(Author) == 300
    finally:
        client.close()


def test_a_sync_cursor_is_list_like(anyodm_sync_engine: SyncEngine) -> None:
    anyodm_sync_engine.save_all([Author(name=f"l{i}", age=i) for i in range(3)])
    cursor = anyodm_sync_engine.find(Author, sort=Author.age)
    assert len(cursor) == 3
    assert cursor[0].name == "l0"
    assert [a.age for a in cursor] == [0, 1, 2]
    assert [a.age for a in cursor] == [0, 1, 2]  # a list can be read again
