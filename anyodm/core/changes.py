"""Change streams, written once over PyMongo: the watch spec, the typed event, the reader.

``ChangeReader`` is the synchronous core that both engines use: ``SyncChangeStream``
calls it directly; the async ``ChangeStream`` (``anyodm/aio/changes.py``) runs each call
in a worker thread.  Its shape follows from three needs:

* **A short wait.** One :meth:`ChangeReader.next_batch` is at most one ``getMore``, which
  the server holds for at most ``max_await_time`` seconds when nothing happens.  That is
  how long a cancelled async stream's thread can still be busy, so it bounds
  cancellation.  The driver's cursor keeps ``maxAwaitTimeMS`` on the ``getMore`` even
  under ``pymongo.timeout()`` (whose remaining time then bounds the socket wait).
* **No lost server cursor.** When a ``getMore`` fails (a deadline, a network error), the
  driver forgets its cursor without ``killCursors``.  The reader remembers the cursor id
  and kills it itself in :meth:`ChangeReader.close`.
* **MongoDB's resume rule.** A resumable error (network error, or a server error
  labelled ``ResumableChangeStreamError`` / with a resumable code) reopens the stream
  once, from the token of the last event read; a timeout is never resumed.

Only public PyMongo API is used: ``Collection.aggregate_raw_batches`` (one server batch
per call) for a model's collection, ``Database.aggregate`` for a database-wide stream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import bson
import pymongo
from pymongo.client_session import ClientSession
from pymongo.command_cursor import CommandCursor
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from anyodm.core.arguments import check_model_class
from anyodm.core.find import make_find_spec
from anyodm.core.gateway import DatabaseGateway
from anyodm.model.query import build_filter
from anyodm.model.references import has_lookups

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = [
    "DEFAULT_MAX_AWAIT_TIME",
    "ChangeEvent",
    "ChangeReader",
    "SyncChangeStream",
    "WatchSpec",
    "make_watch_spec",
]

M = TypeVar("M", bound="Model")

log = logging.getLogger("anyodm")

#: Seconds a getMore waits on the server for new events; bounds cancellation.
DEFAULT_MAX_AWAIT_TIME = 0.25
#: Seconds the killCursors of a cursor the driver forgot may take.
KILL_TIMEOUT = 10.0
#: Events per server batch.
DEFAULT_BATCH_SIZE = 100
_FULL_DOCUMENT = (None, "default", "updateLookup", "whenAvailable", "required")
#: Server error codes MongoDB's change-stream spec calls resumable (servers < 4.4
#: send no ResumableChangeStreamError label).
_RESUMABLE_CODES = frozenset(
    {6, 7, 43, 63, 89, 91, 133, 150, 189, 234, 262, 9001, 10107, 11600, 11602, 13388, 13435, 13436}
)


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
class WatchSpec(Generic[M]):
    """A validated watch: where, what to match, and where to start."""

    models: tuple[type[M], ...]
    database_wide: bool
    pipeline: list[dict[str, Any]]
    options: dict[str, Any]
    max_await_time: float
    batch_size: int

    def model_for(self, collection: str | None) -> type[M] | None:
        for model in self.models:
            if model.__anyodm__.collection == collection:
                return model
        return None


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
    if batch_size < 1:
        raise ValueError(f"{operation}(batch_size=...) must be at least 1, got {batch_size!r}")
    pipeline: list[dict[str, Any]] = []
    if database_wide:
        names = [m.__anyodm__.collection for m in models]
        pipeline.append({"$match": {"ns.coll": {"$in": names}}})
    elif queries:
        filter_ = build_filter(models[0], *queries)
        if filter_:
            pipeline.append({"$match": _on_full_document(filter_, models[0].__name__)})
    options: dict[str, Any] = {}
    if full_document is not None:
        options["fullDocument"] = full_document
    if resume_after is not None:
        options["resumeAfter"] = dict(resume_after)
    if start_after is not None:
        options["startAfter"] = dict(start_after)
    return WatchSpec(models, database_wide, pipeline, options, max_await_time, batch_size)


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


def _is_resumable(exc: PyMongoError) -> bool:
    if exc.timeout:
        return False
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, OperationFailure):
        return exc.has_error_label("ResumableChangeStreamError") or exc.code in _RESUMABLE_CODES
    return False


class ChangeReader(Generic[M]):
    """The server side of one stream: opens it, reads a batch per call, closes it.

    Not thread-safe: one call at a time (the async front runs each in a worker thread,
    one after the other).
    """

    __slots__ = (
        "_cursor",
        "_cursor_id",
        "_gateway",
        "_key_names",
        "_orphan_id",
        "_session",
        "_spec",
        "closed",
        "last_token",
    )

    def __init__(
        self, gateway: DatabaseGateway, spec: WatchSpec[M], session: ClientSession | None
    ) -> None:
        self._gateway = gateway
        self._spec = spec
        self._session = session
        self._cursor: CommandCursor[Any] | None = None
        self._cursor_id = 0
        self._orphan_id = 0  # a server cursor the driver forgot without killing it
        self._key_names = {
            model: {stored: name for name, stored in model.__anyodm__.key_names.items()}
            for model in spec.models
        }
        #: The token of the last event read from the server (or the starting token).
        self.last_token: Mapping[str, Any] | None = spec.options.get(
            "resumeAfter", spec.options.get("startAfter")
        )
        self.closed = False

    @property
    def has_open_cursor(self) -> bool:
        """True while a server cursor may exist (open, or forgotten by the driver)."""
        return self._cursor is not None or bool(self._orphan_id)

    def open(self) -> None:
        """Start the stream (the server's ``aggregate``); later changes will be seen."""
        if self.closed:
            raise RuntimeError("this change stream is closed")
        if self._cursor is None:
            self._cursor = self._start(self._spec.options)

    def _start(self, options: Mapping[str, Any]) -> CommandCursor[Any]:
        spec = self._spec
        pipeline = [{"$changeStream": dict(options)}, *spec.pipeline]
        kwargs: dict[str, Any] = {
            "session": self._session,
            "maxAwaitTimeMS": max(1, round(spec.max_await_time * 1000)),
            "batchSize": spec.batch_size,
        }
        cursor: CommandCursor[Any]
        if spec.database_wide:
            cursor = self._gateway.database.aggregate(pipeline, **kwargs)
        else:
            collection = self._gateway.collection(spec.models[0])
            cursor = collection.aggregate_raw_batches(pipeline, **kwargs)  # type: ignore[assignment]
        self._cursor_id = cursor.cursor_id or 0
        return cursor

    def next_batch(self) -> list[ChangeEvent[M]]:
        """The next events: at most one ``getMore``, empty if none came in
        ``max_await_time``.  Resumes once on a resumable error."""
        self.open()
        try:
            docs = self._read()
        except PyMongoError as exc:
            self._forget_cursor()
            if not _is_resumable(exc):
                raise
            log.info("anyodm: change stream resuming after %s", exc)
            self._resume()
            try:
                docs = self._read()
            except PyMongoError:
                self._forget_cursor()
                raise
        events = [self._event(doc) for doc in docs]
        if events:
            self.last_token = events[-1].resume_token
        return events

    def _read(self) -> list[Mapping[str, Any]]:
        cursor = self._cursor
        assert cursor is not None
        if self._spec.database_wide:
            doc = cursor.try_next()
            return [] if doc is None else [doc]
        batch = cursor.try_next()
        if not batch:
            return []
        codec = self._gateway.database.codec_options
        docs: list[Mapping[str, Any]] = bson.decode_all(batch, codec)
        return docs

    def _resume(self) -> None:
        self.kill_orphan()
        options = dict(self._spec.options)
        if self.last_token is not None:
            options.pop("startAfter", None)
            options["resumeAfter"] = dict(self.last_token)
        self._cursor = self._start(options)

    def _forget_cursor(self) -> None:
        """After a failed getMore: the driver dropped its cursor, perhaps without a
        killCursors; remember the id so that close() kills it."""
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            self._orphan_id = self._cursor_id if not cursor.alive else 0
            if cursor.alive:
                cursor.close()

    def _event(self, raw: Mapping[str, Any]) -> ChangeEvent[M]:
        ns = raw.get("ns") or {}
        collection = ns.get("coll") if isinstance(ns, Mapping) else None
        model = self._spec.models[0] if not self._spec.database_wide else None
        if model is None:
            model = self._spec.model_for(collection)
        names = self._key_names.get(model, {}) if model is not None else {}
        full = raw.get("fullDocument")
        document = None
        if model is not None and isinstance(full, Mapping):
            document = self._parse(model, full)
        description = raw.get("updateDescription") or {}
        updated = {
            _python_path(path, names): value
            for path, value in (description.get("updatedFields") or {}).items()
        }
        removed = [_python_path(path, names) for path in description.get("removedFields") or []]
        return ChangeEvent(
            operation=raw["operationType"],
            document_key=dict(raw.get("documentKey") or {}),
            document=document,
            updated_fields=updated,
            removed_fields=removed,
            resume_token=raw["_id"],
            collection=collection,
            model=model,
            raw=raw,
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
        """Kill the server cursor (also one the driver forgot); idempotent."""
        self.closed = True
        cursor, self._cursor = self._cursor, None
        try:
            if cursor is not None:
                if cursor.alive:
                    cursor.close()
                else:
                    self._orphan_id = self._orphan_id or self._cursor_id
        finally:
            self.kill_orphan()

    def kill_orphan(self) -> None:
        """Send ``killCursors`` for a server cursor the driver dropped without one.

        From a fresh thread: the failure that orphaned the cursor is often the caller's
        ``pymongo.timeout()`` running out, which would refuse the kill at once in this
        thread's context.  The kill has its own limit, ``KILL_TIMEOUT``.
        """
        cursor_id, self._orphan_id = self._orphan_id, 0
        if not cursor_id:
            return
        spec = self._spec
        name = "$cmd.aggregate" if spec.database_wide else spec.models[0].__anyodm__.collection
        database, session = self._gateway.database, self._session

        def kill() -> None:
            try:
                with pymongo.timeout(KILL_TIMEOUT):
                    database.command("killCursors", name, cursors=[cursor_id], session=session)
            except PyMongoError:
                log.warning(
                    "anyodm: killing change-stream cursor %s failed", cursor_id, exc_info=True
                )

        killer = threading.Thread(target=kill, name="anyodm-kill-cursor", daemon=True)
        killer.start()
        killer.join()

    def close_soon(self) -> None:
        """Close from a short-lived thread, for a stream dropped without being closed
        (garbage collection: this thread may hold a driver lock).  A stream bound to an
        explicit session is left to the driver, which must not share the session."""
        if self._session is None and self.has_open_cursor and not self.closed:
            threading.Thread(target=self.close, name="anyodm-stream-close", daemon=True).start()


def _python_path(path: str, names: Mapping[str, str]) -> str:
    head, dot, tail = path.partition(".")
    return names.get(head, head) + dot + tail


class SyncChangeStream(Generic[M]):
    """The result of ``SyncEngine.watch``: ``with engine.watch(Model) as changes:
    for change in changes: ...``.

    Iteration blocks until the next event (polling the server every
    ``max_await_time``); ``try_next()`` waits at most that long.  Leaving the ``with``
    block (or ``close()``) kills the server cursor.
    """

    __slots__ = ("_buffer", "_reader", "_token")

    def __init__(self, reader: ChangeReader[M]) -> None:
        self._reader = reader
        self._buffer: list[ChangeEvent[M]] = []
        self._token: Mapping[str, Any] | None = reader.last_token

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
            if self._reader.closed:
                raise StopIteration

    def try_next(self) -> ChangeEvent[M] | None:
        """The next event, or None if none arrived within ``max_await_time``."""
        if not self._buffer:
            if self._reader.closed:
                return None
            try:
                self._buffer = self._reader.next_batch()
            except BaseException:
                self.close()
                raise
            self._buffer.reverse()
            if not self._buffer:
                return None
        event = self._buffer.pop()
        self._token = event.resume_token
        return event

    def close(self) -> None:
        """Kill the server cursor now (idempotent)."""
        self._buffer.clear()
        self._reader.close()

    def __del__(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close_soon()
