"""``configure_database`` as a start-up: migrations checked (refused, reported or run)
before the indexes are created, bad input refused before anything is sent, and the same
call from many engines at once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from pymongo.database import Database

from anyodm import Engine, PendingMigrationsError, SyncEngine
from anyodm.migrations import MigrationError
from anyodm.testing.plugin import ArmFailPoint
from tests.data_migrations.books import assert_migrated_once, seed

from .models import BOOK_INDEXES, MIGRATION_MODULE, Book, Shelf

FAIL_POINTS = pytest.mark.embedded_only("failCommand on createIndexes")


class AwaitableSyncEngine:
    """``SyncEngine`` with awaitable methods, so one test covers both engines."""

    def __init__(self, engine: SyncEngine) -> None:
        self.sync = engine
        self.database = engine.database

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


@pytest.fixture(params=["async", "sync"])
def engine(
    request: pytest.FixtureRequest, anyodm_engine: Engine, anyodm_sync_engine: SyncEngine
) -> Any:
    if request.param == "async":
        return anyodm_engine
    return AwaitableSyncEngine(anyodm_sync_engine)


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_books.py").write_text(MIGRATION_MODULE)
    return folder


def index_keys(db: Database[Any], collection: str) -> list[tuple[tuple[str, Any], ...]]:
    """Every index's key pattern but _id's, one entry per index."""
    keys = [tuple(spec["key"].items()) for spec in db[collection].list_indexes()]
    return sorted((k for k in keys if k != (("_id", 1),)), key=repr)


def assert_book_indexes_once(db: Database[Any]) -> None:
    keys = index_keys(db, "books")
    assert len(keys) == len(BOOK_INDEXES), keys
    assert set(keys) == BOOK_INDEXES


def state_of(db: Database[Any], name: str = "0001_books") -> str | None:
    record = db.migrations.find_one({"_id": name})
    return None if record is None else record["state"]


# -- pending migrations --------------------------------------------------------------------


async def test_pending_migrations_are_refused_by_default_and_nothing_is_created(
    engine: Any, mongo_database: Database[Any], migrations_dir: Path
) -> None:
    seed(mongo_database, 30)
    with pytest.raises(PendingMigrationsError) as info:
        await engine.configure_database([Book, Shelf], migrations=migrations_dir)
    error = info.value
    assert error.names == ["0001_books"]
    assert [status.state for status in error.pending] == ["pending"]
    assert "0001_books (pending)" in str(error)
    assert mongo_database.name in str(error)
    assert 'on_pending="run"' in str(error)
    assert index_keys(mongo_database, "books") == []
    assert index_keys(mongo_database, "shelf") == []
    assert state_of(mongo_database) is None


async def test_a_migration_half_applied_is_pending_with_its_progress(
    engine: Any, mongo_database: Database[Any], migrations_dir: Path
) -> None:
    mongo_database.migrations.insert_one(
        {"_id": "0001_books", "state": "applying", "processed": 40, "lock": None}
    )
    with pytest.raises(PendingMigrationsError) as info:
        await engine.configure_database([Book], migrations=migrations_dir)
    assert "0001_books (applying, 40 documents so far)" in str(info.value)


async def test_on_pending_run_migrates_before_creating_the_indexes(
    engine: Any, mongo_database: Database[Any], migrations_dir: Path
) -> None:
    seed(mongo_database, 30)
    await engine.configure_database([Book, Shelf], migrations=migrations_dir, on_pending="run")
    assert state_of(mongo_database) == "applied"
    assert_migrated_once(mongo_database, 30)
    assert_book_indexes_once(mongo_database)
    assert index_keys(mongo_database, "shelf") == [(("code", 1),)]
    # idempotent: nothing pending any more, the indexes are there already
    for on_pending in ("refuse", "run"):
        await engine.configure_database([Book, Shelf], migrations=migrations_dir,
                                        on_pending=on_pending)  # fmt: skip
    assert_migrated_once(mongo_database, 30)
    assert_book_indexes_once(mongo_database)


async def test_on_pending_warn_logs_and_creates_the_indexes(
    engine: Any,
    mongo_database: Database[Any],
    migrations_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="anyodm"):
        await engine.configure_database([Book], migrations=migrations_dir, on_pending="warn")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("0001_books (pending)" in text and "on_pending='warn'" in text for text in warned)
    assert_book_indexes_once(mongo_database)
    assert state_of(mongo_database) is None


async def test_a_migration_applied_that_the_code_does_not_know_is_reported(
    engine: Any,
    mongo_database: Database[Any],
    migrations_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Code older than its database (a rolled-back deployment) starts, with a warning."""
    mongo_database.migrations.insert_many(
        [
            {"_id": "0001_books", "state": "applied", "lock": None},
            {"_id": "0002_newer", "state": "applied", "lock": None},
        ]
    )
    with caplog.at_level(logging.WARNING, logger="anyodm"):
        await engine.configure_database([Book], migrations=migrations_dir)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("0002_newer" in text and "older than the database" in text for text in warned)
    assert_book_indexes_once(mongo_database)


async def test_migrations_given_as_objects_or_applied_already(
    engine: Any, mongo_database: Database[Any]
) -> None:
    from tests.data_migrations.books import counted

    seed(mongo_database, 20)
    await engine.migrate([counted()])
    await engine.configure_database([Book], migrations=[counted()])  # nothing pending
    assert_book_indexes_once(mongo_database)


async def test_bad_start_up_arguments_are_refused_before_anything_is_sent(
    engine: Any, mongo_database: Database[Any], migrations_dir: Path, tmp_path: Path
) -> None:
    seed(mongo_database, 10)
    with pytest.raises(ValueError, match="on_pending"):
        await engine.configure_database([Book], migrations=migrations_dir, on_pending="later")
    with pytest.raises(MigrationError, match="no migrations at"):
        await engine.configure_database([Book], migrations=tmp_path / "missing", on_pending="run")
    with pytest.raises(TypeError, match="configure_database"):
        await engine.configure_database([Book, object], migrations=migrations_dir,
                                        on_pending="run")  # fmt: skip
    with pytest.raises(TypeError, match="migration_records"):
        await engine.configure_database([Book], migrations=migrations_dir, migration_records="")
    assert index_keys(mongo_database, "books") == []
    assert state_of(mongo_database) is None
    assert mongo_database.books.count_documents({"times": 1}) == 0


# -- many at once --------------------------------------------------------------------------


async def test_engines_starting_up_at_once_all_succeed(
    mongodb_uri: str, mongo_database: Database[Any], migrations_dir: Path
) -> None:
    seed(mongo_database, 60)
    engines = [Engine(mongodb_uri, database=mongo_database.name) for _ in range(3)]
    sync_engine = SyncEngine(mongodb_uri, database=mongo_database.name)
    try:

        async def start(engine: Engine) -> None:
            await engine.configure_database([Book, Shelf], migrations=migrations_dir,
                                            on_pending="run")  # fmt: skip

        def start_sync() -> None:
            sync_engine.configure_database([Book, Shelf], migrations=migrations_dir,
                                           on_pending="run")  # fmt: skip

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for engine in engines:
                    tg.start_soon(start, engine)
                tg.start_soon(anyio.to_thread.run_sync, start_sync)
    finally:
        for engine in engines:
            await engine.aclose()
        sync_engine.close()
    assert_migrated_once(mongo_database, 60)
    assert_book_indexes_once(mongo_database)
    assert index_keys(mongo_database, "shelf") == [(("code", 1),)]


async def test_engines_replacing_a_changed_index_at_once(
    mongodb_uri: str, mongo_database: Database[Any]
) -> None:
    mongo_database.books.create_index("name", name="name_1")  # not unique yet
    engines = [Engine(mongodb_uri, database=mongo_database.name) for _ in range(3)]
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for engine in engines:
                    tg.start_soon(
                        lambda e: e.configure_database([Book], update_existing_indexes=True), engine
                    )
    finally:
        for engine in engines:
            await engine.aclose()
    assert_book_indexes_once(mongo_database)
    assert mongo_database.books.index_information()["name_1"].get("unique") is True


# -- what a racing creation reports ----------------------------------------------------------


@FAIL_POINTS
@pytest.mark.parametrize("code", [85, 86, 68])
async def test_a_conflict_reported_for_the_same_index_is_success(
    engine: Any, mongo_database: Database[Any], failpoint: ArmFailPoint, code: int
) -> None:
    """Another process created the index meanwhile, and the server reports that as a
    conflict: the index is the one wanted, so the start-up goes on."""
    await engine.configure_database([Book])
    failpoint(["createIndexes"], mode={"times": 2}, error_code=code)
    await engine.configure_database([Book])
    assert_book_indexes_once(mongo_database)


@FAIL_POINTS
@pytest.mark.parametrize("code", [276, 48, 112])
async def test_a_build_or_collection_creation_under_way_is_waited_for(
    engine: Any, mongo_database: Database[Any], failpoint: ArmFailPoint, code: int
) -> None:
    failpoint(["createIndexes"], mode={"times": 3}, error_code=code)
    await engine.configure_database([Book])
    assert_book_indexes_once(mongo_database)


async def test_a_real_conflict_still_raises(engine: Any, mongo_database: Database[Any]) -> None:
    from pymongo.errors import OperationFailure

    mongo_database.books.create_index("name", name="name_1", sparse=True)
    with pytest.raises(OperationFailure) as info:
        await engine.configure_database([Book])
    assert info.value.code in (85, 86)
    await engine.configure_database([Book], update_existing_indexes=True)
    assert_book_indexes_once(mongo_database)
    assert mongo_database.books.index_information()["name_1"].get("unique") is True


@FAIL_POINTS
async def test_a_race_that_does_not_settle_reports_the_servers_error(
    engine: Any, mongo_database: Database[Any], failpoint: ArmFailPoint
) -> None:
    from pymongo.errors import OperationFailure

    failpoint(["createIndexes"], mode="alwaysOn", error_code=276)
    with pytest.raises(OperationFailure) as info:
        await engine.configure_database([Book])
    assert info.value.code == 276
