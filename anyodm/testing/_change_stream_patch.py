"""Change streams over the wire for mongoeco 4.11.0, applied in the embedded server only.

mongoeco's wire server answers an ``aggregate`` with a ``$changeStream`` stage with
"Unsupported aggregation stage", and its in-process change-stream hub is not a history
one can rely on (it drops events whose commit number lags, records nothing while nobody
watches, and gives updates no ``updateDescription``).  This patch serves change streams
from a history of its own:

* **The event log.** Every committed write is appended to one ordered log, whether or
  not anyone watches: ``MemoryEngine._record_committed_change`` is made to keep the
  payload of every write that has an ``_id`` (instead of a payload-less gap when no hub
  watcher exists), and ``_prepare_committed_changes_locked`` — called exactly once when
  writes become visible, at the end of a single write or at a transaction's commit —
  appends those payloads to the log.  An aborted transaction never reaches it.  Update
  events get an ``updateDescription`` computed from the document before and after
  (top-level fields).  The engine runs on the server's event loop thread, so the log's
  order is the commit order.  The log keeps the last ``LOG_CAPACITY`` events; resuming
  from an older token fails with ``ChangeStreamHistoryLost`` (286), as on MongoDB.
* **The wire commands.** ``WireCommandExecutor.execute_prepared`` answers ``aggregate``
  with a ``$changeStream`` first stage (collection, database, or cluster-wide on
  ``admin``; ``resumeAfter``/``startAfter``/``startAtOperationTime``; ``fullDocument``;
  further ``$match``/``$project``/... stages), ``getMore`` on those cursors (waiting up
  to ``maxTimeMS`` — PyMongo's ``maxAwaitTimeMS`` — for events, always answering with a
  ``postBatchResumeToken``) and ``killCursors``; ``serverStatus`` counts the open
  change-stream cursors in ``metrics.cursor.open.total``.  The aggregate and getMore
  replies carry an ``operationTime`` (see ``operation_time``): a stream started with
  ``startAtOperationTime`` at the one of an aggregate sends exactly what that stream
  would have (drivers resume from it when a reply has no ``postBatchResumeToken``;
  these replies always have one, which PyMongo prefers).  ``failCommand`` reaches
  these commands through ``_fail_command_patch.py``.

Not served: ``fullDocumentBeforeChange`` (pre-images), ``showExpandedEvents``, and the
events of DDL (``drop``/``rename``/``dropDatabase``/``invalidate``).  ``updateLookup`` /
``whenAvailable`` / ``required`` return the document as the update left it.  Loaded by
``_child.py``; needs nothing of anyodm.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib
import importlib.metadata
import itertools
import sys
import time
from collections import deque
from typing import Any

PATCHED_FOR = "4.11.0"
_MARK = "__anyodm_change_streams__"

#: Events kept for resuming (older tokens: ChangeStreamHistoryLost).
LOG_CAPACITY = 100_000
#: getMore's wait when the driver sends no maxTimeMS (MongoDB's default for awaitData).
DEFAULT_AWAIT_MS = 1000
#: Change-stream cursor ids start here, far from the wire store's own small ids (and
#: below 2**31: mongoeco's wire layer refuses a getMore whose id arrives as an int64).
_CURSOR_ID_BASE = 1 << 30

_CURSOR_NOT_FOUND = 43
_FATAL = 280
_HISTORY_LOST = 286
_FULL_DOCUMENT_MODES = frozenset({"default", "updateLookup", "whenAvailable", "required"})
_PIPELINE_STAGES = frozenset(
    {"$match", "$project", "$addFields", "$set", "$unset", "$replaceRoot", "$replaceWith"}
)


def token_for(sequence: int) -> dict[str, str]:
    """The resume token of the event at ``sequence`` (0: before every event)."""
    return {"_data": f"{sequence:016X}"}


def operation_time(last: int) -> Any:
    """The ``operationTime`` of a reply sent when ``last`` is the newest event.

    Events carry ``clusterTime = Timestamp(wall, sequence)`` and ``startAtOperationTime``
    starts after position ``inc - 1``; this Timestamp's ``inc`` is ``last + 1``, so a
    stream started at it resumes at exactly ``last``: the next event is the first it
    sends, and nothing before it is sent again.
    """
    from bson import Timestamp

    return Timestamp(int(time.time()), (last + 1) & 0xFFFFFFFF)


def sequence_of(token: object) -> int:
    """The log position named by a resume token; OperationFailure if it is not ours."""
    from mongoeco.errors import OperationFailure

    data = token.get("_data") if isinstance(token, dict) else None
    if isinstance(data, str) and len(data) == 16:
        try:
            return int(data, 16)
        except ValueError:
            pass
    raise OperationFailure(f"invalid resume token: {token!r}", code=_FATAL)


class EventLog:
    """Every committed change, in commit order, numbered from 1."""

    def __init__(self, capacity: int = LOG_CAPACITY) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=capacity)
        self.last = 0  # sequence of the newest event
        self._changed = asyncio.Event() if _has_loop() else None

    @property
    def first_available(self) -> int:
        """The oldest sequence still in the log (``last + 1`` when empty)."""
        return self.last - len(self._events) + 1

    def append(self, payload: dict[str, Any]) -> None:
        self.last += 1
        self._events.append({**payload, "sequence": self.last, "wall": time.time()})
        if self._changed is not None:
            self._changed.set()

    def after(self, sequence: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` events following ``sequence``."""
        start = sequence + 1 - self.first_available
        if start < 0:
            raise _history_lost(sequence)
        return list(itertools.islice(self._events, start, start + limit))

    def check_resumable(self, sequence: int) -> None:
        from mongoeco.errors import OperationFailure

        if sequence > self.last:
            raise OperationFailure(
                f"resume token {sequence} is ahead of this server's history ({self.last})",
                code=_FATAL,
            )
        if sequence + 1 < self.first_available:
            raise _history_lost(sequence)

    async def wait(self, timeout: float) -> None:
        """Return when an event is appended, or after ``timeout`` seconds."""
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def wake(self) -> None:
        if self._changed is not None:
            self._changed.set()


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _history_lost(sequence: int) -> Exception:
    from mongoeco.errors import OperationFailure

    error: Exception = OperationFailure(
        f"resume point {sequence} is no longer in the change stream history",
        code=_HISTORY_LOST,
    )
    return error


class _SharedPayload(dict[str, Any]):
    """A change payload that mongoeco's engine may "deep-copy" for free.

    The engine copies each payload two or three times on its way to its own hub; this
    one is built fresh for each write and never mutated afterwards, so sharing it is
    safe and keeps the cost of recording every write small.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedPayload:
        return self


def update_description(before: Any, after: Any) -> dict[str, Any]:
    """The top-level fields an update set or removed."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    updated = {
        key: value
        for key, value in after.items()
        if key not in before or type(before[key]) is not type(value) or before[key] != value
    }
    removed = [key for key in before if key not in after]
    return {"updatedFields": updated, "removedFields": removed, "truncatedArrays": []}


class StreamCursor:
    """One open change-stream cursor: its scope, filter and position in the log."""

    __slots__ = ("closed", "coll", "db", "full_document", "id", "ns", "pipeline", "position")

    def __init__(
        self,
        cursor_id: int,
        db: str | None,
        coll: str | None,
        ns: str,
        pipeline: list[dict[str, Any]],
        full_document: str,
        position: int,
    ) -> None:
        self.id = cursor_id
        self.db = db
        self.coll = coll
        self.ns = ns
        self.pipeline = pipeline
        self.full_document = full_document
        self.position = position
        self.closed = False

    def event_document(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The change event for ``record`` as this cursor shows it; None if filtered."""
        from bson import Timestamp
        from mongoeco.core.aggregation import apply_pipeline
        from mongoeco.core.codec import DocumentCodec
        from mongoeco.errors import OperationFailure

        if self.db is not None and record["db_name"] != self.db:
            return None
        if self.coll is not None and record["coll_name"] != self.coll:
            return None
        operation = record["operation_type"]
        sequence = record["sequence"]
        wall = record["wall"]
        event: dict[str, Any] = {
            "_id": token_for(sequence),
            "operationType": operation,
            "clusterTime": Timestamp(int(wall), sequence & 0xFFFFFFFF),
            "wallTime": datetime.datetime.fromtimestamp(wall, datetime.timezone.utc),
            "ns": {"db": record["db_name"], "coll": record["coll_name"]},
            "documentKey": record["document_key"],
        }
        full = record.get("full_document")
        if operation in ("insert", "replace") or (
            operation == "update" and self.full_document != "default"
        ):
            event["fullDocument"] = full
        if operation == "update":
            event["updateDescription"] = record.get("update_description") or {
                "updatedFields": {},
                "removedFields": [],
                "truncatedArrays": [],
            }
        if self.pipeline:
            shaped = apply_pipeline([DocumentCodec.to_internal(event)], self.pipeline)
            if not shaped:
                return None
            event = shaped[0]
            if event.get("_id") != token_for(sequence):
                raise OperationFailure(
                    "the change stream pipeline must not modify or remove the _id field",
                    code=_FATAL,
                )
        document: dict[str, Any] = DocumentCodec.to_pymongo(event)
        return document


class ChangeStreamService:
    """The server side of change streams: the log and the open cursors."""

    def __init__(self) -> None:
        self.log = EventLog()
        self.cursors: dict[int, StreamCursor] = {}
        self._ids = itertools.count(_CURSOR_ID_BASE)

    # -- aggregate ------------------------------------------------------------------------

    def open(self, db_name: str, command: dict[str, Any]) -> dict[str, Any]:
        from mongoeco.core.codec import DocumentCodec
        from mongoeco.errors import OperationFailure

        target = command.get("aggregate")
        pipeline = list(command.get("pipeline") or [])
        options = pipeline[0]["$changeStream"] or {}
        if not isinstance(options, dict):
            raise OperationFailure("$changeStream takes a document of options", code=_FATAL)
        cluster_wide = bool(options.get("allChangesForCluster"))
        if cluster_wide and (db_name != "admin" or target != 1):
            raise OperationFailure(
                "allChangesForCluster needs aggregate: 1 on the admin database", code=_FATAL
            )
        if options.get("fullDocumentBeforeChange") not in (None, "off"):
            raise OperationFailure(
                "fullDocumentBeforeChange (pre-images) is not served by the embedded server",
                code=_FATAL,
            )
        mode = options.get("fullDocument", "default")
        if mode not in _FULL_DOCUMENT_MODES:
            raise OperationFailure(f"unknown fullDocument mode {mode!r}", code=_FATAL)
        stages = pipeline[1:]
        for stage in stages:
            if (
                not isinstance(stage, dict)
                or len(stage) != 1
                or next(iter(stage)) not in (_PIPELINE_STAGES)
            ):
                raise OperationFailure(
                    f"stage {stage!r} is not allowed in a change stream pipeline", code=_FATAL
                )
        position = self._start_position(options)
        cursor = StreamCursor(
            next(self._ids),
            None if cluster_wide else db_name,
            target if isinstance(target, str) else None,
            f"{db_name}.{target}" if isinstance(target, str) else f"{db_name}.$cmd.aggregate",
            DocumentCodec.to_internal(stages),
            mode,
            position,
        )
        self.cursors[cursor.id] = cursor
        batch_size = (command.get("cursor") or {}).get("batchSize")
        batch = self._read(cursor, batch_size if batch_size is not None else 101)
        return self._reply(cursor, "firstBatch", batch)

    def _start_position(self, options: dict[str, Any]) -> int:
        from mongoeco.errors import OperationFailure

        given = [k for k in ("resumeAfter", "startAfter", "startAtOperationTime") if k in options]
        if len(given) > 1:
            raise OperationFailure(f"only one of {given} may be given", code=_FATAL)
        if not given:
            return self.log.last
        if given[0] == "startAtOperationTime":
            position = max(int(getattr(options[given[0]], "inc", 0)) - 1, 0)
        else:
            position = sequence_of(options[given[0]])
        self.log.check_resumable(position)
        return position

    # -- getMore / killCursors ------------------------------------------------------------

    def owns(self, cursor_id: object) -> bool:
        return isinstance(cursor_id, int) and cursor_id >= _CURSOR_ID_BASE

    async def get_more(self, command: dict[str, Any]) -> dict[str, Any]:
        from mongoeco.errors import OperationFailure

        cursor = self.cursors.get(command["getMore"])
        if cursor is None:
            raise OperationFailure(
                f"cursor id {command['getMore']} not found", code=_CURSOR_NOT_FOUND
            )
        batch_size = command.get("batchSize") or 101
        wait_ms = command.get("maxTimeMS") or DEFAULT_AWAIT_MS
        deadline = time.monotonic() + wait_ms / 1000
        while True:
            batch = self._read(cursor, batch_size)
            left = deadline - time.monotonic()
            if batch or cursor.closed or left <= 0:
                break
            await self.log.wait(left)
        if cursor.closed:
            return self._reply(cursor, "nextBatch", [], cursor_id=0)
        return self._reply(cursor, "nextBatch", batch)

    def kill(self, cursor_ids: list[Any]) -> tuple[list[int], list[int]]:
        killed: list[int] = []
        unknown: list[int] = []
        for cursor_id in cursor_ids:
            cursor = self.cursors.pop(cursor_id, None)
            if cursor is None:
                unknown.append(cursor_id)
            else:
                cursor.closed = True
                killed.append(cursor_id)
        if killed:
            self.log.wake()
        return killed, unknown

    def close_all(self) -> None:
        self.kill(list(self.cursors))

    # -- reading --------------------------------------------------------------------------

    def _read(self, cursor: StreamCursor, limit: int) -> list[dict[str, Any]]:
        """Events after the cursor's position that pass its filter, up to ``limit``."""
        batch: list[dict[str, Any]] = []
        while len(batch) < limit and cursor.position < self.log.last:
            for record in self.log.after(cursor.position, max(limit - len(batch), 64)):
                event = cursor.event_document(record)
                cursor.position = record["sequence"]
                if event is not None:
                    batch.append(event)
                    if len(batch) >= limit:
                        break
        return batch

    def _reply(
        self,
        cursor: StreamCursor,
        key: str,
        batch: list[dict[str, Any]],
        cursor_id: int | None = None,
    ) -> dict[str, Any]:
        return {
            "cursor": {
                "id": cursor.id if cursor_id is None else cursor_id,
                "ns": cursor.ns,
                key: batch,
                "postBatchResumeToken": token_for(cursor.position),
            },
            "operationTime": operation_time(self.log.last),
            "ok": 1.0,
        }


def _is_change_stream(command: dict[str, Any]) -> bool:
    pipeline = command.get("pipeline")
    return (
        isinstance(pipeline, list)
        and bool(pipeline)
        and isinstance(pipeline[0], dict)
        and "$changeStream" in pipeline[0]
    )


def apply() -> str | None:
    """Install the event log and the wire commands; None on success, else why not."""
    try:
        version = importlib.metadata.version("mongoeco")
    except importlib.metadata.PackageNotFoundError:
        return "mongoeco is not installed"
    if version != PATCHED_FOR:
        return f"mongoeco {version} is not {PATCHED_FOR}, which the patch was written for"

    from mongoeco.core.operation_context import ChangePublicationPolicy
    from mongoeco.engines.memory import MemoryEngine

    support: Any = importlib.import_module("mongoeco.wire._executor_support")
    from mongoeco.wire.executor import WireCommandExecutor

    engine: Any = MemoryEngine
    executor: Any = WireCommandExecutor
    if getattr(executor.execute_prepared, _MARK, False):
        return None
    needed = ("_record_committed_change", "_prepare_committed_changes_locked")
    if not all(hasattr(engine, name) for name in needed):
        return "mongoeco's MemoryEngine internals changed; change streams not served"

    service = ChangeStreamService()
    record = engine._record_committed_change
    prepare = engine._prepare_committed_changes_locked

    def record_committed_change(self: Any, context: Any, payload: Any) -> Any:
        if isinstance(payload, dict):
            payload = _SharedPayload(payload)
        if (
            context is not None
            and context.publication is ChangePublicationPolicy.RECORD_GAP
            and isinstance(payload, dict)
            and payload.get("document_key")
        ):
            # No hub watcher: mongoeco would record a gap; keep the event instead.
            context = context.derive(publication=ChangePublicationPolicy.EMIT)
        if isinstance(payload, dict) and payload.get("operation_type") == "update":
            # The caller (the single-document update) holds the document it replaced.
            before = sys._getframe(1).f_locals.get("original_document")
            payload["update_description"] = update_description(before, payload.get("full_document"))
        return record(self, context, payload)

    def prepare_committed_changes_locked(self: Any, payloads: list[Any]) -> Any:
        result = prepare(self, payloads)
        for payload in payloads:
            if payload is not None:
                service.log.append(payload)
        return result

    validate = support.validate_wire_command_document

    def validate_wire_command_document(
        body: dict[str, Any], command: dict[str, Any], **kwargs: Any
    ) -> None:
        if command.get("aggregate") == 1 and _is_change_stream(command):
            return  # a database-level stream: mongoeco wants a collection name
        validate(body, command, **kwargs)

    original_execute = executor.execute_prepared

    async def execute_prepared(self: Any, context: Any) -> dict[str, Any]:
        name = context.command_name
        command = context.command_document
        if name == "aggregate" and _is_change_stream(command):
            return service.open(context.db_name, command)
        if name == "getMore" and service.owns(command.get("getMore")):
            return await service.get_more(command)
        if name == "killCursors":
            ids = command.get("cursors")
            ours = [i for i in ids if service.owns(i)] if isinstance(ids, list) else []
            if ours:
                killed, unknown = service.kill(ours)
                rest = [i for i in ids if not service.owns(i)] if isinstance(ids, list) else []
                reply: dict[str, Any] = {
                    "cursorsKilled": [],
                    "cursorsNotFound": [],
                    "cursorsAlive": [],
                    "cursorsUnknown": [],
                    "ok": 1.0,
                }
                if rest:
                    reply = await original_execute(self, _with_cursors(context, rest))
                reply["cursorsKilled"] = list(reply.get("cursorsKilled", [])) + killed
                reply["cursorsNotFound"] = list(reply.get("cursorsNotFound", [])) + unknown
                return reply
        result: dict[str, Any] = await original_execute(self, context)
        if name == "serverStatus" and isinstance(result, dict):
            _count_open_cursors(result, len(service.cursors))
        return result

    setattr(execute_prepared, _MARK, True)
    engine._record_committed_change = record_committed_change
    engine._prepare_committed_changes_locked = prepare_committed_changes_locked
    executor.execute_prepared = execute_prepared
    support.validate_wire_command_document = validate_wire_command_document
    executor.anyodm_change_streams = service
    return None


def _with_cursors(context: Any, cursor_ids: list[Any]) -> Any:
    import dataclasses

    command = {**context.command_document, "cursors": cursor_ids}
    return dataclasses.replace(context, command_document=command)


def _count_open_cursors(status: dict[str, Any], count: int) -> None:
    metrics = status.setdefault("metrics", {})
    cursor = metrics.setdefault("cursor", {})
    opened = cursor.setdefault("open", {})
    opened["total"] = int(opened.get("total", 0)) + count
    opened["changeStreams"] = count
