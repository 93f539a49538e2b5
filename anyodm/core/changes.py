"""Change streams, written once over PyMongo's ``ChangeStream``: the watch spec, the
typed event, the reader.

``ChangeReader`` is the synchronous core that both engines use: ``SyncChangeStream``
calls it directly; the async ``ChangeStream`` (``anyodm/aio/changes.py``) runs each call
in a worker thread.  The stream itself is the driver's (``Collection.watch`` /
``Database.watch``), so the change-stream specification's rules are PyMongo's, tested
against real servers: which errors are resumable, and where a resume starts (the
``postBatchResumeToken``, else the last event's ``_id``, else ``startAfter`` /
``startAtOperationTime``).  What the reader adds:

* **A short wait per call.** One :meth:`ChangeReader.next_batch` is at most one
  ``getMore`` (``try_next``), which the server holds for at most ``max_await_time``
  seconds when nothing happens: that bounds how long a cancelled async stream's thread
  stays busy.  The events the driver already holds are taken in the same call, so a
  busy stream costs one thread hop per server batch, not per event.
* **A deadline is not the end.** A ``getMore`` cut by the caller's deadline raises the
  deadline; the stream stays usable and the driver resumes it on the next read from
  where it was, losing and repeating nothing.
* **No lost server cursor.** When a ``getMore`` fails on the network (a deadline cut
  it, a connection broke), the driver drops its cursor without ``killCursors``; the
  reader notices the dropped cursor's id and kills it (on the next read, or at close).
* **Typed events.** Each event is parsed into its model in the worker thread; a
  document that does not fit fails that event alone (the stream goes on after it).

The reader reads two pieces of the driver's private state, both guarded: how many
events its cursor still holds (``_buffered``; without it, one event per call) and which
server cursor it uses now (``_driver_cursor``; without it, dropped cursors are left to
the server's cursor timeout).  Everything else is public PyMongo API.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pymongo
from pymongo.change_stream import ChangeStream as DriverChangeStream
from pymongo.client_session import ClientSession
from pymongo.errors import PyMongoError

from anyodm.core import open_cursors
from anyodm.core.arguments import check_model_class
from anyodm.core.find import make_find_spec
from anyodm.core.gateway import DatabaseGateway
from anyodm.core.kinds import refuse_watch
from anyodm.errors import CursorClosedError, InvalidOperationError
from anyodm.model.query import build_filter
from anyodm.model.references import has_lookups

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = [
    "DEFAULT_MAX_AWAIT_TIME",
    "ChangeEvent",
    "ChangeFailure",
    "ChangeReader",
    "SyncChangeStream",
    "WatchSpec",
    "make_watch_spec",
]

M = TypeVar("M", bound="Model")

log: logging.Logger = logging.getLogger("anyodm")

#: Seconds a getMore waits on the server for new events; bounds cancellation.
DEFAULT_MAX_AWAIT_TIME = 0.25
#: Seconds the killCursors of a cursor the driver dropped may take.
KILL_TIMEOUT = 10.0
#: Events per server batch (and at most per read).
DEFAULT_BATCH_SIZE = 100
_FULL_DOCUMENT = (None, "default", "updateLookup", "whenAvailable", "required")


@dataclass(frozen=True)
class ChangeEvent(Generic[M]):
    """One change of a watched collection, typed by its model.

    ``document`` is the full document parsed as the model when the server sent one
    (inserts, replaces; updates with ``full_document="updateLookup"``), else None.
    ``updated_fields`` / ``removed_fields`` name the changed fields by their Python names
    (a nested path keeps its stored tail: ``"address.city"``); values are as stored.
    ``resume_token`` resumes a stream right after this event.
    """

    operation: str
    document_key: dict[str, Any]
    document: M | None
    updated_fields: dict[str, Any]
    removed_fields: list[str]
    resume_token: Mapping[str, Any]
    collection: str | None
    model: type[M] | None
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ChangeFailure:
    """An event that could not be made a :class:`ChangeEvent` (its document does not
    fit the model): raised in its place, after the events before it; the stream goes on
    after it, and its ``resume_token`` resumes after it."""

    error: Exception
    resume_token: Mapping[str, Any]


@dataclass(frozen=True)
class WatchSpec(Generic[M]):
    """A validated watch: where, what to match, and where to start."""

    models: tuple[type[M], ...]
    database_wide: bool
    pipeline: list[dict[str, Any]]
    full_document: str | None
    resume_after: Mapping[str, Any] | None
    start_after: Mapping[str, Any] | None
    max_await_time: float
    batch_size: int
    #: each model's class filter (None: every document of its collection), taken once
    class_filters: tuple[dict[str, Any] | None, ...]

    def model_for(self, collection: str | None, document: Any) -> type[M] | None:
        """The watched model an event of ``collection`` (with ``document``) belongs to."""
        if not self.database_wide:
            return self.models[0]
        fallback = None
        for model, own in zip(self.models, self.class_filters, strict=True):
            if model.__anyodm__.collection != collection:
                continue
            if own is None:
                fallback = fallback or model
            elif isinstance(document, Mapping):
                ((key, condition),) = own.items()
                if document.get(key) in condition["$in"]:
                    return model
        return fallback


def make_watch_spec(
    target: Any,
    queries: tuple[Any, ...],
    full_document: str | None,
    resume_after: Mapping[str, Any] | None,
    start_after: Mapping[str, Any] | None,
    max_await_time: float,
    batch_size: int,
    operation: str = "watch",
) -> WatchSpec[Any]:
    """Validate a watch; raises before anything is sent on bad input.

    ``target`` is a model (its collection) or a list/tuple of models (a database-wide
    stream limited to their collections).  Queries filter on the event's full document.
    A subclass of a polymorphic family sees only its own documents: events that carry
    no document (deletes) are not delivered to it, and its updates are looked up
    (``full_document="updateLookup"`` unless another mode is asked for).
    """
    database_wide = isinstance(target, (list, tuple))
    if database_wide:
        models = tuple(check_model_class(m, operation) for m in target)
        if not models:
            raise ValueError(f"{operation}() needs at least one model to watch")
        if queries:
            raise TypeError(f"{operation}() takes queries only when watching one model")
    else:
        models = (check_model_class(target, operation),)
    refuse_watch(models, operation)
    if full_document not in _FULL_DOCUMENT:
        raise ValueError(
            f"{operation}(full_document=...) must be one of "
            f"{', '.join(repr(m) for m in _FULL_DOCUMENT)}, got {full_document!r}"
        )
    if resume_after is not None and start_after is not None:
        raise ValueError(f"{operation}() takes resume_after or start_after, not both")
    for name, token in (("resume_after", resume_after), ("start_after", start_after)):
        if token is not None and not isinstance(token, Mapping):
            raise TypeError(
                f"{operation}({name}=...) needs a resume token (a mapping such as "
                f"change.resume_token), got {type(token).__name__}"
            )
    if not max_await_time > 0:
        raise ValueError(
            f"{operation}(max_await_time=...) must be positive, got {max_await_time!r}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{operation}(batch_size=...) must be at least 1, got {batch_size!r}")
    class_filters = tuple(m.__anyodm__.family_filter() for m in models)
    pipeline: list[dict[str, Any]] = []
    if database_wide:
        pipeline.append({"$match": _of_collections(models, class_filters)})
    else:
        filter_ = build_filter(models[0], *queries)
        if filter_:
            pipeline.append({"$match": _on_full_document(filter_, models[0].__name__)})
    if full_document is None and any(own is not None for own in class_filters):
        full_document = "updateLookup"
    return WatchSpec(
        models,
        database_wide,
        pipeline,
        full_document,
        None if resume_after is None else dict(resume_after),
        None if start_after is None else dict(start_after),
        max_await_time,
        batch_size,
        class_filters,
    )


def _of_collections(
    models: tuple[type[Model], ...], class_filters: tuple[dict[str, Any] | None, ...]
) -> dict[str, Any]:
    """A database-wide stream's filter: the models' collections (a polymorphic
    subclass: its own documents of its collection)."""
    pairs = list(zip(models, class_filters, strict=True))
    whole = sorted({m.__anyodm__.collection for m, own in pairs if own is None})
    parts: list[dict[str, Any]] = [{"ns.coll": {"$in": whole}}] if whole else []
    for model, own in pairs:
        if own is not None and model.__anyodm__.collection not in whole:
            parts.append(
                {"ns.coll": model.__anyodm__.collection, **_on_full_document(own, model.__name__)}
            )
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _on_full_document(filter_: Mapping[str, Any], model_name: str) -> dict[str, Any]:
    """A document filter rewritten to match the ``fullDocument`` of change events."""
    out: dict[str, Any] = {}
    for key, value in filter_.items():
        if key in ("$and", "$or", "$nor"):
            out[key] = [_on_full_document(part, model_name) for part in value]
        elif key.startswith("$"):
            raise ValueError(
                f"watch({model_name}, ...) cannot filter change events with {key}: "
                "use field queries"
            )
        else:
            out[f"fullDocument.{key}"] = value
    return out


def refuse_in_transaction(session: ClientSession | None) -> None:
    """MongoDB refuses ``$changeStream`` in a multi-document transaction: say so first."""
    if session is not None and session.in_transaction:
        raise InvalidOperationError(
            "watch() cannot run inside a transaction (MongoDB refuses change streams in "
            "multi-document transactions): open the stream outside the transaction"
        )


def _buffered(stream: DriverChangeStream[Any]) -> int:
    """Events the driver's cursor holds (returned by ``try_next`` without a
    ``getMore``); 0 when its internals are not as expected (one event per read then)."""
    data = getattr(getattr(stream, "_cursor", None), "_data", None)
    try:
        return len(data) if data is not None else 0
    except TypeError:
        return 0


def _driver_cursor(stream: DriverChangeStream[Any]) -> Any:
    """The driver's current cursor of ``stream`` (None if its internals changed)."""
    return getattr(stream, "_cursor", None)


def _cursor_id(cursor: Any) -> int:
    cursor_id = getattr(cursor, "cursor_id", None)
    return cursor_id if isinstance(cursor_id, int) else 0


class ChangeReader(Generic[M]):
    """The server side of one stream: opens it, reads a batch per call, closes it.

    Thread-safe: calls take turns on a lock, and :meth:`close` (from any thread) marks
    the reader closed at once, so a read that had not started yet raises
    :class:`~anyodm.errors.CursorClosedError` instead of reading.
    """

    __slots__ = (
        "__weakref__",
        "_codec",
        "_gateway",
        "_key_names",
        "_mutex",
        "_orphans",
        "_seen",
        "_session",
        "_spec",
        "_stream",
        "broken",
        "closed",
        "ended",
    )

    def __init__(
        self, gateway: DatabaseGateway, spec: WatchSpec[M], session: ClientSession | None
    ) -> None:
        refuse_in_transaction(session)
        self._gateway = gateway
        self._spec = spec
        self._session = session
        self._stream: DriverChangeStream[Any] | None = None
        self._mutex = threading.Lock()
        self._seen: Any = None  # the driver cursor last seen in use
        self._orphans: list[int] = []  # server cursors the driver dropped without a kill
        self._key_names = {
            model: {stored: name for name, stored in model.__anyodm__.key_names.items()}
            for model in spec.models
        }
        database = gateway.database
        self._codec = (
            database.codec_options if spec.database_wide else gateway.codec_options(spec.models[0])
        )
        #: closed by close(); ended by the server (the stream was invalidated)
        self.closed: bool = False
        self.ended: bool = False
        #: the non-resumable error that ended the stream, if one did
        self.broken: BaseException | None = None

    @property
    def start_token(self) -> Mapping[str, Any] | None:
        """The token the stream starts from (None: from now)."""
        return self._spec.resume_after or self._spec.start_after

    @property
    def has_open_cursor(self) -> bool:
        """True while a server cursor may exist (open, or dropped by the driver)."""
        return self._stream is not None or bool(self._orphans)

    def open(self) -> None:
        """Start the stream (the server's ``aggregate``); later changes will be seen."""
        with self._mutex:
            self._check_usable()
            if self._stream is None:
                self._start()

    def _check_usable(self) -> None:
        if self.closed:
            raise CursorClosedError("this change stream was closed")
        if self.broken is not None:
            raise CursorClosedError(
                f"this change stream was ended by an error: {self.broken}"
            ) from self.broken
        refuse_in_transaction(self._session)

    def _start(self) -> DriverChangeStream[Any]:
        spec = self._spec
        gateway = self._gateway
        target: Any = gateway.database if spec.database_wide else gateway.collection(spec.models[0])
        # Events decoded by the driver, a batch at a time (it reads each event's _id,
        # which costs more on a RawBSONDocument than decoding the whole event).
        stream: DriverChangeStream[Any] = target.with_options(codec_options=self._codec).watch(
            spec.pipeline,
            full_document=spec.full_document,
            resume_after=spec.resume_after,
            start_after=spec.start_after,
            max_await_time_ms=max(1, round(spec.max_await_time * 1000)),
            batch_size=spec.batch_size,
            session=self._session,
        )
        if self.closed:  # closed while the aggregate ran: do not keep its cursor
            stream.close()
            raise CursorClosedError("this change stream was closed while it opened")
        self._stream = stream
        self._seen = _driver_cursor(stream)
        if self._session is None:
            open_cursors.remember(self)
        return stream

    def next_batch(self) -> list[ChangeEvent[M] | ChangeFailure]:
        """The next events: at most one ``getMore``, empty if none came within
        ``max_await_time`` (or the stream ended: see :attr:`ended`)."""
        with self._mutex:
            self._check_usable()
            stream = self._stream or self._start()
            if self._orphans:
                self._kill_orphans()
            if not stream.alive:
                self.ended = True
                return []
            try:
                raws = self._read(stream)
            except PyMongoError as exc:
                self._note_dropped(stream)
                if not stream.alive:  # the driver closed it: not resumable
                    self.broken = exc
                raise
            self._note_dropped(stream)
            if not stream.alive:
                self.ended = True
            return [self._event(raw) for raw in raws]

    def _read(self, stream: DriverChangeStream[Any]) -> list[dict[str, Any]]:
        first = stream.try_next()
        if first is None:
            return []
        raws = [first]
        limit = self._spec.batch_size
        while len(raws) < limit and _buffered(stream):
            raw = stream.try_next()
            if raw is None:
                break
            raws.append(raw)
        return raws

    def _note_dropped(self, stream: DriverChangeStream[Any]) -> None:
        """After a read: if the driver dropped its server cursor (a failed ``getMore``,
        a resume), remember the cursor's id for a ``killCursors``."""
        current = _driver_cursor(stream)
        seen = self._seen
        if current is seen and (seen is None or seen.alive):
            return
        if seen is not None and (cursor_id := _cursor_id(seen)):
            self._orphans.append(cursor_id)
        self._seen = current if current is not seen else None

    def _event(self, doc: dict[str, Any]) -> ChangeEvent[M] | ChangeFailure:
        try:
            return self._typed(doc)
        except Exception as exc:  # the document does not fit: this event fails alone
            return ChangeFailure(exc, doc["_id"])

    def _typed(self, doc: dict[str, Any]) -> ChangeEvent[M]:
        ns = doc.get("ns") or {}
        collection = ns.get("coll") if isinstance(ns, Mapping) else None
        full = doc.get("fullDocument")
        model = self._spec.model_for(collection, full)
        names = self._key_names.get(model, {}) if model is not None else {}
        document = None
        if model is not None and isinstance(full, Mapping):
            document = self._parse(model, full)
        description = doc.get("updateDescription") or {}
        updated = {
            _python_path(path, names): value
            for path, value in (description.get("updatedFields") or {}).items()
        }
        removed = [_python_path(path, names) for path in description.get("removedFields") or []]
        return ChangeEvent(
            operation=doc["operationType"],
            document_key=dict(doc.get("documentKey") or {}),
            document=document,
            updated_fields=updated,
            removed_fields=removed,
            resume_token=doc["_id"],
            collection=collection,
            model=model,
            raw=doc,
        )

    def _parse(self, model: type[M], full: Mapping[str, Any]) -> M | None:
        """The event's document as ``model``.  A model with references needs the
        referenced documents, which an event does not carry: it is then loaded as
        ``find_one`` would load it (its state when the event is read; None if gone)."""
        if not has_lookups(model):
            return model.model_validate_doc(full)
        from anyodm.core.operations import find_one

        spec = make_find_spec(model, ({"_id": full.get("_id")},), None, 0, 1, "watch")
        return find_one(self._gateway, spec, self._session)

    def close(self) -> None:
        """Close the stream and kill its server cursor(s); idempotent, any thread.

        Marks the reader closed at once; the driver's cursor is closed once a read
        running in another thread has returned (at most one ``getMore``).
        """
        self.closed = True
        with self._mutex:
            stream, self._stream = self._stream, None
            self._seen = None
            open_cursors.forget(self)
            try:
                if stream is not None:
                    stream.close()
            except PyMongoError:
                log.warning("anyodm: closing a change stream failed", exc_info=True)
            finally:
                self._kill_orphans()

    def _kill_orphans(self) -> None:
        """Send ``killCursors`` for the server cursors the driver dropped without one.

        From a fresh thread: the failure that dropped a cursor is often the caller's
        ``pymongo.timeout()`` running out, which would refuse the kill at once in this
        thread's context.  The kill has its own limit, ``KILL_TIMEOUT``.
        """
        cursor_ids, self._orphans = self._orphans, []
        if not cursor_ids:
            return
        spec = self._spec
        name = "$cmd.aggregate" if spec.database_wide else spec.models[0].__anyodm__.collection
        database, session = self._gateway.database, self._session

        def kill() -> None:
            try:
                with pymongo.timeout(KILL_TIMEOUT):
                    database.command("killCursors", name, cursors=cursor_ids, session=session)
            except PyMongoError:
                log.warning(
                    "anyodm: killing change-stream cursors %s failed", cursor_ids, exc_info=True
                )

        killer = threading.Thread(target=kill, name="anyodm-kill-cursor", daemon=True)
        killer.start()
        killer.join()

    def close_soon(self) -> None:
        """Close from a short-lived thread, for a stream dropped without being closed
        (see :mod:`anyodm.core.open_cursors`).  A stream bound to an explicit session is
        left to the driver, which must not share the session."""
        if self._session is None and self.has_open_cursor and not self.closed:
            open_cursors.close_soon(self.close, "anyodm-stream-close")


def _python_path(path: str, names: Mapping[str, str]) -> str:
    head, dot, tail = path.partition(".")
    return names.get(head, head) + dot + tail


class SyncChangeStream(Generic[M]):
    """The result of ``SyncEngine.watch``: ``with engine.watch(Model) as changes:
    for change in changes: ...``.

    Iteration blocks until the next event (polling the server every
    ``max_await_time``); ``try_next()`` waits at most that long.  A timeout
    (``pymongo.timeout()``) raises and leaves the stream usable.  Leaving the ``with``
    block (or ``close()``) kills the server cursor.
    """

    __slots__ = ("_buffer", "_reader", "_token")

    def __init__(self, reader: ChangeReader[M]) -> None:
        self._reader = reader
        self._buffer: list[ChangeEvent[M] | ChangeFailure] = []
        self._token: Mapping[str, Any] | None = reader.start_token

    @property
    def resume_token(self) -> Mapping[str, Any] | None:
        """The token to resume after the last event returned (None before any event,
        unless the stream started from a token)."""
        return self._token

    def __enter__(self) -> SyncChangeStream[M]:
        self._reader.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[ChangeEvent[M]]:
        return self

    def __next__(self) -> ChangeEvent[M]:
        while True:
            event = self.try_next()
            if event is not None:
                return event
            if self._reader.closed or self._reader.ended:
                raise StopIteration

    def try_next(self) -> ChangeEvent[M] | None:
        """The next event, or None if none arrived within ``max_await_time``."""
        if not self._buffer:
            if self._reader.closed or self._reader.ended:
                return None
            self._buffer = self._reader.next_batch()
            self._buffer.reverse()
            if not self._buffer:
                return None
        item = self._buffer.pop()
        self._token = item.resume_token
        if isinstance(item, ChangeFailure):
            raise item.error
        return item

    def close(self) -> None:
        """Kill the server cursor now (idempotent)."""
        self._buffer.clear()
        self._reader.close()

    def __del__(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close_soon()
