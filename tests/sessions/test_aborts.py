"""S4: every way out of a transaction block but a clean exit aborts it, and the cause
propagates unchanged; nothing of the transaction is visible, nothing is left behind."""

from __future__ import annotations

import sys
import time
from typing import Any

import anyio
import pytest
from pymongo.client_session import ClientSession

from anyodm import Engine, TransactionPhase
from tests.sessions.conftest import assert_engine_idle
from tests.sessions.models import Player

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup


class Boom(Exception):
    pass


def assert_left_nothing(engine: Engine, players: Any, driver: ClientSession) -> None:
    assert players.count_documents({}) == 0
    assert driver.has_ended
    assert_engine_idle(engine)


async def test_an_exception_in_the_block_aborts_and_comes_out_as_itself(
    anyodm_engine: Engine, players: Any
) -> None:
    boom = Boom("mine")
    with pytest.raises(Boom) as info:
        async with anyodm_engine.transaction() as tx:
            driver = tx.get_driver_session()
            await tx.save(Player(name="a", game="g"))
            raise boom
    assert info.value is boom  # not wrapped in an ExceptionGroup
    assert tx.phase is TransactionPhase.ABORTED
    assert_left_nothing(anyodm_engine, players, driver)


async def test_an_exception_in_a_session_block_comes_out_as_itself(
    anyodm_engine: Engine,
) -> None:
    with pytest.raises(Boom):
        async with anyodm_engine.session() as session:
            driver = session.get_driver_session()
            raise Boom
    assert driver.has_ended


async def test_a_failing_sibling_task_aborts(anyodm_engine: Engine, players: Any) -> None:
    async def sibling() -> None:
        await anyio.sleep(0.05)
        raise Boom("sibling")

    with pytest.raises(ExceptionGroup) as info:
        async with anyio.create_task_group() as tg:
            tg.start_soon(sibling)
            async with anyodm_engine.transaction() as tx:
                driver = tx.get_driver_session()
                await tx.save(Player(name="a", game="g"))
                await anyio.sleep(5)
    assert info.group_contains(Boom)
    assert tx.phase is TransactionPhase.ABORTED
    assert_left_nothing(anyodm_engine, players, driver)


async def test_a_move_on_after_deadline_aborts(anyodm_engine: Engine, players: Any) -> None:
    with anyio.move_on_after(0.2) as scope:
        async with anyodm_engine.transaction() as tx:
            driver = tx.get_driver_session()
            await tx.save(Player(name="a", game="g"))
            await anyio.sleep(5)
    assert scope.cancelled_caught
    assert tx.phase is TransactionPhase.ABORTED
    assert_left_nothing(anyodm_engine, players, driver)


async def test_cancellation_while_blocked_on_the_server_aborts(
    anyodm_engine: Engine, players: Any, failpoint: Any
) -> None:
    started = anyio.current_time()
    with anyio.move_on_after(0.3) as scope:
        async with anyodm_engine.transaction() as tx:
            driver = tx.get_driver_session()
            await tx.save(Player(name="a", game="g"))
            failpoint(["insert"], mode={"times": 1}, block_ms=2000)
            await tx.save(Player(name="b", game="g"))
    assert scope.cancelled_caught
    assert anyio.current_time() - started < 1.9  # the deadline reached the driver
    assert tx.phase is TransactionPhase.ABORTED
    assert_left_nothing(anyodm_engine, players, driver)


async def test_cancelling_the_enclosing_scope_from_outside_aborts(
    anyodm_engine: Engine, players: Any
) -> None:
    inside = anyio.Event()
    with anyio.CancelScope() as outer:

        async def canceller() -> None:
            await inside.wait()
            outer.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(canceller)
            async with anyodm_engine.transaction() as tx:
                driver = tx.get_driver_session()
                await tx.save(Player(name="a", game="g"))
                inside.set()
                await anyio.sleep_forever()
    assert outer.cancelled_caught
    assert tx.phase is TransactionPhase.ABORTED
    assert_left_nothing(anyodm_engine, players, driver)


async def test_a_failing_start_soon_worker_aborts_and_cancels_its_siblings(
    anyodm_engine: Engine, players: Any
) -> None:
    sibling_cancelled = False

    async def patient() -> None:
        nonlocal sibling_cancelled
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            sibling_cancelled = True
            raise

    async def failing(tx: Any) -> None:
        await tx.save(Player(name="w", game="g"))
        raise Boom("worker")

    with pytest.raises(ExceptionGroup) as info:
        async with anyodm_engine.transaction() as tx:
            driver = tx.get_driver_session()
            await tx.save(Player(name="a", game="g"))
            tx.start_soon(patient)
            tx.start_soon(failing, tx)
    assert info.group_contains(Boom)
    assert sibling_cancelled
    assert tx.phase is TransactionPhase.ABORTED
    assert_left_nothing(anyodm_engine, players, driver)


async def test_workers_finish_before_a_clean_block_commits(
    anyodm_engine: Engine, players: Any
) -> None:
    async def worker(tx: Any, name: str) -> None:
        await anyio.sleep(0.05)
        await tx.save(Player(name=name, game="g"))

    async with anyodm_engine.transaction() as tx:
        for i in range(5):
            tx.start_soon(worker, tx, f"w{i}")
    assert tx.phase is TransactionPhase.COMMITTED
    assert players.count_documents({}) == 5


@pytest.mark.needs_real_mongodb(reason="the embedded server's fail points skip commitTransaction")
async def test_a_commit_longer_than_the_cleanup_bound_reports_unknown(
    mongo_client: Any, mongo_database: Any, failpoint: Any
) -> None:
    engine = Engine(client=mongo_client, database=mongo_database.name, cleanup_timeout=0.5)
    with pytest.raises(Exception):  # noqa: B017 - the driver's timeout, or ours
        async with engine.transaction() as tx:
            await tx.save(Player(name="a", game="g"))
            failpoint(["commitTransaction"], mode={"times": 1}, block_ms=3000)
    # The block never exits normally when its commit's outcome is unknown, and the
    # phase says so: "unknown" is reported as such, never as done.
    assert tx.phase in (TransactionPhase.COMMIT_UNKNOWN, TransactionPhase.ABORTED)


async def test_a_deadline_during_the_commit_does_not_cut_it_short(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = ClientSession.commit_transaction

    def slow_commit(self: ClientSession) -> None:
        real_commit(self)
        time.sleep(0.5)  # the reply is still on its way when the deadline hits

    monkeypatch.setattr(ClientSession, "commit_transaction", slow_commit)
    with anyio.move_on_after(0.2) as scope:
        async with anyodm_engine.transaction() as tx:
            driver = tx.get_driver_session()
            await tx.save(Player(name="a", game="g"))
    # The commit ran to its end (shielded): the block exited normally, committed.
    assert tx.phase is TransactionPhase.COMMITTED
    assert players.count_documents({}) == 1
    assert not scope.cancelled_caught
    assert driver.has_ended
