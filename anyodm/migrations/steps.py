"""The migration runner, written once: which migrations run, and the steps of each.

A run of one migration is a generator of *steps* (call a core function; call one in a
transaction, retried by MongoDB's rules; sleep), so the logic — taking the lock, waiting
for it, starting or resuming, one transaction per batch, skipping what another process
already did — lives here once.  The engines only carry the steps out: the async one in
worker threads under the caller's scope (``anyodm.migrations.runner``), the sync one
directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from anyodm.migrations import records as rec
from anyodm.migrations.errors import MigrationError, MigrationLockedError

if TYPE_CHECKING:
    from pymongo.client_session import ClientSession

    from anyodm.migrations.definition import Direction, Migration

__all__ = [
    "Call",
    "InTransaction",
    "MigrationReport",
    "MigrationRun",
    "MigrationStatus",
    "Progress",
    "Sleep",
    "plan",
    "run_steps",
    "statuses",
]

#: How often a run waiting for another process's lock checks it again (seconds).
LOCK_POLL = 0.25


@dataclass(frozen=True)
class Call:
    """Run ``func(None)`` (no session, no transaction)."""

    func: Callable[[ClientSession | None], Any]


@dataclass(frozen=True)
class InTransaction:
    """Run ``func(driver_session)`` inside a transaction and commit it, retrying the whole
    transaction on transient errors (MongoDB's rules, as ``with_transaction``)."""

    func: Callable[[ClientSession], Any]


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = Call | InTransaction | Sleep


class Progress(Protocol):
    """What a progress display is told (called from the task running the migration)."""

    def start(self, name: str, direction: str, total: int, done: int) -> None: ...

    def advance(self, name: str, count: int) -> None: ...

    def finish(self, name: str, outcome: str) -> None: ...


class _NoProgress:
    def start(self, name: str, direction: str, total: int, done: int) -> None:
        pass

    def advance(self, name: str, count: int) -> None:
        pass

    def finish(self, name: str, outcome: str) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()


@dataclass
class MigrationRun:
    """What happened to one migration in a run."""

    name: str
    collection: str
    direction: Direction
    #: "applied", "reverted", "skipped" (another process had done it), "dry run"
    outcome: str = ""
    #: documents migrated by this run (a dry run: documents that would be)
    documents: int = 0
    #: documents migrated before this run by an interrupted one it resumed
    resumed_after: int = 0
    batches: int = 0
    seconds: float = 0.0
    #: a dry run: documents that could not be converted (the first 20 messages)
    failures: list[str] = field(default_factory=list)

    def describe(self) -> str:
        verb = {"up": "up  ", "down": "down"}[self.direction]
        line = (
            f"{verb} {self.name:<32} {self.outcome:<9} {self.documents:>9} documents "
            f"in {self.batches} batches, {self.seconds:.2f}s (collection {self.collection!r})"
        )
        if self.resumed_after:
            line += f", resumed after {self.resumed_after} documents"
        for failure in self.failures:
            line += f"\n     cannot convert: {failure}"
        return line


@dataclass
class MigrationReport:
    """What a call of ``migrate`` did (or, with ``dry_run=True``, would do)."""

    direction: Direction
    dry_run: bool
    runs: list[MigrationRun] = field(default_factory=list)

    @property
    def documents(self) -> int:
        return sum(run.documents for run in self.runs)

    def __str__(self) -> str:
        head = "dry run: nothing written; " if self.dry_run else ""
        if not self.runs:
            return f"{head}nothing to migrate {self.direction}"
        lines = [f"{head}{len(self.runs)} migration(s) {self.direction}:"]
        lines += ["  " + run.describe() for run in self.runs]
        return "\n".join(lines)


@dataclass(frozen=True)
class MigrationStatus:
    """One migration as the ``migrations`` collection records it."""

    name: str
    #: "pending", "applying", "applied", "reverting", "reverted"
    state: str
    collection: str | None
    #: known to the given migrations (False: only recorded in the database)
    known: bool
    processed: int = 0
    applied_at: datetime | None = None
    updated_at: datetime | None = None
    locked_by: str | None = None
    lock_expires_at: datetime | None = None
    last_error: str | None = None

    def describe(self) -> str:
        line = f"{self.name:<32} {self.state:<9}"
        if self.state in ("applying", "reverting"):
            line += f" {self.processed} documents so far"
        elif self.applied_at is not None and self.state == "applied":
            line += f" at {self.applied_at:%Y-%m-%d %H:%M:%S} UTC ({self.processed} documents)"
        if self.locked_by:
            line += f"; locked by {self.locked_by} until {self.lock_expires_at} UTC"
        if self.last_error:
            line += f"; last error: {self.last_error}"
        if not self.known:
            line += "; not among the given migrations"
        return line


def statuses(
    migrations: Sequence[Migration], records: Mapping[str, Mapping[str, Any]]
) -> list[MigrationStatus]:
    known = {m.name for m in migrations}
    names = sorted(known | set(records))
    out = []
    for name in names:
        record = records.get(name, {})
        lock = record.get("lock") or {}
        out.append(
            MigrationStatus(
                name=name,
                state=record.get("state", "pending"),
                collection=record.get("collection"),
                known=name in known,
                processed=int(record.get("processed", 0)),
                applied_at=record.get("applied_at"),
                updated_at=record.get("updated_at"),
                locked_by=lock.get("owner"),
                lock_expires_at=lock.get("expires_at"),
                last_error=record.get("last_error"),
            )
        )
    return out


def plan(
    migrations: Sequence[Migration],
    records: Mapping[str, Mapping[str, Any]],
    *,
    to: str | None,
    down: int | None,
) -> tuple[Direction, list[Migration]]:
    """The migrations to run, in order: ``up`` to ``to`` (all when None), or the last
    ``down`` applied ones backward.  Refuses before anything runs."""
    by_name = {m.name: m for m in migrations}
    if down is None:
        chosen = list(migrations)
        if to is not None:
            if to not in by_name:
                raise MigrationError(f"migrate(to={to!r}): no migration of that name")
            chosen = [m for m in chosen if m.name <= to]
        pending = [m for m in chosen if records.get(m.name, {}).get("state") != "applied"]
        return "up", pending
    if isinstance(down, bool) or not isinstance(down, int) or down < 0:
        raise ValueError(f"migrate(down=...) needs a count of migrations >= 0, got {down!r}")
    if to is not None:
        raise ValueError("migrate() takes either to= (up) or down=, not both")
    done = sorted(
        (name for name, r in records.items() if r.get("state") in ("applied", "reverting")),
        reverse=True,
    )[:down]
    chosen = []
    for name in done:
        migration = by_name.get(name)
        if migration is None:
            raise MigrationError(
                f"cannot revert {name!r}: it is recorded as applied but is not among the "
                "given migrations"
            )
        if not migration.reversible:
            raise MigrationError(f"cannot revert {name!r}: it has no backward step")
        chosen.append(migration)
    return "down", chosen


def run_steps(
    state: rec.RunState,
    progress: Progress,
    lock_timeout: float,
    record: Mapping[str, Any] | None,
    dry_run: bool,
) -> Generator[Step, Any, MigrationRun]:
    """The steps of one migration in ``state.direction``; returns what happened.

    ``record`` is the migration's record as read before the run (a dry run starts from
    its checkpoint; a real run reads it again under the lock).
    """
    migration = state.migration
    run = MigrationRun(migration.name, migration.collection, state.direction)
    started = time.monotonic()
    if dry_run:
        running = "applying" if state.direction == "up" else "reverting"
        if record is not None and record.get("state") == running:
            state.resume_from(record)
            run.resumed_after = state.processed
        total = yield Call(partial(rec.count_remaining, state))
        progress.start(run.name, state.direction, total, 0)
        while True:
            outcome: rec.BatchOutcome = yield Call(partial(rec.dry_batch, state))
            run.documents += outcome.count
            run.batches += 1
            state.after, state.has_after = outcome.last_id, state.has_after or bool(outcome.count)
            progress.advance(run.name, outcome.count)
            if outcome.count < migration.batch_size:
                break
        run.outcome, run.failures = "dry run", list(state.failures)
        run.seconds = time.monotonic() - started
        progress.finish(run.name, run.outcome)
        return run

    # The lock: wait for another process's run to end (or its lease to expire).
    give_up_at = time.monotonic() + lock_timeout
    while True:
        attempt: rec.LockAttempt = yield Call(partial(rec.try_lock, state))
        if attempt.acquired:
            break  # try_lock set state.locked
        if time.monotonic() >= give_up_at:
            lock = attempt.record.get("lock") or {}
            raise MigrationLockedError(run.name, lock.get("owner", "?"), lock.get("expires_at"))
        yield Sleep(min(LOCK_POLL, max(give_up_at - time.monotonic(), 0.0)))
    current = attempt.record.get("state")
    running, finished = (
        ("applying", "applied") if state.direction == "up" else ("reverting", "reverted")
    )
    other_running = "reverting" if state.direction == "up" else "applying"
    if current == finished or (state.direction == "down" and current is None):
        # Another process did it while this one waited for the lock.
        yield Call(partial(rec.release, state, None))
        run.outcome, run.seconds = "skipped", time.monotonic() - started
        progress.finish(run.name, run.outcome)
        return run
    if current == other_running:
        verb = "reverting" if state.direction == "up" else "applying"
        raise MigrationError(
            f"migration {run.name!r} was interrupted while {verb}: finish that first "
            f"(migrate {'down' if state.direction == 'up' else 'up'}) before running it "
            f"{state.direction}"
        )
    if current == running:
        state.resume_from(attempt.record)
        run.resumed_after = state.processed
    else:
        yield Call(partial(rec.begin, state))
    remaining = yield Call(partial(rec.count_remaining, state))
    progress.start(run.name, state.direction, remaining + state.processed, state.processed)

    step = rec.run_all if migration.single_transaction else rec.run_batch
    while True:
        outcome = yield InTransaction(partial(step, state))
        # Committed: only now does the run move past the batch.
        state.processed += outcome.count
        state.batches += outcome.batches
        if outcome.count:
            state.after, state.has_after = outcome.last_id, True
        run.documents += outcome.count
        run.batches += outcome.batches
        progress.advance(run.name, outcome.count)
        if outcome.done:
            break
    state.locked = False  # the last batch released it
    run.outcome = finished
    run.seconds = time.monotonic() - started
    progress.finish(run.name, run.outcome)
    return run


def stop_reason(exc: BaseException | None) -> str:
    """What a run that stopped early records as its ``last_error``."""
    if exc is None:
        return "stopped"
    if isinstance(exc, Exception):
        return f"{type(exc).__name__}: {exc}"[:500]
    return f"interrupted ({type(exc).__name__})"
