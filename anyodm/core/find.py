"""Finding documents: the validated find specification and the batch reader."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.command_cursor import CommandCursor
from pymongo.cursor import Cursor

from anyodm.core import open_cursors
from anyodm.core.arguments import (
    check_model_class,
    check_references,
    check_skip_limit,
    check_with_children,
)
from anyodm.core.batches import decode_into
from anyodm.core.decoding import into_decoder
from anyodm.core.gateway import DatabaseGateway
from anyodm.core.kinds import refuse_write
from anyodm.core.options import NO_OPTIONS, CallOptions, refuse_in_transaction
from anyodm.core.pending import note_loaded
from anyodm.core.polymorphism import keep_pipeline_to_class
from anyodm.errors import CursorClosedError, InvalidFieldError
from anyodm.model.pipeline import build_pipeline
from anyodm.model.projection import projection_for
from anyodm.model.query import build_filter, build_sort
from anyodm.model.references import ReadPlan, path_into_references, read_plan
from anyodm.model.text_search import check_text_search, has_text_search

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = [
    "BatchReader",
    "FindSpec",
    "make_aggregate_spec",
    "make_filter_spec",
    "make_find_spec",
    "make_first_spec",
    "open_cursor",
    "read_all",
    "refuse_paths_into_references",
]

M = TypeVar("M")

#: Server batch size when streaming with ``for``/``async for``: one batch per thread hop,
#: so only one batch is held at a time (some servers, the embedded one included, would
#: otherwise send a whole result in one reply), and leaving early has a cursor to close.
STREAM_BATCH_SIZE = 100
#: Raw documents taken from the driver's buffer per decoding step when reading a whole
#: result (the driver's batches themselves are as large as the server makes them).
READ_CHUNK = 1024

RawCursor = Cursor[RawBSONDocument] | CommandCursor[RawBSONDocument]


class FindSpec(Generic[M]):
    """A validated query: what to send for one ``find``/``find_one``/``count``.

    ``limit`` 0 means no limit; ``pipeline`` is the aggregation used instead of a plain
    find when the model has references (or the user's, for ``aggregate``);
    ``projection`` the keys requested; ``decode`` turns each returned document into a
    result (``model.model_validate_doc`` unless a projection or ``into=`` says otherwise;
    ``keys_only``: the model's references read as their keys).
    """

    __slots__ = (
        "decode",
        "filter",
        "limit",
        "load",
        "model",
        "options",
        "pipeline",
        "projection",
        "skip",
        "sort",
    )

    def __init__(
        self,
        model: type[Model],
        filter: dict[str, Any],
        sort: list[tuple[str, int]] | None,
        skip: int,
        limit: int,
        pipeline: list[dict[str, Any]] | None,
        decode: Callable[[Mapping[str, Any]], M] | None = None,
        projection: dict[str, Any] | None = None,
        keys_only: bool = False,
    ) -> None:
        self.model: type[Model] = model
        self.filter: dict[str, Any] = filter
        self.sort: list[tuple[str, int]] | None = sort
        self.skip: int = skip
        self.limit: int = limit
        self.pipeline: list[dict[str, Any]] | None = pipeline
        #: turns a returned document into a result
        self.decode: Callable[[Mapping[str, Any]], M]
        #: ``decode`` of a document read from the server with its bytes (the instance's
        #: saved state, kept as they are)
        self.load: Callable[[Mapping[str, Any], bytes | memoryview], M]
        if keys_only:
            self.load = model.__anyodm_load_keys__  # type: ignore[assignment]
            self.decode = partial(model.__anyodm_load_keys__, raw=None)  # type: ignore[assignment]
        elif decode is None:
            self.decode = model.model_validate_doc  # type: ignore[assignment]
            self.load = model.__anyodm_load__  # type: ignore[assignment]
        else:
            self.decode = decode
            self.load = _without_bytes(decode)
        self.projection: dict[str, Any] | None = projection
        #: the call's driver options and concerns (set by the engine's front)
        self.options: CallOptions = NO_OPTIONS

    def collection(
        self, gateway: DatabaseGateway, session: ClientSession | None, raw: bool = False
    ) -> Collection[Any]:
        """The model's collection with the call's concerns (refused in a transaction)."""
        concerns = self.options.concerns
        if concerns is not None:
            refuse_in_transaction(self.options, session)
        if raw:
            return gateway.raw_collection(self.model, concerns)
        return gateway.collection(self.model, concerns)


def _without_bytes(
    decode: Callable[[Mapping[str, Any]], M],
) -> Callable[[Mapping[str, Any], bytes | memoryview], M]:
    def load(doc: Mapping[str, Any], raw: bytes | memoryview) -> M:
        return decode(doc)

    return load


def make_find_spec(
    model: type[Any],
    queries: tuple[Any, ...],
    sort: Any,
    skip: Any,
    limit: Any,
    operation: str,
    projection: type[Any] | None = None,
    references: Any = "load",
    with_children: Any = True,
) -> FindSpec[Any]:
    """Validate and build a find; raises before anything is sent on bad input.

    For an operation other than a find (``find_one_and_delete``, an update with
    ``sort=``), which sends the filter and sort on the stored documents, a key reaching
    into a referenced document is refused (:func:`refuse_paths_into_references`), as
    for a find with ``references="keys"``, which looks nothing up. ``with_children=False``
    keeps a polymorphic class to its own documents (a no-op outside a family)."""
    checked = check_model_class(model, operation)
    if operation in _WRITES:
        refuse_write(checked, operation)
    skip_n, limit_n = check_skip_limit(skip, limit, operation)
    keys_only = check_references(references, operation)
    children = check_with_children(with_children, operation)
    if keys_only and projection is not None:
        raise _keys_with_projection(checked, operation)
    filter_ = build_filter(checked, *queries, with_children=children)
    sort_ = None if sort is None else build_sort(checked, sort)
    view = None if projection is None else projection_for(checked, projection)
    reads_score = view is not None and view.reads_text_score
    check_text_search(checked, filter_, sort_, reads_score, operation)
    plan = read_plan(checked)
    if operation not in _FINDS:
        refuse_paths_into_references(checked, filter_, sort_, operation)
    else:
        refuse_text_search_after_lookups(checked, filter_, sort_, operation, plan)
    if keys_only:
        _refuse_paths_with_keys(checked, filter_, sort_, operation)
        return FindSpec(checked, filter_, sort_, skip_n, limit_n, None, keys_only=True)
    if projection is None:
        pipeline = plan.pipeline(filter_, sort_, skip_n, limit_n or None)
        return FindSpec(checked, filter_, sort_, skip_n, limit_n, pipeline)
    assert view is not None
    pipeline = None
    if view.needs_lookups:
        pipeline = plan.pipeline(filter_, sort_, skip_n, limit_n or None, in_place=True)
        if pipeline is not None:
            pipeline.append({"$project": dict(view.keys)})
    return FindSpec(
        checked, filter_, sort_, skip_n, limit_n, pipeline, view.decode, dict(view.keys)
    )


def make_first_spec(
    model: type[Any],
    queries: tuple[Any, ...],
    sort: Any,
    projection: type[Any] | None = None,
    references: Any = "load",
    with_children: Any = True,
) -> FindSpec[Any]:
    """:func:`make_find_spec` for ``find_one`` (skip 0, limit 1: nothing to check)."""
    loads = isinstance(references, str) and references == "load"
    if projection is not None or not loads or with_children is not True:
        return make_find_spec(
            model, queries, sort, 0, 1, "find_one", projection, references, with_children
        )
    checked = check_model_class(model, "find_one")
    filter_ = build_filter(checked, *queries)
    sort_ = None if sort is None else build_sort(checked, sort)
    if sort_ is not None:
        check_text_search(checked, filter_, sort_, False, "find_one")
    plan = read_plan(checked)
    refuse_text_search_after_lookups(checked, filter_, sort_, "find_one", plan)
    pipeline = plan.pipeline(filter_, sort_, 0, 1)
    return FindSpec(checked, filter_, sort_, 0, 1, pipeline)


def _keys_with_projection(model: type[Any], operation: str) -> TypeError:
    return TypeError(
        f"{operation}(): references='keys' and projection= cannot be combined "
        f"(on {model.__name__}): a projection view chooses what it reads itself; give a "
        "reference field of the view the key's type (ObjectId) to read the key"
    )


def _refuse_paths_with_keys(model: type[Any], filter_: Any, sort: Any, operation: str) -> None:
    key = path_into_references(model, filter_, sort)
    if key is not None:
        raise InvalidFieldError(
            model,
            f"{model.__name__}.{key}",
            f"{operation}(references='keys') cannot filter or sort on a field of a "
            f"referenced document ({key!r}): it looks no referenced document up; filter "
            "on the reference's keys, or load the references (references='load')",
        )


def make_filter_spec(
    model: type[Any], queries: tuple[Any, ...], operation: str, with_children: Any = True
) -> FindSpec[Any]:
    """Only the filter, for ``count``/``remove``/updates/``distinct`` (no sort, no
    window, no lookups). A raw filter reaching into a referenced document
    (``{"authors.name": ...}``), which a find matches after loading the references,
    gets a count the same pipeline as the find (ending in ``$count``); any other
    operation refuses it before anything is sent (it would mean something else on the
    stored documents, which hold only the referenced keys)."""
    checked = check_model_class(model, operation)
    if operation in _WRITES:
        refuse_write(checked, operation)
    children = check_with_children(with_children, operation)
    filter_ = build_filter(checked, *queries, with_children=children)
    if not filter_:
        return FindSpec(checked, filter_, None, 0, 0, None)
    plan = read_plan(checked)
    key = plan.path_into(filter_)
    if key is None:
        return FindSpec(checked, filter_, None, 0, 0, None)
    if operation != "count":
        raise _into_references_refused(checked, key, operation)
    refuse_text_search_after_lookups(checked, filter_, None, operation, plan)
    pipeline = plan.pipeline(filter_, None, 0, None)
    assert pipeline is not None  # a model with references to reach into
    return FindSpec(checked, filter_, None, 0, 0, [*pipeline, {"$count": "n"}])


#: the operations that write with a filter (refused on views before anything else)
_WRITES = frozenset(
    {"remove", "update_one", "update_many", "find_one_and_update", "find_one_and_delete"}
)

#: the operations whose filter and sort are matched as finds match them (after the
#: references are loaded)
_FINDS = frozenset({"find", "find_one", "watch"})


def refuse_paths_into_references(model: type[Any], filter_: Any, sort: Any, operation: str) -> None:
    """``InvalidFieldError`` naming the model and the key if ``filter_`` or ``sort``
    reaches into a referenced document: ``operation`` would send it on the stored
    documents, where it cannot mean what it means to a find."""
    key = path_into_references(model, filter_, sort)
    if key is not None:
        raise _into_references_refused(model, key, operation)


def refuse_text_search_after_lookups(
    model: type[Any], filter_: Any, sort: Any, operation: str, plan: ReadPlan | None = None
) -> None:
    """``InvalidFieldError`` if a text search comes with a filter or sort on a
    referenced document's fields: those are matched after the lookups, and MongoDB runs
    a ``$text`` search only in the first stage of an aggregation."""
    if not has_text_search(filter_):
        return
    key = (plan or read_plan(model)).path_into(filter_, sort)
    if key is not None:
        raise InvalidFieldError(
            model,
            f"{model.__name__}.{key}",
            f"{operation}() cannot combine a text search (query.text) with a filter or "
            f"sort on a field of a referenced document ({key!r}): MongoDB searches text "
            "only before the references are looked up; filter on the reference's keys",
        )


def _into_references_refused(model: type[Any], key: str, operation: str) -> InvalidFieldError:
    return InvalidFieldError(
        model,
        f"{model.__name__}.{key}",
        f"{operation}() cannot filter or sort on a field of a referenced document "
        f"({key!r}): it sends its filter on the stored documents, which hold only the "
        "referenced keys (finds match it after loading the references); filter on "
        "the reference's keys instead, e.g. the ids of a find on the referenced model",
    )


def make_aggregate_spec(model: type[Any], pipeline: Any, into: type[Any] | None) -> FindSpec[Any]:
    """Validate an aggregation on ``model``'s collection and how to decode its results
    (a polymorphic subclass's reads only its documents: :func:`keep_pipeline_to_class`)."""
    checked = check_model_class(model, "aggregate")
    stages = keep_pipeline_to_class(checked, build_pipeline(checked, pipeline))
    return FindSpec(checked, {}, None, 0, 0, stages, into_decoder(into))


def open_cursor(
    gateway: DatabaseGateway,
    spec: FindSpec[Any],
    session: ClientSession | None,
    batch_size: int = 0,
) -> RawCursor:
    """Start the driver cursor for ``spec``, of undecoded documents (no round trip until
    it is read).  ``batch_size`` 0: the server's own batch sizes (or the call's
    ``batch_size=``)."""
    collection = spec.collection(gateway, session, raw=True)
    options = spec.options
    batch_size = options.batch_size or batch_size
    if spec.pipeline is None:
        return collection.find(
            spec.filter,
            projection=spec.projection,
            sort=spec.sort,
            skip=spec.skip,
            limit=spec.limit,
            batch_size=batch_size,
            session=session,
            **options.driver,
        )
    if batch_size:
        return collection.aggregate(
            spec.pipeline, session=session, batchSize=batch_size, **options.aggregate_kwargs()
        )
    return collection.aggregate(spec.pipeline, session=session, **options.aggregate_kwargs())


def read_all(
    cursor: RawCursor,
    codec_options: CodecOptions[Any],
    load: Callable[[Mapping[str, Any], bytes | memoryview], M],
) -> list[M]:
    """Every remaining document of ``cursor``, decoded and validated in slices.

    The round trips are the cursor's (whole server batches); the decoding hands the GIL
    over every millisecond of decoding (see :mod:`anyodm.core.batches`).
    """
    found: list[M] = []
    while raw := cursor.to_list(READ_CHUNK):
        decode_into(found, raw, codec_options, load)
    return found


class BatchReader(Generic[M]):
    """Reads a result batch by batch (one round trip each), decoding into models.

    Holds only the batch being read, never every document it returned;
    :meth:`read_rest` reads everything left with the server's own batch sizes.
    Thread-safe: reads take turns on a lock, and :meth:`close` (from any thread) marks
    the reader closed at once, so a read that had not started raises
    :class:`~anyodm.errors.CursorClosedError` instead of reading.
    """

    __slots__ = (
        "__weakref__",
        "_batch_size",
        "_codec",
        "_cursor",
        "_gateway",
        "_mutex",
        "_session",
        "_spec",
        "_validate",
        "closed",
        "done",
    )

    def __init__(
        self,
        gateway: DatabaseGateway,
        spec: FindSpec[M],
        session: ClientSession | None,
        batch_size: int = STREAM_BATCH_SIZE,
    ) -> None:
        self._gateway = gateway
        self._spec = spec
        self._session = session
        self._batch_size = spec.options.batch_size or batch_size
        self._cursor: RawCursor | None = None
        self._validate: Callable[[Mapping[str, Any], bytes | memoryview], M] = spec.load
        self._codec = gateway.codec_options(spec.model)
        self._mutex = threading.Lock()
        #: read to its end, or closed
        self.done: bool = False
        #: closed by close() (a read after it raises CursorClosedError)
        self.closed: bool = False

    @property
    def session(self) -> ClientSession | None:
        """The driver session the reader's cursor is bound to, if any."""
        return self._session

    @property
    def has_open_cursor(self) -> bool:
        """True while a driver cursor may still hold a cursor on the server."""
        return self._cursor is not None and not self.done

    def _check_open(self) -> None:
        if self.closed:
            raise CursorClosedError("this cursor was closed before this read ran")

    def _open(self, batch_size: int) -> RawCursor:
        cursor = open_cursor(self._gateway, self._spec, self._session, batch_size)
        self._cursor = cursor
        if self.closed:  # closed while the query ran: do not keep its cursor
            self._close_locked()
            self._check_open()
        if self._session is None:
            open_cursors.remember(self)
        return cursor

    def next_batch(self) -> list[M]:
        """The next batch of models; an empty list once the result is exhausted."""
        raw = self.read_raw()
        try:
            return self.decode(raw)
        except BaseException:
            with self._mutex:
                self._close_locked()
            raise

    def read_raw(self) -> list[RawBSONDocument]:
        """The next batch, undecoded (at most one round trip); empty at the end.

        Only this touches the driver cursor (one thread at a time, under the lock); on
        a failure the cursor is closed."""
        with self._mutex:
            self._check_open()
            if self.done:
                return []
            cursor = self._cursor or self._open(self._batch_size)
            try:
                raw = cursor.to_list(self._batch_size)
                if not raw or not cursor.alive:
                    self.done = True
                    open_cursors.forget(self)
            except BaseException:
                self._close_locked()
                raise
            return raw

    def decode(self, raw: list[RawBSONDocument]) -> list[M]:
        """Decode and validate a batch :meth:`read_raw` returned.  It touches neither
        the driver cursor nor its session, so it may run in one thread while another
        thread reads the next batch."""
        models: list[M] = []
        decode_into(models, raw, self._codec, self._validate)
        note_loaded(models, self._session)
        return models

    def read_rest(self) -> list[M]:
        """Every remaining model, then the cursor is closed.

        Not started yet: the whole result is read with the server's own batch sizes
        (usually one round trip) instead of streaming batches.
        """
        with self._mutex:
            self._check_open()
            if self.done:
                self._close_locked()
                return []
            try:
                cursor = self._cursor or self._open(0)
                models = read_all(cursor, self._codec, self._validate)
                note_loaded(models, self._session)
                return models
            finally:
                self._close_locked()

    def close(self) -> None:
        """Close the driver cursor (kills the server cursor if it is still open); any
        thread.  Marks the reader closed at once; the cursor is closed once a read
        running in another thread has returned (one round trip at most)."""
        self.closed = True
        with self._mutex:
            self._close_locked()

    def _close_locked(self) -> None:
        self.done = True
        open_cursors.forget(self)
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            cursor.close()

    def close_soon(self) -> None:
        """Close without blocking or taking the driver's locks in this thread.

        For a reader dropped early (``break``, an exception, garbage collection, where
        the current thread may even hold one of the driver's locks): the server cursor
        is killed from a short-lived thread (see :mod:`anyodm.core.open_cursors`), or —
        when it belongs to an explicit session, which must not be used by two threads —
        by the driver's own background task.
        """
        session = self._session
        cursor = self.detach()
        if cursor is not None and session is None:
            open_cursors.close_soon(cursor.close, "anyodm-cursor-close")

    def detach(self) -> RawCursor | None:
        """Give up the driver cursor without closing it (for a close elsewhere)."""
        self.done = True
        open_cursors.forget(self)
        cursor, self._cursor = self._cursor, None
        return cursor
