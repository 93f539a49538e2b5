"""anyodm's pytest plugin (entry point ``pytest11: anyodm``).

Fixtures:

- ``mongodb_uri`` (session): ``$ANYODM_TEST_URI`` if set, else an embedded server's URI;
- ``mongo_client`` (session): a ``pymongo.MongoClient`` on it;
- ``mongo_database``: a fresh database (unique name), dropped afterwards;
- ``anyodm_engine`` (async) / ``anyodm_sync_engine``: an ``anyodm.Engine`` /
  ``anyodm.SyncEngine`` on ``mongo_database``; skipped while anyodm has no engines;
- ``failpoint``: ``failpoint(["find"], mode={"times": 1}, error_code=..., ...)`` arms
  ``configureFailPoint failCommand``; it is always disarmed after the test.

Markers: ``needs_real_mongodb(reason)`` skips unless ``ANYODM_TEST_URI`` is set;
``embedded_only(reason)`` skips when it is.

The plugin reads ``ANYODM_TEST_URI`` and never ``MONGODB_URI``: that name commonly holds
an application's own (production) connection string, and a test run must not write
there because it happens to be set.  Tests parametrized to run on trio
(``anyio_backend``) are skipped, with the reason, when trio is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Any, Protocol

import pymongo
import pytest
from pymongo.database import Database

from anyodm.testing._errors import EmbeddedServerError
from anyodm.testing._failpoint import FailPoint, FailPointMode, disable_fail_command, fail_point
from anyodm.testing._server import mongodb_server
from anyodm.testing._uri import TEST_URI_ENV, redact

DATABASE_PREFIX = "anyodm_test_"

_MARKERS = (
    "needs_real_mongodb(reason): needs a real MongoDB server; skipped unless "
    f"{TEST_URI_ENV} is set",
    f"embedded_only(reason): needs the embedded server; skipped when {TEST_URI_ENV} is set",
)


def pytest_configure(config: pytest.Config) -> None:
    for line in _MARKERS:
        config.addinivalue_line("markers", line)


def _configured_uri() -> str:
    return os.environ.get(TEST_URI_ENV, "").strip()


def _real_server_configured() -> bool:
    return bool(_configured_uri())


def _trio_available() -> bool:
    return importlib.util.find_spec("trio") is not None


def pytest_report_header() -> str:
    uri = _configured_uri()
    if uri:
        return f"anyodm: tests use the server at {TEST_URI_ENV}={redact(uri)}"
    return (
        f"anyodm: tests use an embedded server ({TEST_URI_ENV} is unset; "
        "anyodm's plugin never reads MONGODB_URI)"
    )


def _backend_name(item: pytest.Item) -> str | None:
    """The anyio backend a parametrized test runs on (``"trio"``, ``("trio", {...})``)."""
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("anyio_backend") if callspec is not None else None
    if isinstance(backend, tuple) and backend:
        backend = backend[0]
    return backend if isinstance(backend, str) else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    real = _real_server_configured()
    trio_missing: bool | None = None
    for item in items:
        marker = item.get_closest_marker("needs_real_mongodb")
        if marker is not None and not real:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(
                pytest.mark.skip(reason=f"needs {TEST_URI_ENV} (a real server): {reason}")
            )
        marker = item.get_closest_marker("embedded_only")
        if marker is not None and real:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(pytest.mark.skip(reason=f"embedded server only: {reason}"))
        if _backend_name(item) == "trio":
            if trio_missing is None:
                trio_missing = not _trio_available()
            if trio_missing:
                item.add_marker(
                    pytest.mark.skip(
                        reason="runs on trio, which is not installed "
                        "(pip install 'anyodm[trio]' to run it)"
                    )
                )


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    """URI of the MongoDB server for this test session (started once, stopped at the end)."""
    try:
        with mongodb_server() as uri:
            yield uri
    except EmbeddedServerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def mongo_client(mongodb_uri: str) -> Iterator[pymongo.MongoClient[dict[str, Any]]]:
    """A PyMongo client on ``mongodb_uri``, shared by the session."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongodb_uri)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def mongo_database(
    mongo_client: pymongo.MongoClient[dict[str, Any]],
) -> Iterator[Database[dict[str, Any]]]:
    """A database no other test uses; dropped after the test."""
    name = DATABASE_PREFIX + uuid.uuid4().hex[:16]
    try:
        yield mongo_client[name]
    finally:
        mongo_client.drop_database(name)


def _engine_class(name: str) -> Any:
    try:
        import anyodm

        return getattr(anyodm, name)
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"anyodm.{name} is not available yet ({exc})")


@pytest.fixture
async def anyodm_engine(
    mongo_client: pymongo.MongoClient[dict[str, Any]],
    mongo_database: Database[dict[str, Any]],
) -> AsyncIterator[Any]:
    """An ``anyodm.Engine`` on a fresh database (the shared client is not closed)."""
    engine = _engine_class("Engine")(client=mongo_client, database=mongo_database.name)
    try:
        yield engine
    finally:
        await engine.aclose()


@pytest.fixture
def anyodm_sync_engine(
    mongo_client: pymongo.MongoClient[dict[str, Any]],
    mongo_database: Database[dict[str, Any]],
) -> Iterator[Any]:
    """An ``anyodm.SyncEngine`` on a fresh database (the shared client is not closed)."""
    engine = _engine_class("SyncEngine")(client=mongo_client, database=mongo_database.name)
    try:
        yield engine
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            close()


class ArmFailPoint(Protocol):
    """The ``failpoint`` fixture: arm ``failCommand`` for the rest of the test."""

    def __call__(
        self,
        commands: Iterable[str],
        *,
        mode: FailPointMode | None = None,
        error_code: int | None = None,
        error_labels: Sequence[str] | None = None,
        block_ms: int | None = None,
        **extra: Any,
    ) -> FailPoint: ...


@pytest.fixture
def failpoint(mongo_client: pymongo.MongoClient[dict[str, Any]]) -> Iterator[ArmFailPoint]:
    """Arm ``configureFailPoint failCommand``; it is turned off after the test, pass or fail."""
    used = False

    def arm(
        commands: Iterable[str],
        *,
        mode: FailPointMode | None = None,
        error_code: int | None = None,
        error_labels: Sequence[str] | None = None,
        block_ms: int | None = None,
        **extra: Any,
    ) -> FailPoint:
        nonlocal used
        used = True
        return fail_point(
            mongo_client,
            commands,
            mode=mode,
            error_code=error_code,
            error_labels=error_labels,
            block_ms=block_ms,
            **extra,
        )

    try:
        yield arm
    finally:
        if used:
            disable_fail_command(mongo_client)
