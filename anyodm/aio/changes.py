"""``ChangeStream``: the async front of a change stream, for trio and asyncio.

Each read is one :meth:`ChangeReader.next_batch` in a worker thread of the engine (at
most one ``getMore``, which the server holds for at most ``max_await_time``).  So:

* **Cancellation bound.** A cancelled read's thread is never abandoned; it returns
  within ``max_await_time`` plus one round trip (0.25 s by default), after which the
  cancellation is raised.  A deadline (``fail_after``) reaches the driver as the
  ``getMore``'s time limit, like every operation.
* **A cancelled read is not the end.** Inside ``async with engine.watch(...)`` a read
  cut by a deadline or a cancellation leaves the stream open: the events its thread
  read are kept for the next read, and a ``getMore`` cut short is resumed by the driver
  from where it was.  A stream iterated without ``async with`` is closed by a cancelled
  read (nothing else would close it) and then raises ``CursorClosedError``.
* **The server cursor is closed** at the end of ``async with`` and by ``aclose()``, by a
  shielded cleanup on the worker capacity kept for cleanup, bounded by the engine's
  ``cleanup_timeout``; it does not wait behind reads queued for a worker (those end
  with ``CursorClosedError``, see :mod:`anyodm.aio.reads`).
* **The resume token follows delivery.** ``resume_token`` is the token of the last
  event *returned*; events read from the server but not yet returned when the stream
  was closed come again to a stream resumed from it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from anyodm.aio.cursor import Executor
from anyodm.aio.reads import ReadTurns
from anyodm.core.changes import ChangeEvent, ChangeFailure, ChangeReader
from anyodm.errors import CursorClosedError

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

    __slots__ = (
        "_buffer",
        "_cleanup_timeout",
        "_entered",
        "_execute",
        "_reader",
        "_token",
        "_turns",
        "_why_closed",
    )

    def __init__(self, reader: ChangeReader[M], execute: Executor, cleanup_timeout: float) -> None:
        self._reader = reader
        self._execute = execute
        self._cleanup_timeout = cleanup_timeout
        self._buffer: deque[ChangeEvent[M] | ChangeFailure] = deque()
        self._token: Mapping[str, Any] | None = reader.start_token
        self._turns = ReadTurns("change stream")
        self._entered = False
        self._why_closed: str | None = None  # set when closed by a failed read

    @property
    def resume_token(self) -> Mapping[str, Any] | None:
        """The token to resume after the last event returned (None before any event,
        unless the stream started from a token)."""
        return self._token

    async def open(self) -> None:
        """Start the stream on the server (``async with`` does it)."""
        reader = self._reader
        try:
            await self._turns.read(lambda: self._execute("watch", lambda _driver: reader.open()))
        except BaseException:
            await self.aclose()
            raise

    def __aiter__(self) -> ChangeStream[M]:
        return self

    async def __anext__(self) -> ChangeEvent[M]:
        while True:
            if self._turns.closed:
                if self._why_closed is not None:
                    raise CursorClosedError(f"this change stream was closed by {self._why_closed}")
                raise StopAsyncIteration
            if self._buffer:
                item = self._buffer.popleft()
                self._token = item.resume_token
                if isinstance(item, ChangeFailure):
                    raise item.error
                return item
            if self._reader.ended:
                raise StopAsyncIteration
            await self._fill()

    async def _fill(self) -> None:
        reader, buffer = self._reader, self._buffer

        def read(_driver: object) -> None:
            # Into the buffer from the thread: a read cut by a cancellation keeps what
            # it read for the next one (the stream goes on).
            batch = reader.next_batch()
            if not reader.closed:
                buffer.extend(batch)

        async def fill() -> None:
            if not buffer:  # another task's read may have filled it meanwhile
                await self._execute("watch", read)

        try:
            await self._turns.read(fill)
        except CursorClosedError:
            raise
        except BaseException as exc:
            if not self._entered:  # nothing else will close it: a failed read does
                self._why_closed = f"a failed read ({type(exc).__name__})"
                await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the server cursor (shielded, bounded by the engine's cleanup timeout,
        on worker capacity kept for cleanup).  Reads in flight end with
        ``CursorClosedError``."""
        self._buffer.clear()
        await self._turns.close_reader(self._reader, self._execute, self._cleanup_timeout)
        self._buffer.clear()

    async def __aenter__(self) -> ChangeStream[M]:
        await self.open()
        self._entered = True
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
