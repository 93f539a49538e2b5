"""``AsyncCursor``: await it for a list, or ``async for`` it to stream batch by batch."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, Generic, TypeVar

from anyodm.aio.read_ahead import BatchPipeline, Executor
from anyodm.aio.reads import ReadTurns
from anyodm.core.cursor import BatchSource
from anyodm.errors import CursorConsumedError

__all__ = ["AsyncCursor", "Executor"]

M = TypeVar("M")


def _never() -> bool:
    return False


def _consumed(how: str) -> CursorConsumedError:
    return CursorConsumedError(
        f"this cursor was already {how}: a streaming cursor keeps nothing it yielded; "
        "use 'await engine.find(...)' / 'await cursor.to_list()' to keep the results, "
        "or call find() again for a new cursor"
    )


class AsyncCursor(Generic[M]):
    """The result of ``Engine.find``.

    ``await cursor`` returns every result as a list (one thread hop).  ``async for``
    streams one server batch at a time, reading the next one while the current one is
    decoded when ``read_ahead()`` allows it (:mod:`anyodm.aio.read_ahead`), and keeps
    only those two batches (S6):

    * an exception or cancellation inside the loop's ``__anext__`` closes the server
      cursor at once;
    * ``async for x in engine.find(...)`` left by ``break`` closes it when the loop lets
      go of the cursor (from a short-lived thread; a cursor bound to a session is killed
      by the driver in the background);
    * a cursor held in a variable is closed at the end of ``async with cursor:`` or by
      ``await cursor.aclose()`` — the deterministic way, to use when breaking out;
    * iterating a cursor again once it was read to its end or closed raises
      :class:`~anyodm.errors.CursorConsumedError` (a loop left by ``break`` may be
      resumed by another ``async for`` until then).
    """

    __slots__ = (
        "__weakref__",
        "_batch",
        "_cleanup_timeout",
        "_consumed",
        "_execute",
        "_list",
        "_pipeline",
        "_reader",
        "_turns",
    )

    def __init__(
        self,
        reader: BatchSource[M],
        execute: Executor,
        list_all: Callable[[], Awaitable[list[M]]],
        cleanup_timeout: float,
        read_ahead: Callable[[], bool] = _never,
    ) -> None:
        self._reader = reader
        self._pipeline = BatchPipeline(reader, execute, read_ahead)
        self._execute = execute
        self._list = list_all
        self._cleanup_timeout = cleanup_timeout
        self._batch: deque[M] = deque()
        self._consumed: str | None = None  # "read to its end" / "closed"
        self._turns = ReadTurns("cursor")  # one read at a time; a close ends them

    def __await__(self) -> Generator[Any, None, list[M]]:
        return self.to_list().__await__()

    async def to_list(self) -> list[M]:
        """Every result, as a list."""
        return await self._list()

    def __aiter__(self) -> AsyncCursor[M]:
        if self._consumed is not None:
            raise _consumed(self._consumed)
        return self

    async def __anext__(self) -> M:
        if not self._batch:
            if self._consumed is not None:
                raise StopAsyncIteration
            if self._pipeline.exhausted:
                self._consumed = "read to its end"
                raise StopAsyncIteration
            try:
                batch = await self._turns.read(self._pipeline.next_batch)
            except BaseException:
                await self.aclose()
                raise
            if not batch:
                if self._batch:  # another task's read filled it meanwhile
                    return self._batch.popleft()
                self._consumed = "read to its end"
                raise StopAsyncIteration
            self._batch.extend(batch)
        return self._batch.popleft()

    async def aclose(self) -> None:
        """Close the server cursor (to completion despite cancellation, bounded by the
        engine's cleanup timeout, on worker capacity kept for cleanup)."""
        self._batch.clear()
        self._pipeline.drop()
        if self._consumed is None:
            self._consumed = "closed"
        # Reads queued or running end with CursorClosedError; the close never waits
        # behind them.
        await self._turns.close_reader(self._reader, self._execute, self._cleanup_timeout)
        self._batch.clear()
        self._pipeline.drop()  # what a read that ran during the close kept

    async def _read_all(self) -> list[M]:
        """Every result, batch by batch (with read-ahead when allowed), into one list;
        the cursor is closed if this fails or is cancelled."""
        found: list[M] = []
        if self._consumed is not None:
            raise _consumed(self._consumed)
        try:
            while batch := await self._turns.read(self._pipeline.next_batch):
                found.extend(batch)
        except BaseException:
            await self.aclose()
            raise
        self._consumed = "read to its end"
        return found

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
