"""Seeded random cancellation of transactions: all or nothing, every time.

Each trial runs a transaction of several writes while one random interruption hits at a
random moment — a timer cancelling the scope, a failing sibling task, an anyio deadline,
and on asyncio also ``task.cancel()``, ``asyncio.timeout`` and an ``asyncio.TaskGroup``
sibling — sometimes while a write is blocked on the server.  Trials vary the engine's
``max_threads`` (1-3, so that cleanup meets busy slots while a background task keeps
ordinary slots busy), run the writes in a block or through ``with_transaction`` (with a
competing commit forcing retries), save instances created before the transaction, and
let a second task mutate an instance while it is being saved.  After every trial:

* the trial's writes are all visible or none are;
* all are visible only if the transaction committed;
* the session has ended, no worker thread is busy;
* the trial ended within its deadline plus the engine's cleanup bound;
* every instance's saved state matches the database: saving it again afterwards stores
  exactly the instance (S8).

The seed is printed on failure; rerun one trial with ``ANYODM_TORTURE_SEED=<seed>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import zlib
from typing import Any

import anyio
import pymongo
import pytest
import sniffio
from pymongo.errors import PyMongoError

from anyodm import Engine, TransactionPhase
from anyodm.testing import FailPoint
from tests.sessions.models import Ledger

TRIALS = int(os.environ.get("ANYODM_TORTURE_TRIALS", "200"))
WRITES = 4
CLEANUP_BOUND = 2.0


class SiblingFailed(Exception):
    pass


async def _run_trial(
    engine: Engine, client: pymongo.MongoClient[Any], trial: int, rng: random.Random
) -> None:
    kinds = ["timer", "sibling", "deadline", "none"]
    if sniffio.current_async_library() == "asyncio":
        kinds += ["task_cancel"]
        if sys.version_info >= (3, 11):
            kinds += ["asyncio_timeout"]
        if sys.version_info >= (3, 12):
            # 3.11's TaskGroup leaves its cancellation request on the parent task when
            # it arrives during the group's exit (fixed in CPython 3.12, gh-116720),
            # which then confuses every enclosing cancel scope, anyodm or not.
            kinds += ["asyncio_taskgroup"]
    kind = rng.choice(kinds)
    delay = rng.uniform(0.0, 0.06)
    block = rng.random() < 0.2
    block_step = rng.randrange(WRITES)
    retrying = rng.random() < 0.3  # with_transaction, with a competing commit
    busy = rng.random() < 0.3  # a background task keeps ordinary slots busy
    mutate = rng.random() < 0.2  # a second task changes an instance during the saves
    fail_point = None
    exited_normally = False
    committed_by_helper = False
    records = [Ledger(trial=trial, step=step) for step in range(WRITES)]
    tx = engine.transaction()
    driver = None
    started = anyio.current_time()

    async def body() -> None:
        nonlocal exited_normally, driver, fail_point
        try:
            await (with_transaction() if retrying else transaction())
        except PyMongoError as exc:
            # The embedded server fails a blocked command once the block ends (MongoDB
            # runs it): an error that aborts the transaction, as an exception would.
            # with_transaction gives up on a write conflict when the deadline leaves no
            # time to retry.
            if not block and not (retrying and exc.has_error_label("TransientTransactionError")):
                raise

    async def writes(t: Any) -> None:
        nonlocal fail_point
        for step, record in enumerate(records):
            if block and step == block_step and fail_point is None:
                fail_point = FailPoint(
                    client,
                    {"times": 1},
                    {"failCommands": ["insert"], "blockConnection": True, "blockTimeMS": 150},
                ).enable()
            await t.save(record)

    async def transaction() -> None:
        nonlocal exited_normally, driver
        async with tx:
            driver = tx.get_driver_session()
            await writes(tx)
        exited_normally = True

    async def with_transaction() -> None:
        nonlocal exited_normally, committed_by_helper

        async def callback(t: Any) -> None:
            await writes(t)
            competing.set()
            await anyio.sleep(0)

        await engine.with_transaction(callback)
        exited_normally = committed_by_helper = True

    competing = anyio.Event()

    async def competitor() -> None:
        # Another transaction commits while the trial's is open: on the embedded server
        # the trial's commit then conflicts and with_transaction retries it.
        async def other(t: Any) -> None:
            await t.save(Ledger(trial=-1, step=trial))

        with anyio.move_on_after(1), contextlib.suppress(PyMongoError):
            await competing.wait()
            await engine.with_transaction(other)

    async def background() -> None:
        while True:
            await engine.count(Ledger, Ledger.trial == -2)

    async def mutator() -> None:
        await anyio.sleep(delay / 2)
        records[0].step = 100 + records[0].step

    async def interrupted() -> None:
        if kind == "timer":
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:

                    async def timer() -> None:
                        await anyio.sleep(delay)
                        scope.cancel()

                    tg.start_soon(timer)
                    await body()
                    tg.cancel_scope.cancel()
        elif kind == "sibling":
            try:
                async with anyio.create_task_group() as tg:

                    async def sibling() -> None:
                        await anyio.sleep(delay)
                        raise SiblingFailed

                    tg.start_soon(sibling)
                    await body()
            except BaseException as exc:
                if not _only(exc, SiblingFailed):
                    raise
        elif kind == "deadline":
            with anyio.move_on_after(delay):
                await body()
        elif kind == "task_cancel":
            task = asyncio.ensure_future(body())
            asyncio.get_running_loop().call_later(delay, task.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elif kind == "asyncio_timeout":
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # type: ignore[attr-defined]
                    await body()
        elif kind == "asyncio_taskgroup":
            try:
                async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]

                    async def native_sibling() -> None:
                        await asyncio.sleep(delay)
                        raise SiblingFailed

                    group.create_task(native_sibling())
                    await body()
            except BaseException as exc:
                if not _only(exc, SiblingFailed):
                    raise
        else:
            await body()

    try:
        async with anyio.create_task_group() as helpers:
            if retrying:
                helpers.start_soon(competitor)
            if busy:
                helpers.start_soon(background)
            if mutate:
                helpers.start_soon(mutator)
            await interrupted()
            helpers.cancel_scope.cancel()
    finally:
        if fail_point is not None:
            fail_point.disable()

    elapsed = anyio.current_time() - started
    ledger = client[engine.database_name][Ledger.__anyodm__.collection]
    visible = ledger.count_documents({"trial": trial})
    phase = "with_transaction" if retrying else tx.phase
    context = (
        f"trial {trial}: {kind=} {delay=:.3f} {block=} {block_step=} {retrying=} {busy=} "
        f"{mutate=} threads={engine.thread_limiter.total_tokens} {phase=}"
    )
    assert visible in (0, WRITES), f"partial transaction visible ({visible}); {context}"
    if visible == WRITES and not retrying:
        assert tx.phase is TransactionPhase.COMMITTED, context
    if exited_normally:
        assert visible == WRITES, context
    if kind == "none" and not block:
        assert exited_normally, context
    assert driver is None or driver.has_ended, f"session left open; {context}"
    assert engine.thread_limiter.borrowed_tokens == 0, f"worker thread left busy; {context}"
    limit = delay + 0.15 * WRITES + CLEANUP_BOUND + (2.5 if retrying or busy else 0)
    assert elapsed < limit, f"took {elapsed:.2f}s; {context}"
    # S8: saving every instance again stores exactly the instance.
    await engine.save_all(records)
    for record in records:
        assert ledger.find_one({"_id": record.id}) == record.model_dump_doc(), context


def _only(exc: BaseException, kind: type[BaseException]) -> bool:
    if isinstance(exc, kind):
        return True
    inner = getattr(exc, "exceptions", None)
    return bool(inner) and all(_only(e, kind) for e in inner)


@pytest.mark.timeout(300)
async def test_random_cancellations_never_leave_a_partial_transaction(
    mongo_client: Any, mongo_database: Any, anyio_backend: str
) -> None:
    def engine_for(rng: random.Random) -> Engine:
        return Engine(
            client=mongo_client,
            database=mongo_database.name,
            cleanup_timeout=CLEANUP_BOUND,
            max_threads=rng.choice([1, 2, 3, None]),
        )

    seed_env = os.environ.get("ANYODM_TORTURE_SEED")
    seeds = (
        [int(seed_env)]
        if seed_env
        else [zlib.crc32(f"{anyio_backend}-{i}".encode()) for i in range(TRIALS)]
    )
    for trial, seed in enumerate(seeds):
        rng = random.Random(seed)
        try:
            await _run_trial(engine_for(rng), mongo_client, trial, rng)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}: {exc}") from None
