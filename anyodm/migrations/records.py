"""The ``migrations`` collection: what ran, when, how far a running migration has got, and
who holds its lock.  Synchronous functions over PyMongo, run by both engines.

One document per migration, keyed by its name::

    {"_id": "0001_rename_title", "collection": "books",
     "state": "applying" | "applied" | "reverting" | "reverted",
     "after": <the _id of the last document migrated>,   # absent before the first batch
     "processed": 1500, "batches": 3,                      # of the current / last run
     "started_at": ..., "updated_at": ..., "applied_at": ..., "reverted_at": ...,
     "lock": {"owner": "host:pid:abcd", "acquired_at": ..., "expires_at": ...} | None,
     "last_error": None | "ConnectionFailure: ..."}

A batch's writes and the update of ``after``/``processed``/``batches`` commit in one
transaction; that update is conditional on the lock's owner and on ``batches`` (the
batch number the runner read), so a batch is never applied twice: a retry of a committed
batch, or a second runner, matches nothing and aborts.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from anyodm.migrations.errors import MigrationLockLostError

if TYPE_CHECKING:
    from pymongo.client_session import ClientSession
    from pymongo.database import Database

    from anyodm.migrations.definition import Direction, Migration

__all__ = [
    "DEFAULT_RECORDS",
    "BatchOutcome",
    "LockAttempt",
    "RunState",
    "new_owner",
]

#: The collection that records migrations unless told otherwise.
DEFAULT_RECORDS = "migrations"

Record = dict[str, Any]


def new_owner() -> str:
    """A lock owner id naming this process (host and pid) and this run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class RunState:
    """Where a run of one migration stands (updated only after a batch committed)."""

    database: Database[Any]
    records: str
    migration: Migration
    direction: Direction
    owner: str
    lease: float
    after: Any = None
    has_after: bool = False
    processed: int = 0
    batches: int = 0
    #: whether this run holds the lock (the front releases it if the run stops early)
    locked: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.migration.name

    def records_collection(self) -> Any:
        return self.database[self.records]

    def document_filter(self) -> dict[str, Any]:
        """The documents still to migrate: the migration's filter, past the checkpoint."""
        base = self.migration.filter_for(self.direction)
        if not self.has_after:
            return base
        after = {"_id": {"$gt": self.after}}
        return {"$and": [base, after]} if base else after

    def resume_from(self, record: Mapping[str, Any]) -> None:
        self.has_after = "after" in record
        self.after = record.get("after")
        self.processed = int(record.get("processed", 0))
        self.batches = int(record.get("batches", 0))


@dataclass(frozen=True)
class LockAttempt:
    acquired: bool
    record: Record


@dataclass(frozen=True)
class BatchOutcome:
    """One committed batch: how many documents, the last ``_id``, whether it was the last."""

    count: int
    last_id: Any
    done: bool
    batches: int = 1


def read_records(database: Database[Any], records: str) -> dict[str, Record]:
    return {doc["_id"]: doc for doc in database[records].find({}, sort=[("_id", 1)])}


def try_lock(state: RunState, session: ClientSession | None = None) -> LockAttempt:
    """Take the migration's lock if nobody holds it or its holder's lease expired."""
    now = _now()
    lock = {"owner": state.owner, "acquired_at": now, "expires_at": now + _lease(state)}
    free = {"$or": [{"lock": None}, {"lock.expires_at": {"$lt": now}}]}
    # Maybe held from here on: a call cut short by a deadline may have taken the lock on
    # the server without this process learning it, so the run gives it back whatever
    # happens (a release matches only this run's own lock).
    state.locked = True
    try:
        record = state.records_collection().find_one_and_update(
            {"_id": state.name, **free},
            {"$set": {"lock": lock}, "$setOnInsert": {"collection": state.migration.collection}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
    except DuplicateKeyError:
        held = state.records_collection().find_one({"_id": state.name}, session=session)
        if held is None:  # released between the two calls: try again at once
            return try_lock(state, session)
        state.locked = False
        return LockAttempt(False, held)
    return LockAttempt(True, record)


def begin(state: RunState, session: ClientSession | None = None) -> None:
    """Start a fresh run in ``state.direction`` (the lock is held)."""
    now = _now()
    running = "applying" if state.direction == "up" else "reverting"
    result = state.records_collection().update_one(
        {"_id": state.name, "lock.owner": state.owner},
        {
            "$set": {
                "state": running,
                "processed": 0,
                "batches": 0,
                "started_at": now,
                "updated_at": now,
                "last_error": None,
                "lock.expires_at": now + _lease(state),
            },
            "$unset": {"after": ""},
        },
        session=session,
    )
    _require_matched(state, result.matched_count)
    state.has_after, state.after, state.processed, state.batches = False, None, 0, 0


def count_remaining(state: RunState, session: ClientSession | None = None) -> int:
    """The documents still to migrate, for progress displays only (the run never relies
    on it): the collection's estimated size when a server refuses the exact count."""
    coll = state.database[state.migration.collection]
    try:
        return int(coll.count_documents(state.document_filter(), session=session))
    except OperationFailure:
        return max(int(coll.estimated_document_count()) - state.processed, 0)


def read_batch(state: RunState, session: ClientSession | None) -> list[dict[str, Any]]:
    coll = state.database[state.migration.collection]
    return list(
        coll.find(
            state.document_filter(),
            sort=[("_id", 1)],
            limit=state.migration.batch_size,
            session=session,
        )
    )


def run_batch(state: RunState, session: ClientSession) -> BatchOutcome:
    """Migrate the next batch and move the checkpoint past it, in ``session``'s transaction.

    The last batch (fewer documents than ``batch_size``) also marks the migration done and
    releases the lock, in the same transaction.
    """
    docs = read_batch(state, session)
    migration = state.migration
    migration.apply(state.direction, state.database[migration.collection], docs, session)
    done = len(docs) < migration.batch_size
    now = _now()
    update: dict[str, Any] = {
        "$set": {"updated_at": now},
        "$inc": {"processed": len(docs), "batches": 1},
    }
    if docs:
        update["$set"]["after"] = docs[-1]["_id"]
    if done:
        finished = "applied" if state.direction == "up" else "reverted"
        update["$set"].update({"state": finished, f"{finished}_at": now, "lock": None})
    else:
        update["$set"]["lock.expires_at"] = now + _lease(state)
    result = state.records_collection().update_one(
        {"_id": state.name, "lock.owner": state.owner, "batches": state.batches},
        update,
        session=session,
    )
    _require_matched(state, result.matched_count)
    return BatchOutcome(len(docs), docs[-1]["_id"] if docs else state.after, done)


def run_all(state: RunState, session: ClientSession) -> BatchOutcome:
    """Every batch in one transaction (``single_transaction=True``)."""
    start_processed, start_batches = state.processed, state.batches
    start_after, start_has_after = state.after, state.has_after
    count = batches = 0
    try:
        while True:
            outcome = run_batch(state, session)
            count += outcome.count
            batches += 1
            state.processed += outcome.count
            state.batches += 1
            if outcome.count:
                state.after, state.has_after = outcome.last_id, True
            if outcome.done:
                return BatchOutcome(count, outcome.last_id, True, batches)
    finally:
        # The caller advances the state once the transaction committed.
        state.processed, state.batches = start_processed, start_batches
        state.after, state.has_after = start_after, start_has_after


def dry_batch(state: RunState, session: ClientSession | None = None) -> BatchOutcome:
    """Read and convert the next batch without writing anything; record failures."""
    docs = read_batch(state, session)
    for doc in docs:
        try:
            state.migration.check(state.direction, doc)
        except Exception as exc:
            if len(state.failures) < 20:
                state.failures.append(str(exc))
    return BatchOutcome(len(docs), docs[-1]["_id"] if docs else state.after, len(docs) == 0)


def release(state: RunState, error: str | None, session: ClientSession | None = None) -> None:
    """Give the lock back (if this run still holds it), noting why the run stopped."""
    state.records_collection().update_one(
        {"_id": state.name, "lock.owner": state.owner},
        {"$set": {"lock": None, "last_error": error}},
        session=session,
    )
    state.locked = False


def _lease(state: RunState) -> timedelta:
    return timedelta(seconds=state.lease)


def _require_matched(state: RunState, matched: int) -> None:
    if matched != 1:
        raise MigrationLockLostError(
            f"migration {state.name!r}: this process ({state.owner}) lost the lock (its "
            f"lease of {state.lease:g}s ran out and another process took it); nothing of "
            "the batch in flight was committed"
        )
