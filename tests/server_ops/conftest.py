"""``engine``: each test runs on ``Engine`` (trio and asyncio) and on ``SyncEngine``
(behind an adapter whose methods are awaitable and whose cursors are async)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from anyodm import Engine, SyncEngine


class _AsyncView:
    """A ``SyncCursor`` seen as an ``AsyncCursor`` (await / async for / to_list)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._iter: Any = None

    def __await__(self) -> Any:
        return self.to_list().__await__()

    async def to_list(self) -> list[Any]:
        return list(self._cursor.to_list())

    def __aiter__(self) -> _AsyncView:
        self._iter = iter(self._cursor)
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._iter)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._cursor.close()


class AwaitableSync:
    """``SyncEngine`` (or a sync session) with ``Engine``'s awaitable method shapes."""

    _CURSORS = frozenset({"find", "aggregate"})

    def __init__(self, target: Any) -> None:
        self.sync = target
        self.database = getattr(target, "database", None)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.sync, name)
        if name in self._CURSORS:
            return lambda *args, **kwargs: _AsyncView(method(*args, **kwargs))

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


@pytest.fixture(params=["async", "sync"])
def engine(
    request: pytest.FixtureRequest, anyodm_engine: Engine, anyodm_sync_engine: SyncEngine
) -> Any:
    """Each test runs on ``Engine`` and on ``SyncEngine``."""
    if request.param == "async":
        return anyodm_engine
    return AwaitableSync(anyodm_sync_engine)


@pytest.fixture
def raw(anyodm_sync_engine: SyncEngine) -> Any:
    """The test's database through PyMongo (to see exactly what is stored)."""
    return anyodm_sync_engine.database
