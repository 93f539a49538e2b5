"""Adversarial review (s3) of the open thread limiter, the crossing without a leading
checkpoint, the slot fast paths and the update-spec fast paths (2fc5df3, 4d93c27).

No attack here broke the change: every test passed on the reviewed code (and on the code
before it).  They are kept as guards for contract points the other suites do not pin
down this way: a call shielded inside a cancelled scope runs, a native cancel pending
before the call sends nothing, concurrent driver calls never exceed ``max_threads``
under mixed cancellations (anyio deadlines, native cancels, ``asyncio.timeout``,
``TaskGroup``), trio guest mode and several event loops at once share the slots, the
program's own thread limiters are untouched, and single-operation updates keep to the
model family's rules.
"""

from __future__ import annotations

import asyncio
import functools
import random
import threading
from typing import Any

import anyio
import pytest
import trio
from pymongo.collection import Collection

from anyodm import Engine, update
from anyodm.errors import InvalidFieldError
from tests.references.family import Car, SportsCar, Vehicle
from tests.sessions.conftest import assert_engine_idle
from tests.sessions.models import Player
from tests.sessions.probes import HeldCalls


@pytest.fixture
def players(anyodm_engine: Engine) -> Any:
    return anyodm_engine.get_collection(Player)


def small_engine(mongo_client: Any, mongo_database: Any, **options: Any) -> Engine:
    return Engine(client=mongo_client, database=mongo_database.name, **options)


class Concurrency:
    """Counts the driver calls inside Collection.count_documents at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls = 0
        real = Collection.count_documents
        gate = threading.Event()

        @functools.wraps(real)
        def probed(collection: Any, *args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.running += 1
                self.calls += 1
                self.most = max(self.most, self.running)
            try:
                gate.wait(0.005)  # widen the window (never set)
                return real(collection, *args, **kwargs)
            finally:
                with self.lock:
                    self.running -= 1

        monkeypatch.setattr(Collection, "count_documents", probed)


async def test_a_call_shielded_inside_a_cancelled_scope_runs(
    anyodm_engine: Engine, players: Any
) -> None:
    with anyio.CancelScope() as outer:
        outer.cancel()
        with anyio.CancelScope(shield=True):
            await anyodm_engine.save(Player(name="shielded", game="g"))
            n = await anyodm_engine.count(Player)
    assert n == 1
    with anyio.move_on_after(0):
        with anyio.CancelScope(shield=True):
            await anyodm_engine.save(Player(name="shielded2", game="g"))
    with anyio.move_on_after(-5):
        with anyio.move_on_after(30, shield=True):
            await anyodm_engine.save(Player(name="shielded3", game="g"))
    assert players.count_documents({}) == 3
    assert_engine_idle(anyodm_engine)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_native_cancel_pending_before_the_call(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(asyncio.Task, "uncancel"):
        pytest.skip("Task.uncancel() needs Python 3.11")
    held = HeldCalls(monkeypatch, "insert_one")
    held.release()
    task = asyncio.current_task()
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await anyodm_engine.save(Player(name="never", game="g"))
    task.uncancel()
    assert held.calls == 0
    assert players.count_documents({}) == 0
    assert_engine_idle(anyodm_engine)


async def test_many_tasks_with_cancels_never_exceed_max_threads(
    mongo_client: Any, mongo_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = small_engine(mongo_client, mongo_database, max_threads=3)
    probe = Concurrency(monkeypatch)
    rng = random.Random(7)

    async def one(i: int) -> None:
        with anyio.move_on_after(rng.choice([0, 0.001, 0.003, 0.01, 1, 10])):
            if i % 4 == 0:
                with anyio.CancelScope() as s:
                    s.cancel()
                    with anyio.CancelScope(shield=True):
                        await engine.count(Player)
            else:
                await engine.count(Player)

    for _ in range(3):
        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(one, i)
    assert probe.most <= 3
    assert probe.calls >= 30  # the shielded calls (one in four) always run
    assert_engine_idle(engine)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_many_native_cancels_never_exceed_max_threads(
    mongo_client: Any, mongo_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(asyncio, "timeout"):
        pytest.skip("asyncio.timeout needs Python 3.11")
    engine = small_engine(mongo_client, mongo_database, max_threads=1)
    probe = Concurrency(monkeypatch)
    for round_ in range(5):
        tasks = [asyncio.ensure_future(engine.count(Player)) for _ in range(30)]
        for step, task in enumerate(tasks):
            if step % 2:
                task.cancel()
            if step % 3 == 0:
                await asyncio.sleep(0)
        await asyncio.gather(*tasks, return_exceptions=True)
        late = [asyncio.ensure_future(engine.count(Player)) for _ in range(10)]
        try:  # usually expires mid-way; a fast machine may finish first
            async with asyncio.timeout(0.002 * round_):
                await asyncio.gather(*late)
        except TimeoutError:
            pass
        await asyncio.wait(late)  # gather does not wait for its children once cancelled
    assert probe.most <= 1
    assert_engine_idle(engine)


def test_two_event_loops_at_once_share_the_engine(
    mongo_client: Any, mongo_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = small_engine(mongo_client, mongo_database, max_threads=1)
    probe = Concurrency(monkeypatch)
    errors: list[BaseException] = []

    async def work() -> None:
        for _ in range(30):
            await engine.count(Player)

    def in_thread(runner: Any) -> None:
        try:
            runner()
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=in_thread, args=(lambda: asyncio.run(work()),)),
        threading.Thread(target=in_thread, args=(lambda: trio.run(work),)),
        threading.Thread(target=in_thread, args=(lambda: asyncio.run(work()),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert probe.most <= 1
    assert probe.calls == 90
    assert engine.thread_limiter.borrowed_tokens == 0


async def test_programs_own_limiters_are_untouched(anyodm_engine: Engine) -> None:
    default = anyio.to_thread.current_default_thread_limiter()
    mine = anyio.CapacityLimiter(1)
    before = default.statistics()
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(anyodm_engine.count, Player)
        await anyio.to_thread.run_sync(lambda: None, limiter=mine)
    assert default.statistics() == before
    assert mine.statistics().borrowed_tokens == 0


def test_trio_guest_mode_with_one_thread_and_cancels(
    mongo_client: Any, mongo_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = small_engine(mongo_client, mongo_database, max_threads=1)
    probe = Concurrency(monkeypatch)

    async def trio_main() -> None:
        async with trio.open_nursery() as n:
            for i in range(20):

                async def one(i: int = i) -> None:
                    with trio.move_on_after(0.001 * (i % 5)):
                        await engine.count(Player)

                n.start_soon(one)

    async def host() -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        trio.lowlevel.start_guest_run(
            trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=lambda outcome: loop.call_soon_threadsafe(done.set_result, outcome),
            host_uses_signal_set_wakeup_fd=True,
        )
        tasks = [asyncio.ensure_future(engine.count(Player)) for _ in range(20)]
        for t in tasks[::2]:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        (await done).unwrap()

    asyncio.run(host())
    assert probe.most <= 1
    assert engine.thread_limiter.borrowed_tokens == 0


async def test_polymorphic_updates(anyodm_engine: Engine) -> None:
    car = await anyodm_engine.save(Car(name="c"))
    r = await anyodm_engine.update_one(Car, Car.id == car.id, update=update.set(Vehicle.name, "x"))
    assert r.modified == 1
    r = await anyodm_engine.update_one(Car, Car.id == car.id, update=update.set(Car.name, "y"))
    assert r.modified == 1
    r = await anyodm_engine.update_one(
        Vehicle, Vehicle.id == car.id, update=update.set(Vehicle.name, "z")
    )
    assert r.modified == 1
    with pytest.raises(InvalidFieldError):
        await anyodm_engine.update_one(Vehicle, update=update.set(Car.doors, 2))
    with pytest.raises(InvalidFieldError):
        await anyodm_engine.update_one(Car, update=update.set(SportsCar.top_speed, 2))
    with pytest.raises((InvalidFieldError, TypeError)):
        await anyodm_engine.update_one(
            Car, update=[update.set(Car.name, "a"), update.set(Vehicle.name, "b")]
        )
    got = await anyodm_engine.find_one(Vehicle, Vehicle.id == car.id)
    assert isinstance(got, Car)
    assert got.name == "z"


class Inside:
    """Counts the driver calls of Collection.insert_one running right now."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.calls = 0
        real = Collection.insert_one
        gate = threading.Event()

        @functools.wraps(real)
        def probed(collection: Any, *args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.running += 1
                self.calls += 1
            try:
                gate.wait(0.003)  # widen the window (never set)
                return real(collection, *args, **kwargs)
            finally:
                with self.lock:
                    self.running -= 1

        monkeypatch.setattr(Collection, "insert_one", probed)


async def test_no_thread_outlives_its_cancelled_caller(
    mongo_client: Any, mongo_database: Any, monkeypatch: pytest.MonkeyPatch, anyio_backend: str
) -> None:
    engine = small_engine(mongo_client, mongo_database, max_threads=1)
    probe = Inside(monkeypatch)
    outlived = 0
    for i in range(60):
        delay = (i % 12) * 0.0005
        if anyio_backend == "asyncio" and i % 3 == 1 and hasattr(asyncio, "timeout"):
            try:
                async with asyncio.timeout(delay):
                    await engine.save(Player(name=f"p{i}", game="g"))
            except TimeoutError:
                pass
        elif anyio_backend == "asyncio" and i % 3 == 2 and hasattr(asyncio, "TaskGroup"):

            async def boom(delay: float = delay) -> None:
                await asyncio.sleep(delay)
                raise KeyError

            with pytest.raises(BaseExceptionGroup):  # noqa: F821 - 3.11+
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(engine.save(Player(name=f"p{i}", game="g")))
                    tg.create_task(boom())
        else:
            with anyio.move_on_after(delay):
                await engine.save(Player(name=f"p{i}", game="g"))
        outlived += probe.running
    assert outlived == 0
    # the driver may stop a call at its deadline: never more stored than was sent
    assert engine.get_collection(Player).count_documents({}) <= probe.calls
    assert_engine_idle(engine)
