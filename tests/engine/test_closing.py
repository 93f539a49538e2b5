"""S9 for cursors and change streams: a close never waits behind ordinary work, a read
racing a close gets ``CursorClosedError`` (never data after the close returned), and
nothing is left open (or printed) at interpreter exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import anyio
import pymongo

from anyodm import CursorClosedError, CursorConsumedError, Engine, Model, SyncEngine
from anyodm.testing.plugin import ArmFailPoint

Client = pymongo.MongoClient[dict[str, Any]]

#: How long the blocker holds the engine's only worker slot: far longer than a close
#: takes, so a close that returns while it still runs did not wait for it.
BLOCK_MS = 5000


class Memo(Model):
    text: str
    n: int = 0


def open_change_streams(client: Client) -> int:
    status = client.admin.command("serverStatus")
    return int(status.get("metrics", {}).get("cursor", {}).get("open", {}).get("total", 0))


async def _hold_the_only_slot(
    engine: Engine, failpoint: ArmFailPoint, tg: anyio.abc.TaskGroup
) -> anyio.Event:
    """Start a find that the server holds for BLOCK_MS on the engine's only slot."""
    failpoint(["find"], mode={"times": 1}, block_ms=BLOCK_MS)
    done = anyio.Event()

    async def blocker() -> None:
        await engine.find_one(Memo, Memo.text == "nothing")
        done.set()

    tg.start_soon(blocker)
    with anyio.fail_after(10):
        while engine.thread_limiter.borrowed_tokens == 0:
            await anyio.sleep(0)
    return done


async def _until(condition: Any) -> None:
    with anyio.fail_after(10):
        while not condition():
            await anyio.sleep(0)


async def test_closing_a_stream_does_not_wait_behind_a_queued_read(
    mongo_client: Client, mongo_database: Any, failpoint: ArmFailPoint
) -> None:
    engine = Engine(client=mongo_client, database=mongo_database.name, max_threads=1)
    before = open_change_streams(mongo_client)
    outcome: list[str] = []
    async with engine.watch(Memo) as changes, anyio.create_task_group() as tg:
        blocker_done = await _hold_the_only_slot(engine, failpoint, tg)

        async def read() -> None:
            try:
                await changes.__anext__()
                outcome.append("an event")
            except CursorClosedError:
                outcome.append("closed")

        tg.start_soon(read)
        await _until(lambda: changes._turns.busy)  # queued for the busy slot
        await anyio.to_thread.run_sync(mongo_database["memo"].insert_one, {"text": "x"})
        await changes.aclose()
        assert not blocker_done.is_set()  # the close did not wait for the slot
        assert open_change_streams(mongo_client) == before
        await _until(lambda: outcome)
        assert outcome == ["closed"]
    assert engine.thread_limiter.borrowed_tokens == 0


async def test_closing_a_cursor_does_not_wait_behind_a_queued_read(
    mongo_client: Client, mongo_database: Any, failpoint: ArmFailPoint
) -> None:
    engine = Engine(client=mongo_client, database=mongo_database.name, max_threads=1)
    await engine.save_all([Memo(text=f"m{n}", n=n) for n in range(250)])
    cursor = engine.find(Memo, sort=Memo.n)
    first = await cursor.__anext__()  # one batch read: 99 more held, then a getMore
    seen: list[int] = [first.n]
    ended: list[str] = []
    async with anyio.create_task_group() as tg:
        blocker_done = await _hold_the_only_slot(engine, failpoint, tg)

        async def read_all() -> None:
            try:
                async for memo in cursor:
                    seen.append(memo.n)
            except CursorClosedError:
                ended.append("closed")

        tg.start_soon(read_all)
        await _until(lambda: cursor._turns.busy)  # the batch is used up: queued
        read_before_close = len(seen)
        await cursor.aclose()
        assert not blocker_done.is_set()
        await _until(lambda: ended)
    assert ended == ["closed"]
    assert len(seen) == read_before_close  # nothing after the close
    assert seen == list(range(len(seen)))


async def test_a_read_racing_a_close_gets_no_data(anyodm_engine: Engine) -> None:
    """Closes at random points of a read in another task: the read either finishes
    before the close starts or raises CursorClosedError; nothing arrives after."""
    engine = anyodm_engine
    await engine.save_all([Memo(text=f"m{n}", n=n) for n in range(120)])
    for attempt in range(12):
        cursor = engine.find(Memo, sort=Memo.n)
        state: dict[str, Any] = {"closed": False, "after close": []}

        async def read(cursor: Any = cursor, state: dict[str, Any] = state) -> None:
            try:
                async for memo in cursor:
                    if state["closed"]:
                        state["after close"].append(memo.n)
            except (CursorClosedError, CursorConsumedError):
                pass  # closed during the read, or before it began

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            for _ in range(attempt):
                await anyio.sleep(0)
            await cursor.aclose()
            state["closed"] = True
        assert state["after close"] == []


def test_sync_close_from_another_thread_ends_the_read(
    anyodm_sync_engine: SyncEngine,
) -> None:
    import threading

    engine = anyodm_sync_engine
    with engine.watch(Memo, max_await_time=0.5) as changes:
        errors: list[BaseException] = []

        def read() -> None:
            try:
                for _change in changes:  # ends when closed, or raises if it raced
                    pass
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        changes.close()
        reader.join(10)
    assert not reader.is_alive()
    assert [type(e) for e in errors] in ([CursorClosedError], [])


def test_nothing_is_left_open_or_printed_at_interpreter_exit(
    mongodb_uri: str, mongo_client: Client, mongo_database: Any
) -> None:
    mongo_database["memo"].insert_many([{"text": f"m{n}", "n": n} for n in range(300)])
    before = open_change_streams(mongo_client)
    script = textwrap.dedent(
        f"""
        import asyncio, pymongo
        from anyodm import Engine, Model

        class Memo(Model):
            text: str
            n: int = 0

        async def main():
            global cursor, stream, engine
            engine = Engine(client=pymongo.MongoClient({mongodb_uri!r}),
                            database={mongo_database.name!r})
            cursor = engine.find(Memo)
            await cursor.__anext__()
            print(cursor._reader._cursor.cursor_id, flush=True)  # test-only peek
            stream = engine.watch(Memo)
            await stream.open()

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr
    assert "Finalization" not in done.stderr
    cursor_id = int(done.stdout.split()[0])
    killed = mongo_database.command("killCursors", "memo", cursors=[cursor_id])
    assert killed["cursorsKilled"] == []  # already closed at exit
    assert open_change_streams(mongo_client) == before
