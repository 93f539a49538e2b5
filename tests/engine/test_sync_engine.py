"""What the sync engine's cursor promises beyond the shared CRUD tests."""

from __future__ import annotations

import gc
from typing import Any

from anyodm import SyncEngine
from tests.engine.models import Author


def test_breaking_out_of_a_sync_loop_closes_the_server_cursor(watched: Any) -> None:
    engine = SyncEngine(client=watched.client, database=watched.database)
    for _ in engine.find(Author):
        break
    assert watched.last_cursor_closed()


def test_a_cursor_dropped_in_a_reference_cycle_is_closed_by_the_collector(watched: Any) -> None:
    engine = SyncEngine(client=watched.client, database=watched.database)
    holder: dict[str, Any] = {}
    holder["self"] = holder  # a cycle: only the garbage collector frees it
    holder["it"] = iter(engine.find(Author))
    next(holder["it"])
    del holder
    gc.collect()  # closing must neither block nor deadlock on the driver's locks
    assert watched.last_cursor_closed()
    assert engine.count(Author) == 300


def test_a_sync_cursor_is_list_like(anyodm_sync_engine: SyncEngine) -> None:
    anyodm_sync_engine.save_all([Author(name=f"l{i}", age=i) for i in range(3)])
    cursor = anyodm_sync_engine.find(Author, sort=Author.age)
    assert len(cursor) == 3
    assert cursor[0].name == "l0"
    assert [a.age for a in cursor] == [0, 1, 2]
    assert [a.age for a in cursor] == [0, 1, 2]  # a list can be read again
