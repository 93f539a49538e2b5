"""One way across the thread boundary (S1, S5, S9): waiting for a slot is cancellable, a
running thread is never abandoned whatever cancels its caller, cleanup has capacity
ordinary work cannot take, and one engine serves any event loop."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
import pytest
import trio

from anyodm import Engine, TransactionPhase
from tests.sessions.conftest import assert_engine_idle
from tests.sessions.models import Player
from tests.sessions.probes import HeldCalls, SessionUseProbe

#: Generous margin for "returned at its deadline / within its bound" on a loaded machine.
SLACK = 1.5


def small_engine(mongo_client: Any, mongo_database: Any, **options: Any) -> Engine:
    return Engine(client=mongo_client, database=mongo_database.name, **options)


async def wait_entered(held: HeldCalls) -> None:
    await anyio.to_thread.run_sync(held.entered.wait, 10)


# -- waiting for a slot is cancellable and under the deadline ------------------------------


async def test_a_deadline_stops_a_session_operation_waiting_for_a_slot(
    mongo_client: Any, mongo_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = small_engine(mongo_client, mongo_database, max_threads=1)
    held = HeldCalls(monkeypatch, "count_documents")
    async with anyio.create_task_group() as tg:
        tg.start_soon(engine.count, Player)  # holds the only slot
        await wait_entered(held)
        async with engine.session() as session:
            started = time.monotonic()
            with pytest.raises(TimeoutError), anyio.fail_after(0.3):
                await session.find_one(Player)
            assert time.monotonic() - started < 0.3 + SLACK
        held.release()
    assert_engine_idle(engine)


# -- a running thread is never abandoned ---------------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_native_asyncio_timeout_waits_for_a_write_without_session(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldCalls(monkeypatch, "insert_one")
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, held.release)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await anyodm_engine.save(Player(name="a", game="g"))
    # The TimeoutError came only once the thread was done: nothing lands after it.
    assert held.finished.is_set()
    assert players.count_documents({}) == 1
    assert_engine_idle(anyodm_engine)


async def test_a_cancelled_scope_waits_for_a_started_write(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldCalls(monkeypatch, "insert_one")
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def cancel_once_inside() -> None:
                await wait_entered(held)
                scope.cancel()
                with anyio.CancelScope(shield=True):
                    await anyio.sleep(0.05)  # the cancellation is delivered meanwhile
                held.release()

            tg.start_soon(cancel_once_inside)
            await anyodm_engine.save(Player(name="a", game="g"))
    assert scope.cancelled_caught
    # The scope ended only once the thread was done: nothing lands after it.
    assert held.finished.is_set()
    assert players.count_documents({}) == 1
    assert_engine_idle(anyodm_engine)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_native_cancellation_never_runs_more_threads_than_max_threads(
    mongo_client: Any, mongo_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = small_engine(mongo_client, mongo_database, max_threads=2)
    held = HeldCalls(monkeypatch, "count_documents")
    tasks = [asyncio.ensure_future(engine.count(Player)) for _ in range(8)]
    await wait_entered(held)
    for task in tasks:
        task.cancel()
    for _ in range(3):
        await asyncio.sleep(0)
    held.release()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert held.most <= 2
    assert_engine_idle(engine)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_cursor_is_not_closed_while_its_thread_still_reads(
    anyodm_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await anyodm_engine.save_all([Player(name=f"p{i}", game="g") for i in range(300)])
    probe = SessionUseProbe(monkeypatch)
    held = HeldCalls(monkeypatch, "find")

    async def stream() -> None:
        async for _ in anyodm_engine.find(Player):
            pass

    task = asyncio.ensure_future(stream())
    await wait_entered(held)
    task.cancel()
    asyncio.get_running_loop().call_later(0.2, held.release)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert held.finished.is_set()
    assert probe.overlaps == 0
    assert_engine_idle(anyodm_engine)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_repeated_native_cancels_wait_for_the_started_thread(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldCalls(monkeypatch, "insert_one")
    task = asyncio.ensure_future(anyodm_engine.save(Player(name="a", game="g")))
    await wait_entered(held)
    for _ in range(3):  # every cancel is held while the thread runs
        task.cancel()
        await asyncio.sleep(0)
        assert not task.done()
    held.release()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert held.finished.is_set()
    assert players.count_documents({}) == 1
    assert_engine_idle(anyodm_engine)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_native_cancel_before_the_thread_starts_runs_nothing(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldCalls(monkeypatch, "insert_one")
    held.release()
    tasks = []
    for steps in range(6):  # cancelled at each of its first steps in turn
        task = asyncio.ensure_future(anyodm_engine.save(Player(name=f"p{steps}", game="g")))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        tasks.append(task)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    # Each save either ran to its end (then the cancellation still reached the caller)
    # or never reached the driver: what is stored is what ran.
    assert all(isinstance(r, (asyncio.CancelledError, Player)) for r in results)
    assert players.count_documents({}) == held.calls < len(tasks)
    assert_engine_idle(anyodm_engine)


async def test_an_already_cancelled_caller_takes_no_slot_and_sends_nothing(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldCalls(monkeypatch, "insert_one")
    held.release()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await anyodm_engine.save(Player(name="never", game="g"))
    assert scope.cancelled_caught
    with anyio.move_on_after(-1) as past:  # a deadline already passed
        await anyodm_engine.save(Player(name="never", game="g"))
    assert past.cancelled_caught
    assert held.calls == 0
    assert players.count_documents({}) == 0
    assert_engine_idle(anyodm_engine)


async def test_engine_calls_neither_take_nor_wait_for_anyios_default_thread_limiter(
    anyodm_engine: Engine, players: Any
) -> None:
    # The engine bounds its calls with its own slots: a program that uses up anyio's
    # default limiter for its own threads does not stall the engine, nor the reverse.
    default = anyio.to_thread.current_default_thread_limiter()
    saved_total = default.total_tokens
    default.total_tokens = 1
    try:
        await default.acquire()
        try:
            with anyio.fail_after(10):
                await anyodm_engine.save(Player(name="runs", game="g"))
                assert await anyodm_engine.count(Player) == 1
            assert default.borrowed_tokens == 1  # only ours
        finally:
            default.release()
    finally:
        default.total_tokens = saved_total
    assert_engine_idle(anyodm_engine)


def test_a_thread_call_given_up_before_it_started_never_runs() -> None:
    from anyodm.aio.slots import ThreadSlots
    from anyodm.aio.threads import _ThreadCall

    slots = ThreadSlots(1, 1)

    async def take() -> Any:
        return await slots.acquire()

    slot = anyio.run(take)
    ran: list[int] = []
    call = _ThreadCall(slot, float("inf"), None, ran.append, (1,))
    assert call.abandon() is False  # not started: given up
    assert call() is None
    assert ran == []
    slot.release()
    assert slots.borrowed_tokens == 0


def test_a_started_thread_call_cannot_be_given_up() -> None:
    import threading

    from anyodm.aio.slots import ThreadSlots
    from anyodm.aio.threads import _ThreadCall

    slots = ThreadSlots(1, 1)

    async def take() -> Any:
        return await slots.acquire()

    slot = anyio.run(take)
    inside, leave = threading.Event(), threading.Event()

    def work() -> str:
        inside.set()
        leave.wait(10)
        return "done"

    call = _ThreadCall(slot, float("inf"), None, work, ())
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(call()))
    worker.start()
    assert inside.wait(10)
    assert call.abandon() is True  # started: the caller must wait for it

    async def wait_for_it() -> None:
        leave.set()
        await call.finished()

    asyncio.run(wait_for_it())
    worker.join(10)
    assert results == ["done"]
    assert slots.borrowed_tokens == 0


# -- cleanup has capacity ordinary work cannot take ----------------------------------------


async def test_an_abort_does_not_wait_for_busy_slots(
    mongo_client: Any, mongo_database: Any, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = small_engine(mongo_client, mongo_database, max_threads=1, cleanup_timeout=5)
    held = HeldCalls(monkeypatch, "count_documents")
    async with anyio.create_task_group() as tg:
        with pytest.raises(LookupError):
            async with engine.transaction() as tx:
                driver = tx.get_driver_session()
                await tx.save(Player(name="a", game="g"))
                tg.start_soon(engine.count, Player)  # not in the tx: takes the only slot
                await wait_entered(held)
                started = time.monotonic()
                raise LookupError("the block fails while every ordinary slot is busy")
        took = time.monotonic() - started
        assert tx.phase is TransactionPhase.ABORTED
        assert not driver.in_transaction
        assert driver.has_ended
        assert took < SLACK  # far below the 5 s bound: the abort got a reserved slot
        held.release()
    assert players.count_documents({}) == 0
    assert_engine_idle(engine)


async def test_a_cancelled_block_aborts_within_its_bound_when_every_slot_is_busy(
    mongo_client: Any, mongo_database: Any, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = small_engine(mongo_client, mongo_database, max_threads=1, cleanup_timeout=5)
    held = HeldCalls(monkeypatch, "count_documents")
    async with anyio.create_task_group() as tg:
        tg.start_soon(engine.count, Player)
        await wait_entered(held)
        started = time.monotonic()
        with anyio.move_on_after(0.2) as scope:
            async with engine.transaction() as tx:
                driver = tx.get_driver_session()
                await anyio.sleep_forever()
        assert scope.cancelled_caught
        assert tx.phase is TransactionPhase.ABORTED
        assert driver.has_ended
        assert time.monotonic() - started < 0.2 + SLACK
        held.release()
    assert_engine_idle(engine)


async def test_abort_past_its_bound_is_handed_to_the_thread_holding_the_session(
    mongo_client: Any, mongo_database: Any, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another task's operation in the transaction is still in its thread when the
    cleanup bound runs out: the phase says ABORTING (not ABORTED) until that thread,
    once its call returns, has aborted and ended the session."""
    engine = small_engine(mongo_client, mongo_database, cleanup_timeout=0.3)
    probe = SessionUseProbe(monkeypatch)
    held = HeldCalls(monkeypatch, "count_documents")
    outcome: list[BaseException] = []

    async def count_in(tx: Any) -> None:
        try:
            await tx.count(Player)
        except Exception as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as tg:
        with anyio.move_on_after(0.2):
            async with engine.transaction() as tx:
                driver = tx.get_driver_session()
                await tx.save(Player(name="a", game="g"))
                tg.start_soon(count_in, tx)
                await wait_entered(held)
                await anyio.sleep_forever()
        assert tx.phase is TransactionPhase.ABORTING
        assert driver.in_transaction  # honest: the driver is still in it
        held.release()
    assert [type(e).__name__ for e in outcome] == ["SessionStateError"]
    assert tx.phase is TransactionPhase.ABORTED
    assert driver.has_ended
    assert not driver.in_transaction
    assert probe.overlaps == 0
    assert players.count_documents({}) == 0


# -- native asyncio cancellation during cleanup --------------------------------------------


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_second_native_cancel_during_cleanup_still_ends_the_session(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymongo.client_session import ClientSession

    aborting = asyncio.Event()
    proceed = asyncio.Event()
    real_abort = ClientSession.abort_transaction
    loop = asyncio.get_running_loop()

    def slow_abort(self: ClientSession) -> None:
        loop.call_soon_threadsafe(aborting.set)
        time.sleep(0.3)
        real_abort(self)

    monkeypatch.setattr(ClientSession, "abort_transaction", slow_abort)
    holder: dict[str, Any] = {}

    async def block() -> None:
        async with anyodm_engine.transaction() as tx:
            holder["tx"] = tx
            holder["driver"] = tx.get_driver_session()
            await tx.save(Player(name="a", game="g"))
            proceed.set()
            await asyncio.sleep(10)

    task = asyncio.ensure_future(block())
    await proceed.wait()
    task.cancel()
    await aborting.wait()
    task.cancel()  # a second cancel while the abort runs
    with pytest.raises(asyncio.CancelledError):
        await task
    assert holder["tx"].phase is TransactionPhase.ABORTED
    assert holder["driver"].has_ended
    assert players.count_documents({}) == 0
    assert_engine_idle(anyodm_engine)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_taskgroup_sibling_failure_aborts(
    anyodm_engine: Engine, players: Any
) -> None:
    if not hasattr(asyncio, "TaskGroup"):
        pytest.skip("asyncio.TaskGroup needs Python 3.11")
    holder: dict[str, Any] = {}

    async def block() -> None:
        async with anyodm_engine.transaction() as tx:
            holder["tx"] = tx
            await tx.save(Player(name="a", game="g"))
            await asyncio.sleep(10)

    async def failing() -> None:
        await asyncio.sleep(0.1)
        raise ValueError("sibling")

    with pytest.raises(BaseExceptionGroup):  # noqa: F821 - 3.11+
        async with asyncio.TaskGroup() as group:
            group.create_task(block())
            group.create_task(failing())
    assert holder["tx"].phase is TransactionPhase.ABORTED
    assert players.count_documents({}) == 0
    assert_engine_idle(anyodm_engine)


# -- a raw ClientSession takes turns ------------------------------------------------------


async def test_a_raw_client_session_is_never_used_by_two_threads(
    anyodm_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = SessionUseProbe(monkeypatch, dwell=0.02)
    raw = anyodm_engine.client.start_session()

    async def save(i: int) -> None:
        await anyodm_engine.save(Player(name=f"p{i}", game="g"), session=raw)

    async def count() -> None:
        await anyodm_engine.count(Player, session=raw)

    try:
        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(save, i)
                tg.start_soon(count)
    finally:
        raw.end_session()
    assert probe.calls >= 12
    assert probe.overlaps == 0


async def test_a_session_ending_while_its_operations_run_never_shares_the_driver_session(
    anyodm_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = SessionUseProbe(monkeypatch, dwell=0.02)
    session = anyodm_engine.session()
    await session.start()
    errors: list[BaseException] = []

    async def use() -> None:
        try:
            await session.save(Player(name="x", game="g"))
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(use)
        await anyio.sleep(0.03)
        await session.end()
    assert probe.overlaps == 0
    assert all(type(e).__name__ == "SessionStateError" for e in errors)


# -- one engine, any event loop ------------------------------------------------------------


def test_one_engine_serves_asyncio_then_trio(mongo_client: Any, mongo_database: Any) -> None:
    engine = Engine(client=mongo_client, database=mongo_database.name, max_threads=2)

    async def use(name: str) -> int:
        async with engine.transaction() as tx:
            await tx.save(Player(name=name, game="g"))
        return await engine.count(Player)

    assert asyncio.run(use("on asyncio")) == 1
    assert trio.run(use, "on trio") == 2
    assert anyio.run(use, "on asyncio again", backend="asyncio") == 3
    assert engine.thread_limiter.borrowed_tokens == 0


def test_trio_guest_mode_on_asyncio(mongo_client: Any, mongo_database: Any) -> None:
    """trio in guest mode runs inside asyncio's loop: the backend is trio (sniffio)."""
    engine = Engine(client=mongo_client, database=mongo_database.name)

    async def save_in(tx: Any) -> None:
        await tx.save(Player(name="guest", game="g"))

    async def trio_main() -> int:
        async with engine.session() as session:  # a session, then a transaction in it
            await session.with_transaction(save_in)
        with anyio.fail_after(10):
            return await engine.count(Player)

    async def asyncio_host() -> int:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        trio.lowlevel.start_guest_run(
            trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=lambda outcome: loop.call_soon_threadsafe(done.set_result, outcome),
            host_uses_signal_set_wakeup_fd=True,
        )
        # The asyncio host uses the same engine meanwhile.
        await engine.save(Player(name="host", game="g"))
        outcome = await done
        result: int = outcome.unwrap()
        return result

    assert asyncio.run(asyncio_host()) in (1, 2)
    assert engine.get_collection(Player).count_documents({}) == 2
    assert engine.thread_limiter.borrowed_tokens == 0
