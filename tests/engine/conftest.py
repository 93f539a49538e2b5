"""One set of CRUD tests for both engines: ``engine`` is async, or the sync engine behind
an adapter whose methods are awaitable (the sync engine then runs on the test's thread)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from anyodm import Engine, SyncEngine
from tests.engine.cursors import WatchedDatabase


class AwaitableSyncEngine:
    """Presents ``SyncEngine`` with ``Engine``'s awaitable method shapes (tests only)."""

    def __init__(self, engine: SyncEngine) -> None:
        self.sync = engine
        self.database = engine.database

    def find(self, *args: Any, **kwargs: Any) -> Any:
        cursor = self.sync.find(*args, **kwargs)

        class _Cursor:
            def __await__(self) -> Any:
                async def as_list() -> list[Any]:
                    return list(cursor)

                return as_list().__await__()

            def __aiter__(self) -> Any:
                iterator = iter(cursor)

                class _It:
                    async def __anext__(self) -> Any:
                        try:
                            return next(iterator)
                        except StopIteration:
                            raise StopAsyncIteration from None

                return _It()

        return _Cursor()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


@pytest.fixture(params=["async", "sync"])
def engine(
    request: pytest.FixtureRequest, anyodm_engine: Engine, anyodm_sync_engine: SyncEngine
) -> Any:
    """Each CRUD test runs on ``Engine`` and on ``SyncEngine``."""
    if request.param == "async":
        return anyodm_engine
    return AwaitableSyncEngine(anyodm_sync_engine)


@pytest.fixture
def watched(mongodb_uri: str, mongo_database: Any) -> Iterator[WatchedDatabase]:
    """300 authors and a client that records the server cursors it opens."""
    watched = WatchedDatabase(mongodb_uri, mongo_database.name)
    try:
        yield watched
    finally:
        watched.client.close()
