"""Time-series collections and views in the operations core.

``ensure_kind`` creates a model's time-series collection or view at start-up (settling
concurrent start-ups, refusing an existing collection of another kind or definition);
the ``refuse_*`` checks turn away, before anything is sent, what MongoDB refuses on them
in every supported version: any write to a view, writes to a time-series collection
inside a transaction, change streams on either.  A save of a loaded time-series
measurement (an update of it by ``_id``) is refused too: see :func:`refuse_measurement_update`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pymongo.client_session import ClientSession
from pymongo.errors import OperationFailure

from anyodm.errors import CollectionMismatchError, InvalidOperationError
from anyodm.model.kinds import TimeSeriesKind, ViewKind

if TYPE_CHECKING:
    from pymongo.database import Database

    from anyodm.model import Model

__all__ = [
    "ensure_kind",
    "refuse_kind_indexes",
    "refuse_measurement_update",
    "refuse_watch",
    "refuse_write",
    "refuse_writes",
]


def refuse_write(model: type[Model], operation: str, session: ClientSession | None = None) -> None:
    """``InvalidOperationError`` for a write to a view, or to a time-series collection
    inside a transaction (``session``: the driver session, if known)."""
    kind = model.__anyodm__.kind
    if kind is None:
        return
    if isinstance(kind, ViewKind):
        raise InvalidOperationError(
            f"{operation}() on {model.__name__}: it is a read-only view of "
            f"{kind.source.__name__}'s collection; write to {kind.source.__name__} instead"
        )
    if session is not None and session.in_transaction:
        raise InvalidOperationError(
            f"{operation}() on {model.__name__}: MongoDB does not allow writes to a "
            "time-series collection inside a transaction; write outside it"
        )


def refuse_writes(
    models: Iterable[type[Model]], operation: str, session: ClientSession | None
) -> None:
    """:func:`refuse_write` for each model once."""
    for model in set(models):
        refuse_write(model, operation, session)


def refuse_measurement_update(instance: Model) -> None:
    """A loaded (or saved) time-series measurement with changes cannot be saved: that
    would be an update of one measurement by ``_id``, which MongoDB 6.0 and 7.0 refuse
    (anyodm refuses it on every version, so code behaves the same everywhere)."""
    model = type(instance)
    raise InvalidOperationError(
        f"save() of a {model.__name__} that is already stored: {model.__name__} is a "
        "time-series collection, whose measurements are inserted, not updated (use "
        "update_many() on the meta field, or delete it and save a new measurement)"
    )


def refuse_watch(models: Iterable[type[Model]], operation: str) -> None:
    """Change streams: MongoDB has none on views and time-series collections."""
    for model in models:
        kind = model.__anyodm__.kind
        if kind is not None:
            what = "view" if isinstance(kind, ViewKind) else "time-series collection"
            raise InvalidOperationError(
                f"{operation}() on {model.__name__}: MongoDB has no change streams on a {what}"
            )


def refuse_kind_indexes(model: type[Model], indexes: list[Any]) -> None:
    """A view has no indexes of its own (declared ones are refused at class creation;
    an ``indexes`` callable could still give some)."""
    if indexes and isinstance(model.__anyodm__.kind, ViewKind):
        raise TypeError(f"{model.__name__}: a view cannot have indexes (index the source model)")


def _existing_options(
    database: Database[Any], name: str, session: ClientSession | None
) -> Mapping[str, Any] | None:
    """The options ``listCollections`` reports for ``name`` (None: no such collection)."""
    for info in database.list_collections(filter={"name": name}, session=session):
        options: Mapping[str, Any] = info.get("options") or {}
        if info.get("type") == "view" and "viewOn" not in options:  # never seen; be strict
            return {"viewOn": None}
        return options
    return None


def _hint(kind: TimeSeriesKind | ViewKind) -> str:
    if isinstance(kind, ViewKind):
        return "a view holds no data: drop it and run configure_database again to redefine it"
    return (
        "a time-series collection's time and meta fields cannot be changed; copy its "
        "measurements to a new collection, or declare what the database has"
    )


def ensure_kind(database: Database[Any], model: type[Model], session: ClientSession | None) -> None:
    """Create ``model``'s time-series collection or view unless it exists with the same
    definition; ``CollectionMismatchError`` if it exists otherwise (a plain collection,
    other options, another pipeline): nothing is changed then."""
    kind = model.__anyodm__.kind
    if kind is None:
        return
    name = model.__anyodm__.collection
    existing = _existing_options(database, name, session)
    if existing is None:
        try:
            database.create_collection(
                name, check_exists=False, session=session, **kind.create_options()
            )
        except OperationFailure:
            # a concurrent start-up created it first (NamespaceExists): compare with it
            existing = _existing_options(database, name, session)
            if existing is None:
                raise
        else:
            return
    differences = kind.differences(existing)
    if differences:
        raise CollectionMismatchError(model, name, differences, _hint(kind))
