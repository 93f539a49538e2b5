"""The sync engine's cursor: streams batch by batch, or behaves as a list once asked to."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import ClassVar, Generic, Protocol, TypeVar, overload

from bson.raw_bson import RawBSONDocument

from anyodm.errors import CursorConsumedError

__all__ = ["BatchSource", "SyncCursor"]

M = TypeVar("M")


class BatchSource(Protocol[M]):
    """What a cursor reads its results from: the batches of one find or aggregation
    (:class:`anyodm.core.find.BatchReader`)."""

    #: no read starts any more (set by the cursor's close)
    closed: bool
    #: every result was read, or the reader was closed
    done: bool

    @property
    def has_open_cursor(self) -> bool:
        """Whether a server-side cursor is open."""
        ...

    def next_batch(self) -> list[M]:
        """The next batch of results (empty at the end)."""
        ...

    def read_raw(self) -> list[RawBSONDocument]:
        """The next batch, undecoded (empty at the end); the only read of the cursor."""
        ...

    def decode(self, raw: list[RawBSONDocument]) -> list[M]:
        """Decode a batch :meth:`read_raw` returned (touches no cursor nor session)."""
        ...

    def read_rest(self) -> list[M]:
        """Every result not read yet."""
        ...

    def close(self) -> None:
        """Close the server-side cursor (waits for a read in progress)."""
        ...

    def close_soon(self) -> None:
        """Close the server-side cursor without waiting."""
        ...


class SyncCursor(Generic[M]):
    """The result of ``SyncEngine.find``.

    Iterating streams the results one server batch at a time without keeping what it
    already yielded; leaving the loop early closes the server cursor (``with`` or
    ``close()`` do it deterministically).  ``len()``, indexing or ``to_list()`` read the
    rest into a list, after which the cursor behaves as that list.  Iterating a cursor
    that was streamed to its end, left early or closed raises
    :class:`~anyodm.errors.CursorConsumedError` (S6): it kept nothing to iterate.
    """

    __slots__ = ("_consumed", "_items", "_reader")

    def __init__(self, reader: BatchSource[M]) -> None:
        self._reader = reader
        self._items: list[M] | None = None
        self._consumed: str | None = None

    def _check_not_consumed(self) -> None:
        if self._consumed is not None:
            raise CursorConsumedError(
                f"this cursor was already {self._consumed}: a streaming cursor keeps "
                "nothing it yielded; use to_list() (or list(cursor) the first time) to "
                "keep the results, or call find() again for a new cursor"
            )

    def __iter__(self) -> Iterator[M]:
        if self._items is not None:
            return iter(self._items)
        self._check_not_consumed()
        return self._stream()

    def _stream(self) -> Iterator[M]:
        if self._items is not None:  # materialised since iter() (list() asks len() first)
            yield from self._items
            return
        self._check_not_consumed()
        reader = self._reader
        try:
            while self._consumed is None and (batch := reader.next_batch()):
                yield from batch
            if self._consumed is not None:  # close() was called inside the loop
                return
        except GeneratorExit:
            # Left early; possibly closed by the garbage collector while this thread
            # holds a driver lock: never close synchronously here.
            self._consumed = "left before its end (and closed)"
            reader.close_soon()
            raise
        except BaseException:
            self._consumed = "closed by an error"
            raise
        self._consumed = "read to its end"
        reader.close()

    def to_list(self) -> list[M]:
        """Every remaining result as a list (kept: the cursor then acts as this list)."""
        if self._items is None:
            self._check_not_consumed()
            self._items = self._reader.read_rest()
        return self._items

    def __len__(self) -> int:
        return len(self.to_list())

    @overload
    def __getitem__(self, index: int) -> M: ...
    @overload
    def __getitem__(self, index: slice) -> list[M]: ...
    def __getitem__(self, index: int | slice) -> M | list[M]:
        return self.to_list()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return self.to_list() == other
        return NotImplemented

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # pyright: ignore[reportIncompatibleMethodOverride]

    def close(self) -> None:
        """Close the server cursor now (idempotent)."""
        if self._items is None and self._consumed is None:
            self._consumed = "closed"
        self._reader.close()

    def __enter__(self) -> SyncCursor[M]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SyncCursor of {self._reader_model_name()}>"

    def _reader_model_name(self) -> str:
        return "results" if self._items is None else f"{len(self._items)} results"
