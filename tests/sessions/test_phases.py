"""S9 and S4: phases tell the truth; a cancelled block never commits; the block's own
exception comes out as itself; one transaction at a time per session, checked under
the session lock."""

from __future__ import annotations

import sys
import time
from typing import Any

import anyio
import pytest
from pymongo.client_session import ClientSession

from anyodm import Engine, SessionStateError, SyncEngine, TransactionPhase
from tests.sessions.conftest import assert_engine_idle
from tests.sessions.models import Player
from tests.sessions.probes import HeldCalls

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup


class Boom(Exception):
    pass


# -- abort() under cancellation ------------------------------------------------------------


async def test_abort_called_while_cancelled_reaches_the_driver(
    anyodm_engine: Engine, players: Any
) -> None:
    session = anyodm_engine.session()
    await session.start()
    tx = session.transaction()
    await tx.start()
    driver = tx.get_driver_session()
    await tx.save(Player(name="zombie?", game="g"))
    with anyio.CancelScope() as scope:
        scope.cancel()
        await tx.abort()  # shielded like the implicit abort
    assert tx.phase is TransactionPhase.ABORTED
    assert not driver.in_transaction
    # The session goes on outside any transaction: its next write is stored.
    await session.save(Player(name="after", game="g"))
    assert [p["name"] for p in players.find({})] == ["after"]
    async with session.transaction() as tx2:  # and the next transaction starts fine
        await tx2.save(Player(name="tx2", game="g"))
    assert tx2.phase is TransactionPhase.COMMITTED
    await session.end()
    assert players.count_documents({}) == 2


# -- a block whose scope is already cancelled when it exits aborts -------------------------


async def test_cancel_as_the_block_s_last_statement_aborts(
    anyodm_engine: Engine, players: Any
) -> None:
    with anyio.CancelScope() as scope:
        async with anyodm_engine.transaction() as tx:
            await tx.save(Player(name="a", game="g"))
            scope.cancel()
    assert scope.cancelled_caught
    assert tx.phase is TransactionPhase.ABORTED
    assert players.count_documents({}) == 0
    assert_engine_idle(anyodm_engine)


async def test_a_deadline_that_passed_during_synchronous_work_aborts(
    anyodm_engine: Engine, players: Any
) -> None:
    with anyio.move_on_after(0.2) as scope:
        async with anyodm_engine.transaction() as tx:
            await tx.save(Player(name="a", game="g"))
            time.sleep(0.4)
    assert scope.cancelled_caught
    assert tx.phase is TransactionPhase.ABORTED
    assert players.count_documents({}) == 0


async def test_with_transaction_whose_scope_is_cancelled_after_the_callback_aborts(
    anyodm_engine: Engine, players: Any
) -> None:
    async def callback(tx: Any, scope: anyio.CancelScope) -> None:
        await tx.save(Player(name="a", game="g"))
        scope.cancel()

    with anyio.CancelScope() as scope:
        await anyodm_engine.with_transaction(callback, scope)
    assert scope.cancelled_caught
    assert players.count_documents({}) == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_native_cancel_pending_at_exit_aborts(anyodm_engine: Engine, players: Any) -> None:
    import asyncio

    async def block() -> None:
        async with anyodm_engine.transaction() as tx:
            holder.append(tx)
            await tx.save(Player(name="a", game="g"))
            task.cancel()  # pending: delivered at the next await, the block's exit

    holder: list[Any] = []
    task = asyncio.ensure_future(block())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert holder[0].phase is TransactionPhase.ABORTED
    assert players.count_documents({}) == 0


# -- the block's own exception is never wrapped --------------------------------------------


async def test_the_block_s_exception_is_not_wrapped_when_the_scope_is_cancelled_with_workers(
    anyodm_engine: Engine, players: Any
) -> None:
    boom = Boom("mine")
    with pytest.raises(Boom) as info, anyio.CancelScope() as scope:
        async with anyodm_engine.transaction() as tx:
            tx.start_soon(anyio.sleep_forever)
            await tx.save(Player(name="a", game="g"))
            scope.cancel()
            raise boom
    assert info.value is boom
    assert tx.phase is TransactionPhase.ABORTED
    assert players.count_documents({}) == 0


async def test_a_failing_worker_and_the_block_s_exception_come_out_together(
    anyodm_engine: Engine,
) -> None:
    async def failing() -> None:
        raise KeyError("worker")

    with pytest.raises(BaseExceptionGroup) as info:
        async with anyodm_engine.transaction() as tx:
            tx.start_soon(failing)
            await anyio.sleep(0.05)
            raise Boom("block")
    assert info.group_contains(KeyError)
    assert tx.phase is TransactionPhase.ABORTED


# -- one transaction at a time per session -------------------------------------------------


async def test_two_transactions_started_concurrently_in_one_session(
    anyodm_engine: Engine,
) -> None:
    outcomes: list[str] = []
    async with anyodm_engine.session() as session:
        first, second = session.transaction(), session.transaction()

        async def start(tx: Any) -> None:
            try:
                await tx.start()
                outcomes.append("started")
            except SessionStateError:
                outcomes.append("refused")

        async with anyio.create_task_group() as tg:
            tg.start_soon(start, first)
            tg.start_soon(start, second)
        assert sorted(outcomes) == ["refused", "started"]
        active = first if first.phase is TransactionPhase.ACTIVE else second
        driver = session.get_driver_session()
    # The session ended: its transaction is no longer ACTIVE.
    assert active.phase is TransactionPhase.ABORTED
    assert driver.has_ended


async def test_a_transaction_start_queued_while_the_session_ends(
    anyodm_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldCalls(monkeypatch, "count_documents")
    session = anyodm_engine.session()
    await session.start()
    failures: list[BaseException] = []

    async def count() -> None:
        try:
            await session.count(Player)
        except SessionStateError as exc:
            failures.append(exc)

    async def start_transaction() -> None:
        try:
            await session.transaction().start()
        except BaseException as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(count)  # holds the session lock in its thread
        await anyio.to_thread.run_sync(held.entered.wait, 10)
        tg.start_soon(start_transaction)  # queued behind it
        await anyio.sleep(0.05)
        tg.start_soon(session.end)
        await anyio.sleep(0.05)
        held.release()
    assert {type(f) for f in failures} == {SessionStateError}
    assert len(failures) == 2


# -- sync: KeyboardInterrupt during the commit ---------------------------------------------


def test_sync_keyboard_interrupt_during_commit_is_not_replaced(
    anyodm_sync_engine: SyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = ClientSession.commit_transaction

    def interrupted_commit(self: ClientSession) -> None:
        real_commit(self)
        raise KeyboardInterrupt  # Ctrl-C as the reply arrives

    monkeypatch.setattr(ClientSession, "commit_transaction", interrupted_commit)
    seen: list[Any] = []

    def callback(tx: Any) -> None:
        seen.append(tx)
        tx.save(Player(name="a", game="g"))

    with pytest.raises(KeyboardInterrupt):
        anyodm_sync_engine.with_transaction(callback)
    assert seen[0].phase is TransactionPhase.COMMIT_UNKNOWN
    assert anyodm_sync_engine.get_collection(Player).count_documents({}) == 1


def test_sync_transaction_phase_after_session_end(anyodm_sync_engine: SyncEngine) -> None:
    with anyodm_sync_engine.session() as session:
        tx = session.transaction()
        tx.start()
        tx.save(Player(name="a", game="g"))
    assert tx.phase is TransactionPhase.ABORTED
    assert anyodm_sync_engine.get_collection(Player).count_documents({}) == 0
