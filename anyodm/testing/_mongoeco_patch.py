"""Patches for mongoeco 4.11.0, applied in the embedded server's process only.

1. Take the collection-size cost out of inserts for ObjectId and string ids (below).
2. Make a refused commit a retryable, clean write conflict (``_label_commit_conflicts``).

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
types are untouched.  Loaded by ``_child.py``.
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
    _label_commit_conflicts(engine)
    return None


_CONFLICT_MESSAGE = "Write conflict during transaction commit"
_WRITE_CONFLICT = 112


def _label_commit_conflicts(engine: Any) -> None:
    """Make a failed commit a retryable WriteConflict that leaves nothing behind.

    mongoeco refuses the commit of a writing transaction when any other commit happened
    since it began (even on other documents), with no code and no label, and keeps the
    transaction's writes attached to the server session, where the session's next
    transaction sees them.  MongoDB labels its write conflicts
    ``TransientTransactionError`` (so ``with_transaction`` retries) and discards the
    transaction: do the same.
    """
    from mongoeco.errors import OperationFailure

    commit = engine._commit_session_transaction
    start = engine._start_session_transaction
    if not hasattr(engine, "_abort_session_transaction"):
        return
    conflicted: set[Any] = set()  # sessions whose transaction failed to commit

    def conflict() -> Exception:
        error: Exception = OperationFailure(
            _CONFLICT_MESSAGE, code=_WRITE_CONFLICT, error_labels=("TransientTransactionError",)
        )
        return error

    def start_session_transaction(self: Any, session: Any) -> None:
        conflicted.discard(session.session_id)
        start(self, session)

    def commit_session_transaction(self: Any, session: Any) -> None:
        if session.session_id in conflicted:  # a retried commit of a discarded transaction
            raise conflict()
        try:
            commit(self, session)
        except OperationFailure as exc:
            if _CONFLICT_MESSAGE not in str(exc):
                raise
            # Discard the transaction as an abort would, and end it on the session.
            self._abort_session_transaction(session)
            session._state.transaction.active = False
            session._state.transaction.options = None
            conflicted.add(session.session_id)
            raise conflict() from exc

    engine._start_session_transaction = start_session_transaction
    engine._commit_session_transaction = commit_session_transaction
