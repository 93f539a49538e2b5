"""Polymorphic families: every operation on a class keeps to its documents.

:func:`family_documents_filter` is the filter keeping an operation on a subclass to the
documents of that class and of its subclasses: finds, counts, ``distinct``, updates,
find-and-modify and ``remove`` get it through ``build_filter``, ``aggregate`` through
:func:`keep_pipeline_to_class`, a delete of an instance with its key.

An instance's save matches only a document of its own class (it writes that class's
fields and ``_t``); its delete matches a document of its class or of one of its
subclasses (what ``find_one(type(instance), ...)`` would find by its key). A write that
met a document of another class of the family with the same ``_id`` leaves it alone and
gets a clear error saying so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pymongo.client_session import ClientSession
from pymongo.collection import Collection

from anyodm.errors import DocumentNotFoundError, InvalidValueError

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = [
    "family_documents_filter",
    "keep_pipeline_to_class",
    "not_found_error",
    "own_documents_filter",
    "sibling_conflicts",
]


def own_documents_filter(model: type[Model]) -> dict[str, Any] | None:
    """The part of a save's filter (upsert or revision-checked update) that matches only
    ``model``'s own documents (a family's base also matches documents without a
    discriminator); None outside a family."""
    return model.__anyodm__.class_filter(with_children=False)


def family_documents_filter(model: type[Model]) -> dict[str, Any] | None:
    """The filter document matching only documents of ``model`` and of its subclasses
    (``{"_t": {"$in": [...]}}``, a new dict on each call, listing the family's classes
    known now); None for a family's base (every document) or outside a family.

    What every operation on ``model`` adds to its own filter: a find's, a count's, an
    update's, a delete's, an aggregation's first ``$match``.
    """
    return model.__anyodm__.family_filter()


#: first stages after which the class's ``$match`` goes (they must come first: Atlas
#: Search)
_FIRST_STAGES_THEN_MATCH = frozenset({"$search", "$vectorSearch"})
#: first stages whose results are not the collection's documents (statistics, metadata,
#: change events): a pipeline they lead is left as it is
_NOT_DOCUMENTS = frozenset(
    {
        "$changeStream",
        "$collStats",
        "$indexStats",
        "$listSampledQueries",
        "$listSearchIndexes",
        "$planCacheStats",
        "$searchMeta",
    }
)


def keep_pipeline_to_class(
    model: type[Model], stages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """An aggregation on ``model`` reads only its documents (and its subclasses'): the
    class's filter as a first ``$match`` (in a leading ``$geoNear``'s ``query``, or just
    after a leading ``$search``/``$vectorSearch``, which must come first). ``stages`` as
    they are for a family's base, outside a family, and for a pipeline led by a stage
    whose results are not the collection's documents (``$collStats``...)."""
    family_filter = family_documents_filter(model)
    if family_filter is None:
        return stages
    first = next(iter(stages[0])) if stages else None
    if first in _NOT_DOCUMENTS:
        return stages
    if first == "$geoNear" and isinstance(stages[0][first], dict):
        options = dict(stages[0][first])
        query = options.get("query")
        options["query"] = {"$and": [family_filter, query]} if query else family_filter
        return [{first: options}, *stages[1:]]
    match = {"$match": family_filter}
    if first in _FIRST_STAGES_THEN_MATCH:
        return [stages[0], match, *stages[1:]]
    return [match, *stages]


def _stored_class(
    collection: Collection[Any], instance: Model, session: ClientSession | None
) -> tuple[bool, type[Any] | None, Any]:
    """Whether a document with the instance's ``_id`` exists, the family class its
    discriminator names (None if unknown) and the discriminator itself."""
    family = type(instance).__anyodm__.family
    assert family is not None
    stored = collection.find_one(
        {"_id": instance.__anyodm_stored_pk__}, {family.key: 1}, session=session
    )
    if stored is None:
        return False, None, None
    value = stored.get(family.key)
    return True, family.classes.get(value) if value is not None else family.root, value


def sibling_conflicts(
    collection: Collection[Any], instances: Iterable[Model], session: ClientSession | None
) -> InvalidValueError | None:
    """After a save matched no document of the instance's class: the error to raise if
    the document with its ``_id`` belongs to another class of its family (nothing was
    written for it)."""
    for instance in instances:
        model = type(instance)
        family = model.__anyodm__.family
        if family is None:
            continue
        exists, other, value = _stored_class(collection, instance, session)
        if exists and other is not model:
            name = other.__name__ if other is not None else repr(value)
            return InvalidValueError(
                model,
                f"{model.__name__}._id",
                f"the document {instance.__anyodm_pk_value__!r} is stored as a {name} of "
                f"the {family.root.__name__} family; a {model.__name__} cannot "
                "replace it (nothing was written)",
            )
    return None


def not_found_error(
    collection: Collection[Any], instance: Model, session: ClientSession | None
) -> DocumentNotFoundError:
    """After a delete matched nothing: ``DocumentNotFoundError``, saying so when a
    document of another class of the instance's family holds its ``_id`` (left alone)."""
    model = type(instance)
    family = model.__anyodm__.family
    if family is None:
        return DocumentNotFoundError(instance)
    exists, other, value = _stored_class(collection, instance, session)
    if not exists:
        return DocumentNotFoundError(instance)
    name = other.__name__ if other is not None else f"discriminator {value!r}"
    return DocumentNotFoundError(
        instance,
        f"{model.__name__} instance not found in the database (primary key "
        f"{instance.__anyodm_pk_value__!r}): the document with this key is stored as a "
        f"{name} of the {family.root.__name__} family, which a delete through "
        f"{model.__name__} leaves alone (nothing was deleted)",
    )
