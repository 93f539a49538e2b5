"""``ChangeStream``: the async front of a change stream, for trio and asyncio.

Each read is one :meth:`ChangeReader.next_batch` in a worker thread of the engine (at
most one ``getMore``, which the server holds for at most ``max_await_time``).  So:

* **Cancellation bound.** A cancelled stream's thread is never abandoned; it returns
  within ``max_await_time`` plus one round trip (0.25 s by default), after which the
  cancellation is raised.  A deadline (``fail_after``) reaches the driver as the
  ``getMore``'s time limit, like every operation.
* **The server cursor is closed** on every way out — the end of ``async with``,
  ``aclose()``, an exception, a cancellation or a deadline in ``async for`` — by a
  shielded cleanup bounded by the engine's ``cleanup_timeout``.  A cursor the driver
  forgot after a failed ``getMore`` is killed explicitly.
* **One read at a time.** Two tasks iterating one stream take turns (an ``anyio.Lock``),
  and ``aclose()`` waits for a read in progress, so the driver cursor is never used by
  two threads.
* **The resume token follows delivery.** ``resume_token`` is the token of the last
  event *returned*; events read from the server but not yet returned when the stream
  was cancelled come again to a stream resumed from it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from anyodm.aio.cleanup import shielded_cleanup
from anyodm.aio.cursor import Executor
from anyodm.core.changes import ChangeEvent, ChangeReader

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = ["ChangeStream"]

M = TypeVar("M", bound="Model")


class ChangeStream(Generic[M]):
    """The result of ``Engine.watch``: ``async with engine.watch(Model) as changes:
    async for change in changes: ...``.

    Entering opens the stream on the server (changes from then on are seen); iterating
    waits for the next :class:`~anyodm.core.changes.ChangeEvent`; leaving closes it.
    """

    __slots__ = ("_buffer", "_cleanup_timeout", "_execute", "_lock", "_reader", "_token")

    def __init__(self, reader: ChangeReader[M], execute: Executor, cleanup_timeout: float) -> None:
        self._reader = reader
        self._execute = execute
        self._cleanup_timeout = cleanup_timeout
        self._buffer: deque[ChangeEvent[M]] = deque()
        self._token: Mapping[str, Any] | None = reader.last_token
        self._lock = anyio.Lock()

    @property
    def resume_token(self) -> Mapping[str, Any] | None:
        """The token to resume after the last event returned (None before any event,
        unless the stream started from a token)."""
        return self._token

    async def open(self) -> None:
        """Start the stream on the server (``async with`` does it)."""
        reader = self._reader
        try:
            async with self._lock:
                await self._execute("watch", lambda _driver: reader.open())
        except BaseException:
            await self.aclose()
            raise

    def __aiter__(self) -> ChangeStream[M]:
        return self

    async def __anext__(self) -> ChangeEvent[M]:
        reader = self._reader
        while not self._buffer:
            if reader.closed:
                raise StopAsyncIteration
            try:
                async with self._lock:
                    if self._buffer or reader.closed:
                        continue  # another task read (or closed) meanwhile
                    batch = await self._execute("watch", lambda _driver: reader.next_batch())
            except BaseException:
                await self.aclose()
                raise
            self._buffer.extend(batch)
        event = self._buffer.popleft()
        self._token = event.resume_token
        return event

    async def aclose(self) -> None:
        """Close the server cursor (shielded, bounded by the engine's cleanup timeout)."""
        self._buffer.clear()
        reader = self._reader
        if not reader.has_open_cursor:
            reader.closed = True
            return

        async def close() -> None:
            async with self._lock:
                await self._execute("close", lambda _driver: reader.close(), cleanup=True)

        await shielded_cleanup("closing a change stream", close, self._cleanup_timeout)

    async def __aenter__(self) -> ChangeStream[M]:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped without async with / aclose() (a loop left by break, say): close the
        # server cursor from a short-lived thread, never from the event loop.
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close_soon()
