"""Patches for mongoeco 4.11.0, applied in the embedded server's process only.

1. Take the collection-size cost out of inserts for ObjectId and string ids (below).
2. Detect write conflicts per document, as MongoDB does, instead of refusing every
   transaction that another commit overtook; commit the others by merging their
   document changes into the live data; report a conflict as MongoDB's retryable
   WriteConflict and leave nothing of the refused transaction behind
   (``_per_document_conflicts``).

mongoeco 4.11.0's ``MemoryEngine`` stores documents under a typed key of their ``_id``
(``("objectid", oid)``, ``("str", s)``) but, to be safe with numbers (``1 == 1.0``),
it also scans the whole collection:

- ``_ensure_unique_indexes(scan_payload_id=True)`` (single inserts, updates, upserts)
  compares the new ``_id`` with every stored one after the keyed lookup found nothing;
- ``_candidate_items_for_plan_locked`` falls back to every document when a direct
  ``{"_id": value}`` lookup misses (the first step of an upsert of a new document).

For an ObjectId or a str ``_id`` the typed key decides equality exactly, so both scans
can only confirm what the keyed lookup said; skipping them changes no result (a
collation, which can make strings equal, keeps the scan).  Numeric and other ``_id``
types are untouched.  ``apply`` reports the second part's note if it could not be
applied.  Loaded by ``_child.py``.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

PATCHED_FOR = "4.11.0"
_MARK = "__anyodm_patched__"


def apply() -> str | None:
    """Patch ``MemoryEngine``; return None on success, else why it was left alone."""
    try:
        version = importlib.metadata.version("mongoeco")
    except importlib.metadata.PackageNotFoundError:
        return "mongoeco is not installed"
    if version != PATCHED_FOR:
        return f"mongoeco {version} is not {PATCHED_FOR}, which the patch was written for"

    from bson import ObjectId
    from mongoeco.engines.memory import MemoryEngine

    engine: Any = MemoryEngine
    ensure = engine._ensure_unique_indexes
    candidates = engine._candidate_items_for_plan_locked
    if getattr(ensure, _MARK, False):
        return None
    ensure_params = inspect.signature(ensure).parameters
    candidate_params = inspect.signature(candidates).parameters
    if "scan_payload_id" not in ensure_params or "collation" not in candidate_params:
        return "mongoeco's MemoryEngine internals changed; patch skipped"

    def _keyed(value: object) -> bool:
        return isinstance(value, (ObjectId, str))  # mongoeco's ObjectId subclasses bson's

    def ensure_unique_indexes(
        self: Any, db_name: str, coll_name: str, candidate: Any, *args: Any, **kwargs: Any
    ) -> None:
        if kwargs.get("scan_payload_id") and _keyed(candidate.get("_id")):
            kwargs["scan_payload_id"] = False
        ensure(self, db_name, coll_name, candidate, *args, **kwargs)

    def candidate_items_for_plan_locked(
        self: Any, coll: Any, query_plan: Any, **kwargs: Any
    ) -> list[tuple[Any, Any]]:
        if kwargs.get("collation") is None:
            wanted = self._direct_id_lookup_from_plan(query_plan)
            if _keyed(wanted) and self._storage_key(wanted) not in coll:
                return []
        result: list[tuple[Any, Any]] = candidates(self, coll, query_plan, **kwargs)
        return result

    setattr(ensure_unique_indexes, _MARK, True)
    engine._ensure_unique_indexes = ensure_unique_indexes
    engine._candidate_items_for_plan_locked = candidate_items_for_plan_locked
    return _per_document_conflicts(engine)


# -- write conflicts per document ---------------------------------------------------------

#: mongoeco's own message when it refuses a commit (a snapshot older than the last commit)
_REFUSED_COMMIT = "Write conflict during transaction commit"
_WRITE_CONFLICT = 112
_CONFLICT_MESSAGE = (
    "WriteConflict error: this operation conflicted with another operation. "
    "Please retry your operation or multi-document transaction."
)
_TRANSIENT = ("TransientTransactionError",)
_ABSENT = object()  # no document under a key

Namespace = tuple[str, str]


class _Conflict(Exception):
    """This transaction cannot commit: someone else wrote what it wrote."""


class _Writes:
    """What one transaction wrote, as its commit needs it.

    ``before[ns][key]`` is the stored value (or ``_ABSENT``) the transaction's snapshot
    held under ``key`` before its first write there: the live collection still holds
    that very object (mongoeco replaces stored documents, never changes them) exactly
    when no commit wrote that document since the snapshot.  ``shapes[ns]`` is the
    namespace's registration, indexes, search indexes and options in the snapshot,
    taken when the transaction first touched it.
    """

    __slots__ = ("before", "collections", "doomed", "shapes", "state", "untracked")

    def __init__(self, state: Any) -> None:
        self.state = state
        self.before: dict[Namespace, dict[Any, Any]] = {}
        self.collections: dict[Namespace, Any] = {}  # the collection each ns was written in
        self.shapes: dict[Namespace, tuple[Any, ...]] = {}
        self.untracked = False  # a write this patch could not place
        self.doomed = False  # a write already met a conflict


def _shape(roots: tuple[Any, Any, Any, Any], ns: Namespace) -> tuple[Any, ...]:
    """A namespace's registration, indexes, search indexes and options."""
    from copy import deepcopy

    collections, indexes, search_indexes, options = roots
    db, coll = ns
    return (
        coll in collections.get(db, ()),
        tuple(indexes.get(db, {}).get(coll, ())),
        tuple(search_indexes.get(db, {}).get(coll, ())),
        deepcopy(options.get(db, {}).get(coll)),
    )


def _live_roots(engine: Any) -> tuple[Any, Any, Any, Any]:
    return (
        engine._collections,
        engine._indexes,
        engine._search_indexes,
        engine._collection_options,
    )


def _state_roots(state: Any) -> tuple[Any, Any, Any, Any]:
    return (state.collections, state.indexes, state.search_indexes, state.collection_options)


def _per_document_conflicts(engine: Any) -> str | None:
    """Detect write conflicts per document, as MongoDB does, and merge commits.

    mongoeco 4.11.0 refuses the commit of a writing transaction when any other commit
    (a transaction's, or a single write outside one) happened since its snapshot, even
    on other documents, with no code and no label; and it commits by installing the
    transaction's copies of the collections it wrote, so letting such a commit through
    would drop the other commits' documents.  It also leaves a refused transaction's
    writes attached to the server session.  This patch:

    * records, for each transaction, the documents it writes (every stored document
      is set or deleted by ``_set_storage_document_locked`` or
      ``_delete_storage_document_locked``, under the undo journal that names its
      namespace) and what its snapshot held there before;
    * fails a transaction's write at once, with MongoDB's WriteConflict (112, label
      ``TransientTransactionError``), when a commit since its snapshot changed that
      document (its stored value is no longer the one the snapshot holds), and dooms
      the transaction: its commit fails the same way;
    * at commit, when other commits happened since the snapshot: fails with that error
      if one of them wrote a document this transaction wrote (insert, update, replace
      or delete of the same ``_id``), or changed a namespace it wrote in (created,
      dropped, indexed it); otherwise rebases the transaction onto the live data: each
      collection it wrote becomes the live collection plus its own document changes,
      with the live indexes updated for those documents by mongoeco's own
      ``_update_indexes_locked``, and a unique index that two now-merged documents
      would share is a write conflict too (retried, the write meets the committed
      document and fails with DuplicateKey, as on MongoDB).  Then mongoeco's commit
      installs it.  A transaction that created a namespace nobody else did commits
      it as it is; one that touched whole databases, or made a write this patch could
      not place, keeps mongoeco's rule (no other commit since its snapshot);
    * discards a refused transaction as an abort would, and answers a retried commit
      of it with the same error.

    A document is "written since the snapshot" when the live data no longer holds the
    value the snapshot held: a document absent from the snapshot that others inserted
    and deleted again meanwhile is absent again and does not conflict (MongoDB's would;
    the outcome is the same as committing after them).  TTL deletes inside a
    transaction are not counted as its writes (the live data expires the same documents
    on its own).
    """
    from mongoeco.core.server_errors import ErrorScope, ServerDiagnostic
    from mongoeco.engines._memory_collection import MemoryCollection, MemoryIndexMap
    from mongoeco.errors import OperationFailure
    from mongoeco.wire.sessions import WireSessionStore

    needed = (
        "_abort_session_transaction",
        "_set_storage_document_locked",
        "_delete_storage_document_locked",
        "_publication_scope",
        "_purge_expired_documents_locked",
        "_update_indexes_locked",
        "_borrow_storage_document",
    )
    store: Any = WireSessionStore
    if not all(hasattr(engine, name) for name in needed) or not hasattr(store, "_require_session"):
        return "mongoeco's transaction internals changed; write conflicts not patched"
    wire_commit = store.commit_transaction
    commit = engine._commit_session_transaction
    start = engine._start_session_transaction
    abort = engine._abort_session_transaction
    set_document = engine._set_storage_document_locked
    delete_document = engine._delete_storage_document_locked
    publication_scope = engine._publication_scope
    purge_expired = engine._purge_expired_documents_locked

    transactions: dict[int, _Writes] = {}  # id(MVCC state) -> its writes
    conflicted: set[Any] = set()  # sessions whose transaction failed to commit
    purging = [0]  # > 0 while a TTL purge deletes documents

    def commit_conflict() -> Exception:
        error: Exception = OperationFailure(
            _CONFLICT_MESSAGE,
            code=_WRITE_CONFLICT,
            details={"codeName": "WriteConflict"},
            error_labels=_TRANSIENT,
        )
        return error

    def write_conflict() -> Exception:
        # A command-level error (not a per-document writeError), labelled, as MongoDB
        # answers a write conflict inside a transaction.
        diagnostic: Any = ServerDiagnostic(
            _WRITE_CONFLICT,
            _CONFLICT_MESSAGE,
            ErrorScope.COMMAND,
            {"errorLabels": list(_TRANSIENT)},
            code_name="WriteConflict",
        )
        error: Any = OperationFailure(
            _CONFLICT_MESSAGE,
            code=_WRITE_CONFLICT,
            details=diagnostic.command_document(),
            error_labels=_TRANSIENT,
        )
        error._server_diagnostic = diagnostic
        result: Exception = error
        return result

    def writes_of(state: Any) -> _Writes | None:
        writes = transactions.get(id(state))
        return writes if writes is not None and writes.state is state else None

    def take(state: Any) -> _Writes | None:
        writes = writes_of(state)
        if writes is not None:
            del transactions[id(state)]
        return writes

    def start_session_transaction(self: Any, session: Any) -> None:
        conflicted.discard(session.session_id)
        start(self, session)
        state = self._mvcc_states.get(session.session_id)
        if state is not None:
            transactions[id(state)] = _Writes(state)

    def abort_session_transaction(self: Any, session: Any) -> None:
        take(self._mvcc_states.get(session.session_id))
        abort(self, session)

    def scope(self: Any, storage: Any, *args: Any, **kwargs: Any) -> Any:
        if storage is not self._storage:
            for writes in transactions.values():
                if writes.state.storage is storage:
                    for ns in kwargs.get("touched_namespaces") or ():
                        if ns not in writes.shapes:
                            writes.shapes[ns] = _shape(_state_roots(writes.state), ns)
                    break
        return publication_scope(self, storage, *args, **kwargs)

    def purge_expired_documents_locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        purging[0] += 1
        try:
            return purge_expired(self, *args, **kwargs)
        finally:
            purging[0] -= 1

    def note_write(self: Any, collection: Any, key: Any) -> None:
        """Record a transaction's write of ``key``; fail it if a commit got there first."""
        stack = self._publication_stack
        state = stack[-1].state if stack else None
        if state is None or purging[0]:
            return
        writes = writes_of(state)
        if writes is None:
            return
        ns: Namespace | None = None
        for journal in reversed(self._document_undo_stack):
            if (
                journal.storage is state.storage
                and journal.storage.get(journal.db_name, {}).get(journal.coll_name) is collection
            ):
                ns = (journal.db_name, journal.coll_name)
                break
        if ns is None:
            writes.untracked = True
            return
        if writes.collections.setdefault(ns, collection) is not collection:
            writes.untracked = True  # the transaction replaced the collection
            return
        before = writes.before.setdefault(ns, {})
        if key not in before:
            before[key] = collection.get(key, _ABSENT)
        live = self._storage.get(ns[0], {}).get(ns[1])
        if (_ABSENT if live is None else live.get(key, _ABSENT)) is not before[key]:
            writes.doomed = True
            raise write_conflict()

    def set_storage_document_locked(self: Any, collection: Any, key: Any, document: Any) -> None:
        note_write(self, collection, key)
        set_document(self, collection, key, document)

    def delete_storage_document_locked(self: Any, collection: Any, key: Any) -> None:
        note_write(self, collection, key)
        delete_document(self, collection, key)

    def copy_index_data(data: dict[str, Any]) -> dict[str, Any]:
        return {
            name: (
                index.copy()
                if isinstance(index, MemoryIndexMap)
                else {key: members.copy() for key, members in index.items()}
            )
            for name, index in data.items()
        }

    def reindex(
        self: Any, state: Any, root: Any, ns: Namespace, key: Any, value: Any, action: str
    ) -> None:
        """Add the stored ``value`` under ``key`` to (or remove it from) ``root``'s indexes."""
        self._update_indexes_locked(
            ns[0],
            ns[1],
            key,
            self._borrow_storage_document(value),
            action=action,
            index_data_view=root,
            indexes_view=state.indexes,
        )

    def rebase(self: Any, state: Any, writes: _Writes) -> None:
        """Make ``state`` the live data plus its own document changes, or _Conflict."""
        if writes.untracked or state.touched_databases:
            raise _Conflict
        rebased: list[tuple[Namespace, Any, Any]] = []
        for ns in state.touched_namespaces:
            db, coll = ns
            base = writes.shapes.get(ns)
            if base is None or _shape(_live_roots(self), ns) != base:
                raise _Conflict  # unseen, or created/dropped/indexed by someone else
            mine = state.storage.get(db, {}).get(coll)
            live = self._storage.get(db, {}).get(coll)
            if _shape(_state_roots(state), ns) != base:
                # The transaction created, dropped or indexed it: only a namespace that
                # did not exist, and still holds nothing, goes in as the transaction has it.
                if base[0] or live:
                    raise _Conflict
                continue
            before = writes.before.get(ns, {})
            if before and writes.collections.get(ns) is not mine:
                raise _Conflict
            # Documents it wrote and then put back (a failed write, rolled back) are not
            # its changes; the others must be as its snapshot saw them.
            changed: dict[Any, Any] = {}
            for key, value in before.items():
                now = _ABSENT if mine is None else mine.get(key, _ABSENT)
                if now is value:
                    continue
                if (_ABSENT if live is None else live.get(key, _ABSENT)) is not value:
                    raise _Conflict
                changed[key] = now
            merged = live.copy() if live is not None else MemoryCollection()
            live_index = self._index_data.get(db, {}).get(coll)
            index_root: dict[str, Any] = {db: {coll: copy_index_data(live_index or {})}}
            storage_root = {db: {coll: merged}}
            for key, value in changed.items():
                old = merged.get(key, _ABSENT)
                if old is not _ABSENT:
                    reindex(self, state, index_root, ns, key, old, "delete")
                if value is _ABSENT:
                    del merged[key]
                else:
                    merged[key] = value
                    reindex(self, state, index_root, ns, key, value, "insert")
            for key, value in changed.items():
                if value is _ABSENT:
                    continue
                try:
                    self._ensure_unique_indexes(
                        db,
                        coll,
                        self._borrow_storage_document(value),
                        exclude_storage_key=key,
                        indexes_view=state.indexes,
                        storage_view=storage_root,
                        index_data_view=index_root,
                        check_id_storage=True,
                        scan_payload_id=True,
                    )
                except OperationFailure as exc:
                    if getattr(exc, "code", None) == 11000:
                        raise _Conflict from exc
                    raise
            index = index_root[db][coll]
            rebased.append(
                (
                    ns,
                    merged if live is not None or changed else None,
                    index if live_index is not None or index else None,
                )
            )
        for (db, coll), merged, index in rebased:
            for root, value in ((state.storage, merged), (state.index_data, index)):
                if value is None:
                    root.get(db, {}).pop(coll, None)
                else:
                    root.setdefault(db, {})[coll] = value
        state.snapshot_version = self._mvcc_version

    def check(self: Any, state: Any, writes: _Writes | None) -> None:
        """Raise _Conflict unless ``state`` may commit now (rebased if need be)."""
        if writes is not None and writes.doomed:
            raise _Conflict  # a write of it met a conflict: MongoDB aborted it then
        if state.has_writes and state.snapshot_version != self._mvcc_version:
            if writes is None:
                raise _Conflict
            rebase(self, state, writes)

    def checked_commit(self: Any, session: Any) -> None:
        with self._meta_lock:
            state = self._mvcc_states.get(session.session_id)
            writes = take(state) if state is not None else None
            if state is not None:
                check(self, state, writes)
            commit(self, session)

    def commit_session_transaction(self: Any, session: Any) -> None:
        if session.session_id in conflicted:  # a retried commit of a discarded transaction
            raise commit_conflict()
        try:
            checked_commit(self, session)
        except (_Conflict, OperationFailure) as exc:
            if isinstance(exc, OperationFailure) and _REFUSED_COMMIT not in str(exc):
                raise
            # Discard the transaction as an abort would, and end it on the session.
            self._abort_session_transaction(session)
            session._state.transaction.active = False
            session._state.transaction.options = None
            conflicted.add(session.session_id)
            raise commit_conflict() from None

    def wire_commit_transaction(self: Any, body: dict[str, Any]) -> dict[str, Any]:
        session = self._require_session(body)
        if not session.transaction_active and session.session_id in conflicted:
            raise commit_conflict()  # the wire store answers ok for an ended transaction
        result: dict[str, Any] = wire_commit(self, body)
        return result

    engine._start_session_transaction = start_session_transaction
    engine._commit_session_transaction = commit_session_transaction
    engine._abort_session_transaction = abort_session_transaction
    engine._publication_scope = scope
    engine._purge_expired_documents_locked = purge_expired_documents_locked
    engine._set_storage_document_locked = set_storage_document_locked
    engine._delete_storage_document_locked = delete_storage_document_locked
    store.commit_transaction = wire_commit_transaction
    return None
