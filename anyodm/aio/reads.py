"""``ReadTurns``: the reads of one cursor or change stream, and what a close does to them.

A cursor (or stream) is read by one task at a time: a second reader waits for its turn
(an ``anyio.Lock``, so the driver cursor is never in two threads).  A close must not wait
behind those turns (S9): a read may be queued for a worker slot behind busy operations
for as long as they run.  So closing does not take a turn; it

* marks the cursor closed at once: a read that has not started yet never will;
* cancels every read waiting for its turn or for a worker slot, and a read whose thread
  is already running returns as soon as that thread does (at most one round trip);
* leaves those reads with :class:`~anyodm.errors.CursorClosedError`, never data: a read
  that completes after the close began discards what it read.

The close itself then runs on the capacity kept for cleanup, and the core reader's own
lock makes it wait only for a thread that is running, never for one that is queued.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import anyio

from anyodm.aio.cleanup import shielded_cleanup
from anyodm.errors import CursorClosedError

__all__ = ["ReadTurns"]

T = TypeVar("T")


class ServerReader(Protocol):
    """The core reader behind a cursor or stream (``BatchReader``, ``ChangeReader``)."""

    closed: bool

    @property
    def has_open_cursor(self) -> bool: ...

    def close(self) -> None: ...


class CleanupExecutor(Protocol):
    """Runs ``func(driver_session)`` in a worker thread, on cleanup capacity if asked."""

    def __call__(
        self, operation: str, func: Callable[[object], None], cleanup: bool = False
    ) -> Awaitable[None]: ...


class ReadTurns:
    """One cursor's reads: one at a time, all ended by :meth:`close`."""

    __slots__ = ("_lock", "_reads", "_what", "closed")

    def __init__(self, what: str) -> None:
        self._what = what
        self._lock: anyio.Lock | None = None  # made on first use, in the loop using it
        self._reads: set[anyio.CancelScope] = set()
        self.closed: bool = False

    def _closed_error(self) -> CursorClosedError:
        return CursorClosedError(
            f"this {self._what} was closed while this read waited for it: nothing was read"
        )

    async def read(self, call: Callable[[], Awaitable[T]]) -> T:
        """``await call()`` in this cursor's turn; ``CursorClosedError`` if the cursor is
        closed before it returns (whatever ``call`` read is dropped)."""
        if self.closed:
            raise self._closed_error()
        if self._lock is None:
            self._lock = anyio.Lock()
        with anyio.CancelScope() as scope:
            self._reads.add(scope)
            try:
                async with self._lock:
                    if self.closed:
                        raise self._closed_error()
                    result = await call()
            finally:
                self._reads.discard(scope)
            if not self.closed:
                return result
        raise self._closed_error()  # the close cancelled this read (or came right after)

    @property
    def busy(self) -> bool:
        """True while a read is queued or running."""
        return bool(self._reads)

    def close(self) -> None:
        """Mark closed and end every read in flight (call from the event loop)."""
        self.closed = True
        for scope in list(self._reads):
            scope.cancel()

    async def close_reader(
        self, reader: ServerReader, execute: CleanupExecutor, bound: float
    ) -> None:
        """Close the cursor: end the reads in flight, mark ``reader`` closed at once (a
        read that has not started its thread never will), then close its server cursor
        on the capacity kept for cleanup, shielded and bounded by ``bound`` seconds.
        The core reader waits only for a read whose thread is running (one round trip
        at most)."""
        reads_in_flight = self.busy
        self.close()
        reader.closed = True
        if not reader.has_open_cursor and not reads_in_flight:
            return

        async def close() -> None:
            await execute("close", lambda _driver: reader.close(), cleanup=True)

        await shielded_cleanup(f"closing a {self._what}", close, bound)
