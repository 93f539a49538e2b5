"""Migrations on the embedded server: up, status, down, dry runs, resuming after
cancellations and failed writes, the lock, several collections under one deadline."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest
from pymongo.database import Database
from pymongo.errors import OperationFailure

from anyodm import Engine, SyncEngine
from anyodm.migrations import (
    DocumentMigration,
    MigrationError,
    MigrationLockedError,
    UpdateMigration,
)
from anyodm.testing.plugin import ArmFailPoint

from .books import (
    BATCH,
    N,
    assert_migrated_once,
    backward,
    by_models,
    counted,
    flagged,
    forward,
    record,
    seed,
)

pytestmark = pytest.mark.embedded_only("fail points and a fresh database per test")


async def test_up_status_down_up(anyodm_engine: Engine, mongo_database: Database[Any]) -> None:
    seed(mongo_database)
    report = await anyodm_engine.migrate([by_models(), flagged()])
    assert [(r.name, r.outcome, r.documents) for r in report.runs] == [
        ("0001_books", "applied", N),
        ("0002_short", "applied", N),
    ]
    assert "0001_books" in str(report)
    assert "applied" in str(report)
    doc = mongo_database.books.find_one({"name": "book 5"})
    assert doc is not None
    assert doc["pages"] == 5
    assert doc["short"] is True
    assert "title" not in doc
    states = await anyodm_engine.migration_status([by_models(), flagged()])
    assert [(s.name, s.state, s.processed, s.locked_by) for s in states] == [
        ("0001_books", "applied", N, None),
        ("0002_short", "applied", N, None),
    ]
    assert (await anyodm_engine.migrate([by_models(), flagged()])).runs == []

    back = await anyodm_engine.migrate([by_models(), flagged()], down=2)
    assert [(r.name, r.outcome) for r in back.runs] == [
        ("0002_short", "reverted"),
        ("0001_books", "reverted"),
    ]
    doc = mongo_database.books.find_one({"title": "book 5"})
    assert doc == {"_id": doc["_id"], "title": "book 5", "pages": "5"}
    assert mongo_database.books.count_documents({"title": {"$exists": True}}) == N
    assert record(mongo_database)["state"] == "reverted"

    again = await anyodm_engine.migrate([by_models(), flagged()], to="0001_books")
    assert [r.name for r in again.runs] == ["0001_books"]
    assert mongo_database.books.count_documents({"name": {"$exists": True}}) == N


async def test_a_dry_run_writes_nothing(
    anyodm_engine: Engine, mongo_database: Database[Any]
) -> None:
    seed(mongo_database)
    mongo_database.books.insert_one({"title": "bad", "pages": "many"})
    before = list(mongo_database.books.find(sort=[("_id", 1)]))
    report = await anyodm_engine.migrate([counted()], dry_run=True)
    [run] = report.runs
    assert run.outcome == "dry run"
    assert run.documents == N + 1
    assert len(run.failures) == 1
    assert "invalid literal for int()" in run.failures[0]
    assert str(report).startswith("dry run: nothing written")
    assert list(mongo_database.books.find(sort=[("_id", 1)])) == before
    assert "migrations" not in mongo_database.list_collection_names()
    with pytest.raises(MigrationError, match=r"_id=.*ValueError"):
        await anyodm_engine.migrate([counted()])
    assert record(mongo_database)["lock"] is None
    assert "ValueError" in record(mongo_database)["last_error"]


async def test_cancelled_at_random_points_resumes_and_migrates_each_document_once(
    anyodm_engine: Engine, mongo_database: Database[Any]
) -> None:
    seed(mongo_database)
    rng = random.Random(1234)
    cancelled = 0
    for attempt in range(500):
        # random points within the first batches; the window widens with each attempt so
        # that a loaded machine (slower batches) still reaches the end
        with anyio.move_on_after(rng.uniform(0.0, 0.04 + 0.002 * attempt)) as scope:
            report = await anyodm_engine.migrate([counted()])
        if not scope.cancelled_caught:
            break
        cancelled += 1
        # The lock was given back at once (a shielded cleanup), the checkpoint stays.
        found = mongo_database.migrations.find_one({"_id": "0001_books"})
        assert found is None or found["lock"] is None
    else:
        pytest.fail("the migration never finished")
    assert cancelled > 3
    assert_migrated_once(mongo_database)
    done = record(mongo_database)
    assert done["state"] == "applied"
    assert done["processed"] == N
    if report.runs:  # the last run resumed where the cancelled ones stopped
        assert report.runs[0].resumed_after + report.runs[0].documents == N


@pytest.mark.parametrize("namespace", ["books", "migrations"])
async def test_a_failed_write_aborts_its_batch_and_the_run_resumes(
    anyodm_engine: Engine,
    mongo_database: Database[Any],
    failpoint: ArmFailPoint,
    namespace: str,
) -> None:
    """A write of the batch, or the checkpoint's (the last write before the commit),
    fails: nothing of the batch is committed; the next run resumes and finishes."""
    seed(mongo_database)
    rng = random.Random(namespace)
    target = f"{mongo_database.name}.{namespace}"
    for _ in range(4):
        at_batch: int = rng.randrange(1, 3)  # of this run's batches (4 runs stay short of N)

        class ArmAt:
            at = at_batch

            def start(self, name: str, direction: str, total: int, done: int) -> None:
                self.batches = 0

            def advance(self, name: str, count: int) -> None:
                self.batches += 1
                if self.batches == self.at:
                    failpoint(["update"], mode={"times": 1}, error_code=2, namespace=target)

            def finish(self, name: str, outcome: str) -> None:
                pass

        with pytest.raises(OperationFailure) as caught:
            await anyodm_engine.migrate([counted()], progress=ArmAt())
        assert caught.value.code == 2
        failed = record(mongo_database)
        assert failed["lock"] is None
        assert failed["state"] == "applying"
        assert "OperationFailure" in failed["last_error"]
        migrated = mongo_database.books.count_documents({"times": 1})
        assert migrated == failed["processed"]  # the checkpoint tells the truth
    report = await anyodm_engine.migrate([counted()])
    assert report.runs[0].resumed_after > 0
    assert_migrated_once(mongo_database)


@pytest.mark.parametrize("code", [112, 6], ids=["write-conflict", "host-unreachable"])
async def test_a_transient_error_retries_the_batch_within_the_run(
    anyodm_engine: Engine, mongo_database: Database[Any], failpoint: ArmFailPoint, code: int
) -> None:
    """A write conflict, or a connection lost inside the transaction (the driver labels
    both TransientTransactionError): the batch is retried whole, within the run."""
    seed(mongo_database)

    class ArmAtStart:  # once the run began: its writes are all in batch transactions
        def start(self, name: str, direction: str, total: int, done: int) -> None:
            failpoint(
                ["update"],
                mode={"times": 3},
                error_code=code,
                error_labels=["TransientTransactionError"],
                namespace=f"{mongo_database.name}.migrations",
            )

        def advance(self, name: str, count: int) -> None:
            pass

        def finish(self, name: str, outcome: str) -> None:
            pass

    report = await anyodm_engine.migrate([counted()], progress=ArmAtStart())
    assert report.runs[0].documents == N
    assert_migrated_once(mongo_database)


async def test_application_writes_during_a_migration_survive(
    anyodm_engine: Engine, mongo_database: Database[Any]
) -> None:
    """Writes that meet a batch in flight conflict with it; the batch is retried, both
    survive, and each document is migrated once."""
    seed(mongo_database)
    migration = UpdateMigration(
        "books", {"$inc": {"times": 1}}, name="0001_books", batch_size=BATCH
    )
    ids = [d["_id"] for d in mongo_database.books.find({}, {"_id": 1})]
    touched = 0

    async def application() -> None:
        nonlocal touched
        coll = anyodm_engine.database.books
        for oid in ids[:: max(N // 60, 1)]:
            await anyio.to_thread.run_sync(
                lambda oid=oid: coll.update_one({"_id": oid}, {"$set": {"seen": True}})
            )
            touched += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(application)
        await anyodm_engine.migrate([migration])
    assert mongo_database.books.count_documents({"times": 1}) == N
    assert mongo_database.books.count_documents({"seen": True}) == touched


async def test_the_lock_keeps_a_second_runner_out_and_expires_when_its_holder_died(
    anyodm_engine: Engine, mongo_database: Database[Any]
) -> None:
    seed(mongo_database, 30)
    now = datetime.now(timezone.utc)
    mongo_database.migrations.insert_one(
        {
            "_id": "0001_books",
            "collection": "books",
            "lock": {"owner": "elsewhere:1:x", "expires_at": now + timedelta(seconds=1)},
        }
    )
    with pytest.raises(MigrationLockedError, match="elsewhere:1:x"):
        await anyodm_engine.migrate([counted()], lock_timeout=0)
    assert mongo_database.books.count_documents({"times": 1}) == 0
    # Waiting longer than the dead holder's lease takes the lock over.
    with anyio.fail_after(10):
        report = await anyodm_engine.migrate([counted()], lock_timeout=5)
    assert report.runs[0].outcome == "applied"
    assert_migrated_once(mongo_database, 30)


async def test_two_runners_at_once_migrate_each_document_once(
    anyodm_engine: Engine, mongo_database: Database[Any]
) -> None:
    seed(mongo_database)
    outcomes: list[str] = []

    async def runner() -> None:
        report = await anyodm_engine.migrate([counted()], lock_timeout=30)
        outcomes.extend(r.outcome for r in report.runs)

    async with anyio.create_task_group() as tg:
        tg.start_soon(runner)
        tg.start_soon(runner)
    assert sorted(outcomes) in (["applied", "skipped"], ["applied"])
    assert_migrated_once(mongo_database)


async def test_collections_in_parallel_under_one_deadline_and_a_failure_cancels_the_rest(
    anyodm_engine: Engine, mongo_database: Database[Any]
) -> None:
    seed(mongo_database, collection="books")
    seed(mongo_database, collection="novels")
    mongo_database.novels.insert_one({"title": "bad", "pages": "many"})  # sorts last
    novels = DocumentMigration("novels", forward, backward, name="0002_novels", batch_size=BATCH)
    with anyio.fail_after(30), pytest.raises(MigrationError, match="0002_novels"):
        await anyodm_engine.migrate([counted(), novels], parallel=True)
    for name in ("0001_books", "0002_novels"):
        found = mongo_database.migrations.find_one({"_id": name})
        assert found is None or found["lock"] is None
    mongo_database.novels.delete_one({"title": "bad"})
    with anyio.fail_after(30):
        report = await anyodm_engine.migrate([counted(), novels], parallel=True)
    assert {r.name for r in report.runs} <= {"0001_books", "0002_novels"}
    assert_migrated_once(mongo_database, collection="books")
    assert_migrated_once(mongo_database, collection="novels")


async def test_a_deadline_stops_the_migration_between_or_inside_batches(
    anyodm_engine: Engine, mongo_database: Database[Any]
) -> None:
    seed(mongo_database)
    with anyio.move_on_after(0.05):
        await anyodm_engine.migrate([counted(batch_size=5)])
    found = record(mongo_database)
    assert found["lock"] is None
    assert found["state"] == "applying"
    assert mongo_database.books.count_documents({"times": 1}) == found["processed"] < N
    await anyodm_engine.migrate([counted(batch_size=5)])
    assert_migrated_once(mongo_database)


async def test_single_transaction_is_all_or_nothing(
    anyodm_engine: Engine, mongo_database: Database[Any]
) -> None:
    seed(mongo_database, 60)
    mongo_database.books.insert_one({"title": "bad", "pages": "many"})
    with pytest.raises(MigrationError):
        await anyodm_engine.migrate([counted(single_transaction=True)])
    assert mongo_database.books.count_documents({"times": 1}) == 0
    mongo_database.books.delete_one({"title": "bad"})
    report = await anyodm_engine.migrate([counted(single_transaction=True)])
    assert report.runs[0].documents == 60
    assert_migrated_once(mongo_database, 60)


def test_sync_engine_up_down_and_status(
    anyodm_sync_engine: SyncEngine, mongo_database: Database[Any]
) -> None:
    seed(mongo_database, 50)
    report = anyodm_sync_engine.migrate([counted()])
    assert report.runs[0].outcome == "applied"
    assert_migrated_once(mongo_database, 50)
    [state] = anyodm_sync_engine.migration_status([counted()])
    assert state.state == "applied"
    assert state.processed == 50
    anyodm_sync_engine.migrate([counted()], down=1)
    assert mongo_database.books.count_documents({"title": {"$exists": True}}) == 50
    dry = anyodm_sync_engine.migrate([counted()], dry_run=True)
    assert dry.runs[0].documents == 50
    assert mongo_database.books.count_documents({"title": {"$exists": True}}) == 50


def test_bad_definitions_and_plans_are_refused_before_anything_runs(
    anyodm_sync_engine: SyncEngine, mongo_database: Database[Any]
) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        counted(batch_size=0)
    with pytest.raises(ValueError, match="pipeline"):
        UpdateMigration("books", [], name="x")
    with pytest.raises(ValueError, match=r"\$-operators"):
        UpdateMigration("books", {"name": 1}, name="x")
    with pytest.raises(MigrationError, match="two migrations are named"):
        anyodm_sync_engine.migrate([counted(), counted()])
    with pytest.raises(MigrationError, match="no migration of that name"):
        anyodm_sync_engine.migrate([counted()], to="nope")
    one_way = UpdateMigration("books", {"$set": {"x": 1}}, name="0001_books")
    seed(mongo_database, 3)
    anyodm_sync_engine.migrate([one_way])
    with pytest.raises(MigrationError, match="no backward step"):
        anyodm_sync_engine.migrate([one_way], down=1)
    with pytest.raises(MigrationError, match="not among the given"):
        anyodm_sync_engine.migrate([], down=1)
    with pytest.raises(MigrationError, match="changed the _id"):
        anyodm_sync_engine.migrate(
            [DocumentMigration("books", lambda d: {"_id": 1}, name="0002_bad")]
        )
