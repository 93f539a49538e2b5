"""Optimistic concurrency: a revision kept in each document of an opted-in model.

``model_config = {"optimistic_concurrency": True}`` makes every write anyodm sends for
the model carry the revision (stored under :data:`REVISION_KEY`): a save or delete of a
persisted instance matches its document *and the revision it was loaded (or last saved)
with*, and increments it.  If another writer changed the document meanwhile, nothing
matches, nothing is written, and :class:`RevisionConflictError` says so.  The revision
the instance knows is part of its saved state (the stored document it remembers), so it
follows the data like the rest of that state (at commit inside a transaction).

A fresh instance is inserted with revision 1; if a document with its primary key exists
already (created elsewhere), that is a conflict too.  ``update_one``/``update_many``/
``find_one_and_update`` increment the revision, so instances loaded before them are stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pymongo.client_session import ClientSession
from pymongo.collection import Collection

from anyodm.errors import DocumentNotFoundError, RevisionConflictError
from anyodm.model.info import REVISION_KEY
from anyodm.model.tracking import StoredDocument, saved_state

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = [
    "REVISION_KEY",
    "conflict_or_not_found",
    "guarded_filter",
    "next_revision",
    "revision",
    "revision_of",
    "uses_revisions",
    "with_revision_increment",
]


def uses_revisions(model: type[Any]) -> bool:
    """Whether ``model`` opted in to optimistic concurrency."""
    return bool(getattr(model.__anyodm__, "optimistic_concurrency", False))


def revision_of(state: Any) -> int | None:
    """The revision a saved state records (None: a document stored without one)."""
    if isinstance(state, StoredDocument):
        rev = state.get(REVISION_KEY)
        return int(rev) if isinstance(rev, int) and not isinstance(rev, bool) else None
    return None


def revision(instance: Model) -> int | None:
    """The revision of ``instance``'s document, as it was loaded or last saved.

    For a model with ``model_config = {"optimistic_concurrency": True}``: an ``int`` that
    each write of the document increments (an HTTP API can send it as an ``ETag`` and
    compare an ``If-Match`` with it before saving), or ``None`` for an instance never
    loaded or saved (or whose last save's outcome is unknown).  Inside a transaction it
    follows the data: a save there counts once the transaction commits.  A model
    without optimistic concurrency raises ``TypeError``.
    """
    model = type(instance)
    if not uses_revisions(model):
        raise TypeError(
            f"{model.__name__} keeps no revision: set model_config = "
            '{"optimistic_concurrency": True} on it'
        )
    return revision_of(saved_state(instance))


def guarded_filter(pk: Any, state: Any) -> dict[str, Any]:
    """The filter that matches the document only at the revision ``state`` knows.

    For a state that is not a stored document (fresh, or an unknown outcome) it matches
    only a document without a revision, so an existing revised document conflicts.
    """
    rev = revision_of(state)
    if rev is None:
        return {"_id": pk, REVISION_KEY: {"$exists": False}}
    return {"_id": pk, REVISION_KEY: rev}


def next_revision(state: Any) -> int:
    """The revision a successful write makes."""
    return (revision_of(state) or 0) + 1


def with_revision_increment(update: dict[str, Any]) -> dict[str, Any]:
    """An update document that also increments the revision (unless it sets it)."""
    if any(REVISION_KEY in spec for spec in update.values() if isinstance(spec, Mapping)):
        return update
    result = dict(update)
    result["$inc"] = {**result.get("$inc", {}), REVISION_KEY: 1}
    return result


def conflict_or_not_found(
    collection: Collection[Any],
    instance: Model,
    operation: str,
    session: ClientSession | None,
    within: Mapping[str, Any] | None = None,
) -> Exception:
    """After a guarded write matched nothing: a conflict if the document exists (at
    another revision; among the documents ``within`` matches, if given), else not
    found."""
    exists = collection.count_documents(
        {"_id": instance.__anyodm_stored_pk__, **(within or {})}, limit=1, session=session
    )
    if exists:
        return revision_conflict(instance, operation)
    return DocumentNotFoundError(instance)


def revision_conflict(instance: Model, operation: str) -> RevisionConflictError:
    """The conflict error, saying whether the instance was ever loaded or saved."""
    return RevisionConflictError(instance, operation, never_loaded=saved_state(instance) is None)
