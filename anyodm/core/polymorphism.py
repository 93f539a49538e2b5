"""Polymorphic families in writes.

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
    "not_found_error",
    "own_documents_filter",
    "sibling_conflicts",
]


def own_documents_filter(model: type[Model]) -> dict[str, Any] | None:
    """The part of a save's filter (upsert or revision-checked update) that matches only
    ``model``'s own documents (a family's base also matches documents without a
    discriminator); None outside a family."""
    info = model.__anyodm__
    if info.family is None:
        return None
    values: list[Any] = [info.discriminator]
    if info.family.root is model:
        values.append(None)
    return {info.family.key: {"$in": values}}


def family_documents_filter(model: type[Model]) -> dict[str, Any] | None:
    """The part of a delete's filter that matches only documents of ``model`` and of its
    subclasses; None for a family's base (every document) or outside a family."""
    return model.__anyodm__.family_filter()


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
