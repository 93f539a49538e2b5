"""The plugin's fixtures against the session's server."""

from __future__ import annotations

from typing import Any

import anyio
import pymongo
import pytest
from pymongo.database import Database
from pymongo.errors import OperationFailure

from anyodm.testing.plugin import DATABASE_PREFIX, ArmFailPoint


def test_mongo_database_is_fresh_and_round_trips(mongo_database: Database[dict[str, Any]]) -> None:
    assert mongo_database.name.startswith(DATABASE_PREFIX)
    assert mongo_database.list_collection_names() == []
    mongo_database.things.insert_one({"_id": 1, "name": "one"})
    assert mongo_database.things.find_one({"_id": 1}) == {"_id": 1, "name": "one"}


def test_mongo_database_names_differ(
    mongo_database: Database[dict[str, Any]], mongo_client: pymongo.MongoClient[dict[str, Any]]
) -> None:
    mongo_database.things.insert_one({})
    assert mongo_database.name in mongo_client.list_database_names()


def test_mongo_database_is_dropped_after_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mongodb_uri: str
) -> None:
    monkeypatch.setenv("ANYODM_TEST_URI", mongodb_uri)
    pytester.makepyfile(
        """
        def test_write(mongo_database, mongo_client):
            mongo_database.things.insert_one({})
            print("DB", mongo_database.name)
            mongo_client.dropped = mongo_database.name

        def test_gone(mongo_client):
            assert mongo_client.dropped not in mongo_client.list_database_names()
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_failpoint_fails_the_command(
    failpoint: ArmFailPoint, mongo_database: Database[dict[str, Any]]
) -> None:
    failpoint(["insert"], error_code=2)
    with pytest.raises(OperationFailure) as caught:
        mongo_database.things.insert_one({})
    assert caught.value.code == 2
    mongo_database.things.insert_one({"second": True})  # {"times": 1}: only the first
    assert mongo_database.things.count_documents({}) == 1


def test_failpoint_error_labels(
    failpoint: ArmFailPoint, mongo_database: Database[dict[str, Any]]
) -> None:
    failpoint(["find"], mode="alwaysOn", error_code=2, error_labels=["SomeLabel"])
    with pytest.raises(OperationFailure) as caught:
        mongo_database.things.find_one({})
    assert caught.value.has_error_label("SomeLabel")


def test_failpoint_as_context_manager(
    failpoint: ArmFailPoint, mongo_database: Database[dict[str, Any]]
) -> None:
    with failpoint(["insert"], mode="alwaysOn", error_code=2), pytest.raises(OperationFailure):
        mongo_database.things.insert_one({})
    mongo_database.things.insert_one({})


def test_failpoint_needs_a_command(failpoint: ArmFailPoint) -> None:
    with pytest.raises(ValueError, match="at least one command"):
        failpoint([])


async def test_async_tests_run_on_both_backends(anyio_backend: str) -> None:
    assert anyio_backend in ("asyncio", "trio")
    await anyio.sleep(0)
    if anyio_backend == "trio":
        import trio

        trio.lowlevel.current_task()


async def test_blocking_failpoint_stalls(
    failpoint: ArmFailPoint, mongo_database: Database[dict[str, Any]]
) -> None:
    failpoint(["find"], block_ms=300)
    start = anyio.current_time()
    await anyio.to_thread.run_sync(mongo_database.things.find_one, {})
    assert anyio.current_time() - start >= 0.25


def test_engines_skip_until_they_exist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mongodb_uri: str
) -> None:
    monkeypatch.setenv("ANYODM_TEST_URI", mongodb_uri)
    pytester.makeconftest(
        """
        import pytest
        @pytest.fixture(params=["asyncio"])
        def anyio_backend(request):
            return request.param
        """
    )
    pytester.makepyfile(
        """
        import pytest

        def test_sync(anyodm_sync_engine):
            assert anyodm_sync_engine is not None

        @pytest.mark.anyio
        async def test_async(anyodm_engine):
            assert anyodm_engine is not None
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes.get("passed", 0) + outcomes.get("skipped", 0) == 2
