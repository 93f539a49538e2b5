"""Seeded random cancellation of transactions: all or nothing, every time.

Each trial runs a transaction of several writes while one random interruption hits at a
random moment — a timer cancelling the scope, a failing sibling task, an anyio deadline —
sometimes while a write is blocked on the server.  After every trial:

* the trial's writes are all visible or none are;
* all are visible only if the block exited normally;
* the session has ended, no worker thread is busy, no cursor is open;
* the trial ended within its deadline plus the engine's cleanup bound.

The seed is printed on failure; rerun one trial with ``ANYODM_TORTURE_SEED=<seed>``.
"""

from __future__ import annotations

import os
import random
import zlib
from typing import Any

import anyio
import pymongo
import pytest
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
    kind = rng.choice(["timer", "sibling", "deadline", "none"])
    delay = rng.uniform(0.0, 0.06)
    block = rng.random() < 0.25
    block_step = rng.randrange(WRITES)
    fail_point = None
    exited_normally = False
    tx = engine.transaction()
    driver = None
    started = anyio.current_time()

    async def body() -> None:
        nonlocal exited_normally, driver, fail_point
        try:
            await transaction()
        except PyMongoError:
            # The embedded server fails a blocked command once the block ends (MongoDB
            # runs it): an error that aborts the transaction, as an exception would.
            if not block:
                raise

    async def transaction() -> None:
        nonlocal exited_normally, driver, fail_point
        async with tx:
            driver = tx.get_driver_session()
            for step in range(WRITES):
                if block and step == block_step:
                    fail_point = FailPoint(
                        client,
                        {"times": 1},
                        {"failCommands": ["insert"], "blockConnection": True, "blockTimeMS": 150},
                    ).enable()
                await tx.save(Ledger(trial=trial, step=step))
        exited_normally = True

    try:
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
        else:
            await body()
    finally:
        if fail_point is not None:
            fail_point.disable()

    elapsed = anyio.current_time() - started
    visible = client[engine.database_name][Ledger.__anyodm__.collection].count_documents(
        {"trial": trial}
    )
    context = f"trial {trial}: {kind=} {delay=:.3f} {block=} {block_step=} {tx.phase=}"
    assert visible in (0, WRITES), f"partial transaction visible ({visible}); {context}"
    if visible == WRITES:
        assert exited_normally or tx.phase is TransactionPhase.COMMITTED, context
        assert tx.phase is TransactionPhase.COMMITTED, context
    if exited_normally:
        assert visible == WRITES, context
    if kind == "none" and not block:
        assert exited_normally, context
    assert driver is None or driver.has_ended, f"session left open; {context}"
    assert engine.thread_limiter.borrowed_tokens == 0, f"worker thread left busy; {context}"
    assert elapsed < delay + 0.15 * WRITES + CLEANUP_BOUND, f"took {elapsed:.2f}s; {context}"


def _only(exc: BaseException, kind: type[BaseException]) -> bool:
    if isinstance(exc, kind):
        return True
    inner = getattr(exc, "exceptions", None)
    return bool(inner) and all(_only(e, kind) for e in inner)


@pytest.mark.timeout(300)
async def test_random_cancellations_never_leave_a_partial_transaction(
    mongo_client: Any, mongo_database: Any, anyio_backend: str
) -> None:
    engine = Engine(
        client=mongo_client, database=mongo_database.name, cleanup_timeout=CLEANUP_BOUND
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
            await _run_trial(engine, mongo_client, trial, rng)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}: {exc}") from None
