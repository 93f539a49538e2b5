"""S3 lifetimes, S5 one-at-a-time, and the misuse errors that say what to do."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from anyodm import Engine, SessionStateError, SyncEngine, TransactionPhase
from tests.sessions.models import Player


async def test_use_before_start_and_after_end_raises(anyodm_engine: Engine) -> None:
    session = anyodm_engine.session()
    with pytest.raises(SessionStateError, match="before"):
        await session.find_one(Player)
    async with session:
        pass
    with pytest.raises(SessionStateError, match="after"):
        await session.save(Player(name="a", game="g"))
    with pytest.raises(SessionStateError, match="find"):
        session.find(Player)


async def test_transaction_use_after_commit_raises_and_exit_does_nothing(
    anyodm_engine: Engine, players: Any
) -> None:
    async with anyodm_engine.transaction() as tx:
        await tx.save(Player(name="a", game="g"))
        await tx.commit()
        with pytest.raises(SessionStateError, match="committed"):
            await tx.save(Player(name="b", game="g"))
    assert tx.phase is TransactionPhase.COMMITTED
    assert players.count_documents({}) == 1


async def test_explicit_abort_then_clean_exit_stays_aborted(
    anyodm_engine: Engine, players: Any
) -> None:
    async with anyodm_engine.transaction() as tx:
        await tx.save(Player(name="a", game="g"))
        await tx.abort()
    assert tx.phase is TransactionPhase.ABORTED
    assert players.count_documents({}) == 0


async def test_operations_other_tasks_run_when_the_session_ends_are_cancelled(
    anyodm_engine: Engine,
) -> None:
    outcome: list[BaseException] = []
    started = anyio.Event()

    async def reader(session: Any) -> None:
        started.set()
        try:
            while True:
                await session.count(Player)
        except SessionStateError as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as tg, anyodm_engine.session() as session:
        tg.start_soon(reader, session)
        await started.wait()
    assert outcome, "the reader should have been stopped by the end of the session"


async def test_one_transaction_at_a_time_per_session(anyodm_engine: Engine) -> None:
    async with anyodm_engine.session() as session, session.transaction():
        with pytest.raises(SessionStateError, match="one transaction at a time"):
            await session.transaction().start()


async def test_a_transaction_is_entered_once(anyodm_engine: Engine) -> None:
    tx = anyodm_engine.transaction()
    async with tx:
        pass
    with pytest.raises(SessionStateError, match="once"):
        async with tx:
            pass


async def test_start_soon_outside_the_block(anyodm_engine: Engine) -> None:
    async def work() -> None:
        pass

    session = anyodm_engine.session()
    with pytest.raises(SessionStateError, match="inside"):
        session.start_soon(work)
    await session.start()
    with pytest.raises(SessionStateError, match="inside"):
        session.start_soon(work)  # raw style hosts no task group
    await session.end()
    async with anyodm_engine.transaction() as tx:
        pass
    with pytest.raises(SessionStateError, match="inside"):
        tx.start_soon(work)


async def test_session_of_another_engine(anyodm_engine: Engine, mongo_client: Any) -> None:
    other = Engine(client=mongo_client, database=anyodm_engine.database_name)
    async with other.session() as session:
        with pytest.raises(SessionStateError, match="another engine"):
            await anyodm_engine.find_one(Player, session=session)


async def test_sync_session_on_async_engine_and_back(
    anyodm_engine: Engine, anyodm_sync_engine: SyncEngine
) -> None:
    with (
        anyodm_sync_engine.session() as sync_session,
        pytest.raises(SessionStateError, match="async Engine"),
    ):
        await anyodm_engine.count(Player, session=sync_session)  # type: ignore[arg-type]
    async with anyodm_engine.session() as session:
        with pytest.raises(SessionStateError, match="SyncEngine"):
            anyodm_sync_engine.count(Player, session=session)  # type: ignore[arg-type]


async def test_operations_on_one_session_never_run_concurrently(
    anyodm_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anyodm.core import operations

    lock = threading.Lock()
    running = peak = 0
    real_count = operations.count

    def counting(*args: Any) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real_count(*args)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(operations, "count", counting)
    async with anyodm_engine.session() as session:
        for _ in range(20):
            session.start_soon(session.count, Player)
    assert peak == 1


async def test_operations_queue_in_fifo_order(anyodm_engine: Engine) -> None:
    order: list[int] = []
    async with anyodm_engine.session() as session:

        async def op(i: int) -> None:
            await session.count(Player)
            order.append(i)

        for i in range(10):
            session.start_soon(op, i)
            await anyio.sleep(0)  # let each queue up in turn
    assert order == list(range(10))


async def test_misspelt_transaction_options_are_refused_at_once(
    anyodm_engine: Engine, anyodm_sync_engine: SyncEngine
) -> None:
    with pytest.raises(TypeError, match="write_concern"):
        anyodm_engine.transaction(write_concen="majority")
    with pytest.raises(TypeError, match="write_concern"):
        anyodm_sync_engine.transaction(write_concen="majority")


async def test_a_session_ended_while_a_thread_holds_it_is_released_by_that_thread(
    mongo_client: Any, mongo_database: Any, failpoint: Any
) -> None:
    engine = Engine(client=mongo_client, database=mongo_database.name, cleanup_timeout=0.2)
    outcome: list[BaseException] = []

    async def reader(session: Any) -> None:
        try:
            await session.count(Player)
        except SessionStateError as exc:
            outcome.append(exc)

    failpoint(["aggregate"], mode={"times": 1}, block_ms=1500)
    async with anyio.create_task_group() as tg:
        started = anyio.current_time()
        async with engine.session() as session:
            driver = session.get_driver_session()
            tg.start_soon(reader, session)
            with anyio.fail_after(5):
                while not session._turns.in_use:  # the reader's call is on the server
                    await anyio.sleep(0.01)
        # The block did not wait for the blocked call beyond its cleanup bound ...
        assert anyio.current_time() - started < 1.2
        assert not driver.has_ended
    # ... and the reader's thread ended the driver session once its call returned.
    assert driver.has_ended
    assert outcome
    assert engine.thread_limiter.borrowed_tokens == 0
