"""S6 as sharpened: which exits close the server cursor, and a consumed cursor raises."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from anyodm import CursorConsumedError, Engine, SyncEngine
from tests.engine.models import Author


async def test_a_consumed_cursor_iterated_again_raises(anyodm_engine: Engine) -> None:
    await anyodm_engine.save_all([Author(name=f"a{i}", age=i) for i in range(3)])
    cursor = anyodm_engine.find(Author)
    assert len([a async for a in cursor]) == 3
    with pytest.raises(CursorConsumedError, match="to_list"):
        async for _ in cursor:
            pass
    assert len(await anyodm_engine.find(Author)) == 3  # a new find is a new cursor


async def test_a_loop_left_by_break_may_be_resumed_until_the_end(anyodm_engine: Engine) -> None:
    await anyodm_engine.save_all([Author(name=f"a{i}", age=i) for i in range(5)])
    cursor = anyodm_engine.find(Author, sort=Author.age)
    async with cursor:
        first = await cursor.__anext__()
        rest = [a.age async for a in cursor]
    assert first.age == 0
    assert rest == [1, 2, 3, 4]


async def test_a_closed_cursor_iterated_again_raises(anyodm_engine: Engine) -> None:
    await anyodm_engine.save_all([Author(name=f"a{i}", age=i) for i in range(3)])
    cursor = anyodm_engine.find(Author)
    async with cursor:
        async for _ in cursor:
            break
    with pytest.raises(CursorConsumedError):
        async for _ in cursor:
            pass


async def test_a_held_cursor_left_by_break_is_closed_by_async_with(watched: Any) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    cursor = engine.find(Author)
    async with cursor:
        async for _ in cursor:
            break
    assert await anyio.to_thread.run_sync(watched.last_cursor_closed, 0.0)


async def test_a_held_cursor_left_by_break_is_closed_by_aclose(watched: Any) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    cursor = engine.find(Author)
    async for _ in cursor:
        break
    await cursor.aclose()
    assert await anyio.to_thread.run_sync(watched.last_cursor_closed, 0.0)


def test_sync_consumed_cursor_raises(anyodm_sync_engine: SyncEngine) -> None:
    anyodm_sync_engine.save_all([Author(name=f"a{i}", age=i) for i in range(3)])
    cursor = anyodm_sync_engine.find(Author)
    assert len([a for a in cursor]) == 3  # noqa: C416 - streams, keeps nothing
    with pytest.raises(CursorConsumedError):
        for _ in cursor:
            pass
    with pytest.raises(CursorConsumedError):
        cursor.to_list()


def test_sync_cursor_read_as_a_list_iterates_again(anyodm_sync_engine: SyncEngine) -> None:
    anyodm_sync_engine.save_all([Author(name=f"a{i}", age=i) for i in range(3)])
    cursor = anyodm_sync_engine.find(Author)
    assert len(cursor) == 3
    assert len(list(cursor)) == 3
    assert len(list(cursor)) == 3  # it behaves as the list it read


def test_sync_cursor_left_early_raises_when_iterated_again(anyodm_sync_engine: SyncEngine) -> None:
    anyodm_sync_engine.save_all([Author(name=f"a{i}", age=i) for i in range(3)])
    cursor = anyodm_sync_engine.find(Author)
    for _ in cursor:
        break
    with pytest.raises(CursorConsumedError):
        for _ in cursor:
            pass
