"""Reading one batch ahead: the next ``getMore`` is on the wire while a batch is decoded.

An async find reads its result batch by batch.  Read one after the other, each batch
costs a round trip and then its decoding and validation.  :class:`BatchPipeline` runs
the two at once, in two worker threads: while one thread decodes and validates batch
*n* (bytes already received, no cursor involved), another reads batch *n + 1* (the
only thread in the driver cursor, under the core reader's lock).  The engine turns it
on for calls given ``batch_size=`` (see ``EngineMethods._cursor``).  Bounds:

* **one batch in flight**: the read of batch *n + 2* starts only when batch *n + 1* is
  asked for, so at most two batches are held (one decoded, one undecoded);
* **the driver's reads**: a read ahead is an ordinary read of the driver cursor, so the
  call's ``limit`` (which the driver applies) is never passed, and each read runs under
  the deadline of the call that started it, like any read;
* **nothing left running**: both threads of a step are awaited before the step returns
  (a cancelled step waits for a started thread, as every call does), so a close finds
  no read in progress but the one it waits for;
* **worker slots**: the read ahead takes an ordinary slot; on an engine with one
  (``max_threads=1``) there is none to spare, and batches are read when asked for;
* **sessions**: a driver session is used by one thread at a time, so a find in a
  session (or a transaction) reads when asked for, as before.

A read ahead that fails keeps its error for the batch it was reading: the batch being
decoded is still returned, and the error is raised when the next batch is asked for,
where reading without read-ahead would have raised it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

import anyio
from bson.raw_bson import RawBSONDocument
from pymongo.client_session import ClientSession

from anyodm.core.cursor import BatchSource

__all__ = ["BatchPipeline", "Executor"]

M = TypeVar("M")
T = TypeVar("T")


class Executor(Protocol):
    """Runs ``func(driver_session)`` the way the engine runs an operation (in its
    session, if any); ``cleanup=True`` on the capacity kept for cleanup."""

    def __call__(
        self,
        operation: str,
        func: Callable[[ClientSession | None], T],
        cleanup: bool = False,
    ) -> Awaitable[T]: ...


class BatchPipeline(Generic[M]):
    """The batches of one reader, each next one read while the current one is decoded
    (when ``read_ahead()`` allows it; otherwise one read and decode per batch)."""

    __slots__ = ("_ahead", "_execute", "_failure", "_operation", "_read_ahead", "_reader")

    def __init__(
        self,
        reader: BatchSource[M],
        execute: Executor,
        read_ahead: Callable[[], bool],
        operation: str = "find",
    ) -> None:
        self._reader = reader
        self._execute = execute
        self._read_ahead = read_ahead
        self._operation = operation
        #: the next batch, read ahead and not decoded yet
        self._ahead: list[RawBSONDocument] | None = None
        #: why the read ahead failed (raised when its batch is asked for)
        self._failure: Exception | None = None

    @property
    def held_ahead(self) -> int:
        """Undecoded documents read ahead and held."""
        return 0 if self._ahead is None else len(self._ahead)

    @property
    def exhausted(self) -> bool:
        """Every batch was returned (nothing left to read, nothing held ahead)."""
        return self._reader.done and self._ahead is None and self._failure is None

    def drop(self) -> None:
        """Forget what was read ahead (the cursor is being closed)."""
        self._ahead = None
        self._failure = None

    async def next_batch(self) -> list[M]:
        """The next batch (empty at the end), reading the one after it meanwhile."""
        reader = self._reader
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure
        raw, self._ahead = self._ahead, None
        if raw is None:
            if reader.done:
                return []
            if not self._read_ahead():
                return await self._execute(self._operation, lambda _d: reader.next_batch())
            decoded, raw = await self._execute(self._operation, lambda _d: self._read_first())
            if decoded is not None:
                return decoded
        if not raw:
            return []
        if reader.done or not self._read_ahead():
            return await self._decode(raw)
        return await self._decode_reading_ahead(raw)

    def _read_first(self) -> tuple[list[M] | None, list[RawBSONDocument]]:
        """In a worker thread: read a batch; decode it at once if it is the last one
        (one thread hop for a result of one batch), else leave it undecoded."""
        reader = self._reader
        raw = reader.read_raw()
        if reader.done:
            return reader.decode(raw), []
        return None, raw

    async def _decode(self, raw: list[RawBSONDocument]) -> list[M]:
        reader = self._reader
        return await self._execute(self._operation, lambda _d: reader.decode(raw))

    async def _decode_reading_ahead(self, raw: list[RawBSONDocument]) -> list[M]:
        """Decode ``raw`` in one thread while another reads the next batch."""
        reader = self._reader
        decoded: list[M] = []
        failed: Exception | None = None

        async def read_next() -> None:
            try:
                self._ahead = await self._execute(self._operation, lambda _d: reader.read_raw())
            except Exception as exc:  # kept for the batch it was reading
                self._failure = exc

        async with anyio.create_task_group() as group:
            group.start_soon(read_next)
            try:
                decoded = await self._decode(raw)
            except Exception as exc:  # raised below, as itself (not in a group)
                failed = exc
                group.cancel_scope.cancel()  # a read that has not started never will
        if failed is not None:
            self.drop()
            raise failed
        return decoded
