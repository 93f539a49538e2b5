"""Creating one index so that start-ups running at once agree.

Several processes (replicas of a service, workers of one server) run
``configure_database`` at the same time on one database.  Creating an index that
exists with the same definition is a no-op on MongoDB, but two creations racing can
fail: one may see the other's build in progress, the collection being created
implicitly by the other, or report the other's index as a conflict.  So a creation that
fails with one of those codes looks at the index the server now has under that name: the
same definition means another process made it, which is success; another definition is
a real conflict (raised, or replaced when asked); none yet means a build or a collection
creation is under way, and the creation is tried again (a few times, briefly: an index
of those keys under another name is a conflict that the last try reports).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pymongo import IndexModel
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

__all__ = ["ensure_index", "same_index"]

#: IndexOptionsConflict, IndexKeySpecsConflict: an index of that name or those keys
#: exists with another definition (or, in a race, is being built by someone else).
CONFLICT_CODES = frozenset({85, 86})
_INDEX_ALREADY_EXISTS = 68
_NAMESPACE_EXISTS = 48  # the collection was created implicitly by a concurrent creation
_WRITE_CONFLICT = 112
_INDEX_BUILD_ALREADY_IN_PROGRESS = 276
_INDEX_NOT_FOUND = 27
#: codes after which the server's index decides: same definition, conflict, or try again
_RACE_CODES = CONFLICT_CODES | {
    _INDEX_ALREADY_EXISTS,
    _NAMESPACE_EXISTS,
    _WRITE_CONFLICT,
    _INDEX_BUILD_ALREADY_IN_PROGRESS,
}
#: options that change what an index does; the server may add others (defaults of text
#: and geo indexes, "v", "ns") which say nothing about a difference
_MEANINGFUL_OPTIONS = frozenset(
    {
        "unique",
        "sparse",
        "partialFilterExpression",
        "expireAfterSeconds",
        "collation",
        "hidden",
        "wildcardProjection",
    }
)
_NOT_OPTIONS = frozenset({"key", "name", "background", "v", "ns"})
#: tries before a race that does not settle is reported
_ATTEMPTS = 6
_BACKOFF = 0.05


def ensure_index(
    collection: Collection[Any],
    index: IndexModel,
    replace: bool,
    session: ClientSession | None,
) -> None:
    """Create ``index`` unless the same index exists; with ``replace``, an index of that
    name with another definition is dropped and created again.  An index of that name or
    those keys with another definition raises PyMongo's ``OperationFailure`` otherwise."""
    wanted = index.document
    name = wanted["name"]
    for attempt in range(_ATTEMPTS):
        try:
            collection.create_indexes([index], session=session)
        except OperationFailure as exc:
            if exc.code not in _RACE_CODES or attempt == _ATTEMPTS - 1:
                raise
            existing = _index_named(collection, name, session)
            if existing is not None and same_index(existing, wanted):
                return  # made by a concurrent start-up
            if existing is not None and exc.code in CONFLICT_CODES | {_INDEX_ALREADY_EXISTS}:
                if not replace:
                    raise
                _drop(collection, name, session)
                continue
            # None listed under that name: a build or a collection creation is under
            # way (a conflict with another index of those keys raises at the last try)
            time.sleep(_BACKOFF * (attempt + 1))
        else:
            return


def same_index(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether the server's ``existing`` index (as ``listIndexes`` reports it) is the
    index ``wanted`` (an ``IndexModel.document``): the same keys in the same order and
    the same options that change what it does."""
    if list(existing.get("key", {}).items()) != list(wanted["key"].items()):
        return False
    for option, value in wanted.items():
        if option in _NOT_OPTIONS:
            continue
        if not _same_option(existing.get(option), value):
            return False
    return not any(existing.get(option) for option in _MEANINGFUL_OPTIONS if option not in wanted)


def _same_option(found: Any, value: Any) -> bool:
    if isinstance(value, Mapping) and isinstance(found, Mapping):
        # the server completes some options (a collation's defaults): ours must be there
        return all(key in found and _same_option(found[key], v) for key, v in value.items())
    return bool(found == value)


def _index_named(
    collection: Collection[Any], name: str, session: ClientSession | None
) -> Mapping[str, Any] | None:
    for spec in collection.list_indexes(session=session):
        if spec.get("name") == name:
            found: Mapping[str, Any] = spec
            return found
    return None


def _drop(collection: Collection[Any], name: str, session: ClientSession | None) -> None:
    try:
        collection.drop_index(name, session=session)
    except OperationFailure as exc:
        if exc.code != _INDEX_NOT_FOUND:  # dropped by a concurrent start-up
            raise
