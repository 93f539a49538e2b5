"""The engines' fronts: carry out the steps of :mod:`anyodm.migrations.steps`.

``migrate_async`` runs each step in a worker thread of the engine under the caller's
scope: cancelling it (or its deadline) stops the migration at once; the batch in flight
is aborted (its transaction is an ``engine.with_transaction``, S4), and the lock is given
back by a shielded, bounded cleanup (S9).  ``migrate_sync`` does the same blocking.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import anyio

from anyodm.aio.cleanup import shielded_cleanup
from anyodm.migrations import records as rec
from anyodm.migrations.loading import MigrationSource, load_migrations
from anyodm.migrations.steps import (
    NO_PROGRESS,
    Call,
    InTransaction,
    MigrationReport,
    MigrationRun,
    MigrationStatus,
    Progress,
    Sleep,
    Step,
    plan,
    run_steps,
    statuses,
    stop_reason,
)

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from pymongo.client_session import ClientSession

    from anyodm.aio.engine import Engine
    from anyodm.aio.session import Transaction
    from anyodm.core.engine import SyncEngine
    from anyodm.core.session import SyncTransaction
    from anyodm.migrations.definition import Direction, Migration

__all__ = ["migrate_async", "migrate_sync", "status_async", "status_sync"]

log: logging.Logger = logging.getLogger("anyodm")

#: Seconds a lock is held without renewal (each batch renews it).
DEFAULT_LOCK_LEASE = 60.0
#: Seconds a run waits for another process's lock (longer than a lease, so a dead
#: holder's lock is taken over).
DEFAULT_LOCK_TIMEOUT = 90.0


def _check_options(lock_lease: float, lock_timeout: float) -> None:
    if not lock_lease > 0:
        raise ValueError(f"lock_lease must be positive, got {lock_lease!r}")
    if not lock_timeout >= 0:
        raise ValueError(f"lock_timeout must be >= 0, got {lock_timeout!r}")


def _state(
    engine: Engine | SyncEngine,
    migration: Migration,
    direction: Direction,
    records: str,
    lock_lease: float,
) -> rec.RunState:
    return rec.RunState(engine.database, records, migration, direction, rec.new_owner(), lock_lease)


# -- async ---------------------------------------------------------------------------------


async def migrate_async(
    engine: Engine,
    source: MigrationSource,
    *,
    to: str | None,
    down: int | None,
    dry_run: bool,
    parallel: bool,
    lock_timeout: float,
    lock_lease: float,
    records: str,
    progress: Progress | None,
) -> MigrationReport:
    _check_options(lock_lease, lock_timeout)
    migrations = load_migrations(source)
    database = engine.database
    found = await engine._run(None, "migrate", lambda d: rec.read_records(database, records))
    direction, chosen = plan(migrations, found, to=to, down=down)
    shown = progress or NO_PROGRESS
    report = MigrationReport(direction, dry_run)

    async def run_one(migration: Migration) -> MigrationRun:
        state = _state(engine, migration, direction, records, lock_lease)
        steps = run_steps(state, shown, lock_timeout, found.get(migration.name), dry_run)
        return await _drive_async(engine, state, steps)

    if not parallel:
        for migration in chosen:
            report.runs.append(await run_one(migration))
        return report
    # One worker per collection (its migrations in order), all in one task group: the
    # first failure cancels the others, whose batches in flight abort.
    lanes: dict[str, list[Migration]] = {}
    for migration in chosen:
        lanes.setdefault(migration.collection, []).append(migration)
    done: dict[str, MigrationRun] = {}

    async def lane(queue: list[Migration]) -> None:
        for migration in queue:
            done[migration.name] = await run_one(migration)

    try:
        async with anyio.create_task_group() as tg:
            for queue in lanes.values():
                tg.start_soon(lane, queue)
    except BaseExceptionGroup as group:
        # One worker failed and the others were cancelled: its error comes out as itself.
        real = [e for e in group.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
        if len(real) == 1:
            raise real[0] from None
        raise
    report.runs = [done[m.name] for m in chosen]
    return report


async def _drive_async(
    engine: Engine, state: rec.RunState, steps: Generator[Step, Any, MigrationRun]
) -> MigrationRun:
    failure: BaseException | None = None
    try:
        value: Any = None
        while True:
            try:
                step = steps.send(value)
            except StopIteration as stop:
                run: MigrationRun = stop.value
                return run
            value = await _execute_async(engine, step)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        steps.close()
        if state.locked:
            reason = stop_reason(failure)
            execute, _ = engine._executor(None, "migrate")

            async def give_back() -> None:
                await execute("migrate", lambda d: rec.release(state, reason), cleanup=True)

            await shielded_cleanup(
                f"releasing the lock of migration {state.name!r}", give_back, engine.cleanup_timeout
            )


async def _execute_async(engine: Engine, step: Step) -> Any:
    if isinstance(step, Call):
        return await engine._run(None, "migrate", step.func)
    if isinstance(step, InTransaction):
        func = step.func

        async def in_transaction(tx: Transaction) -> Any:
            return await tx.run("migrate", func)

        return await engine.with_transaction(in_transaction)
    if isinstance(step, Sleep):
        await anyio.sleep(step.seconds)
        return None
    raise TypeError(f"unknown migration step {step!r}")  # pragma: no cover


async def status_async(
    engine: Engine, source: MigrationSource, records: str
) -> list[MigrationStatus]:
    migrations = load_migrations(source)
    database = engine.database
    found = await engine._run(
        None, "migration_status", lambda d: rec.read_records(database, records)
    )
    return statuses(migrations, found)


# -- sync ----------------------------------------------------------------------------------


def migrate_sync(
    engine: SyncEngine,
    source: MigrationSource,
    *,
    to: str | None,
    down: int | None,
    dry_run: bool,
    lock_timeout: float,
    lock_lease: float,
    records: str,
    progress: Progress | None,
) -> MigrationReport:
    _check_options(lock_lease, lock_timeout)
    migrations = load_migrations(source)
    found = rec.read_records(engine.database, records)
    direction, chosen = plan(migrations, found, to=to, down=down)
    shown = progress or NO_PROGRESS
    report = MigrationReport(direction, dry_run)
    for migration in chosen:
        state = _state(engine, migration, direction, records, lock_lease)
        steps = run_steps(state, shown, lock_timeout, found.get(migration.name), dry_run)
        report.runs.append(_drive_sync(engine, state, steps))
    return report


def _drive_sync(
    engine: SyncEngine, state: rec.RunState, steps: Generator[Step, Any, MigrationRun]
) -> MigrationRun:
    failure: BaseException | None = None
    try:
        value: Any = None
        while True:
            try:
                step = steps.send(value)
            except StopIteration as stop:
                run: MigrationRun = stop.value
                return run
            value = _execute_sync(engine, step)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        steps.close()
        if state.locked:
            try:
                rec.release(state, stop_reason(failure))
            except Exception:
                log.warning(
                    "anyodm: releasing the lock of migration %r failed", state.name, exc_info=True
                )


def _execute_sync(engine: SyncEngine, step: Step) -> Any:
    if isinstance(step, Call):
        return step.func(None)
    if isinstance(step, InTransaction):
        func = step.func

        def in_transaction(tx: SyncTransaction) -> Any:
            driver: ClientSession = tx.driver_session_for("migrate")
            return func(driver)

        return engine.with_transaction(in_transaction)
    if isinstance(step, Sleep):
        time.sleep(step.seconds)
        return None
    raise TypeError(f"unknown migration step {step!r}")  # pragma: no cover


def status_sync(engine: SyncEngine, source: MigrationSource, records: str) -> list[MigrationStatus]:
    return statuses(load_migrations(source), rec.read_records(engine.database, records))
