"""``AsyncCursor``: await it for a list, or ``async for`` it to stream batch by batch."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pymongo.client_session import ClientSession

from anyodm.aio.cleanup import shielded_cleanup
from anyodm.core.find import BatchReader

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = ["AsyncCursor"]

M = TypeVar("M", bound="Model")

#: Runs ``func(driver_session)`` the way the engine runs an operation (session-aware).
Executor = Callable[[str, Callable[[ClientSession | None], Any]], Awaitable[Any]]


class AsyncCursor(Generic[M]):
    """The result of ``Engine.find``.

    ``await cursor`` returns every result as a list (one thread hop).  ``async for``
    streams one server batch per thread hop and keeps only the current batch.  Leaving
    the loop early — ``break``, an exception or a cancellation — closes the server
    cursor; ``async with`` / ``aclose()`` do it deterministically before continuing.
    """

    __slots__ = ("__weakref__", "_batch", "_cleanup_timeout", "_execute", "_list", "_reader")

    def __init__(
        self,
        reader: BatchReader[M],
        execute: Executor,
        list_all: Callable[[], Awaitable[list[M]]],
        cleanup_timeout: float,
    ) -> None:
        self._reader = reader
        self._execute = execute
        self._list = list_all
        self._cleanup_timeout = cleanup_timeout
        self._batch: deque[M] = deque()

    def __await__(self) -> Generator[Any, None, list[M]]:
        return self.to_list().__await__()

    async def to_list(self) -> list[M]:
        """Every result, as a list."""
        return await self._list()

    def __aiter__(self) -> AsyncCursor[M]:
        return self

    async def __anext__(self) -> M:
        if not self._batch:
            if self._reader.done:
                raise StopAsyncIteration
            reader = self._reader
            try:
                batch = await self._execute("find", lambda _driver: reader.next_batch())
            except BaseException:
                await self.aclose()
                raise
            if not batch:
                raise StopAsyncIteration
            self._batch.extend(batch)
        return self._batch.popleft()

    async def aclose(self) -> None:
        """Close the server cursor (shielded, bounded by the engine's cleanup timeout)."""
        self._batch.clear()
        if not self._reader.has_open_cursor:
            self._reader.done = True
            return
        reader = self._reader
        await shielded_cleanup(
            "closing a cursor",
            lambda: self._execute("close", lambda _driver: reader.close()),
            self._cleanup_timeout,
        )

    async def __aenter__(self) -> AsyncCursor[M]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Left early by break/exception/cancellation without aclose(): close the server
        # cursor from a short-lived thread, never from the event loop.  A cursor bound to
        # a session is left to the driver, which kills it from its own background thread
        # (the session must not be used by two threads at once).
        reader = getattr(self, "_reader", None)
        if reader is not None and reader.has_open_cursor:
            reader.close_soon()
