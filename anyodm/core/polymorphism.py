"""Polymorphic families in writes: an instance's upsert matches only a document of its
own class, and a write that met a sibling class's document gets a clear error."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pymongo.client_session import ClientSession
from pymongo.collection import Collection

from anyodm.errors import InvalidValueError

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = ["own_documents_filter", "sibling_conflicts"]


def own_documents_filter(model: type[Model]) -> dict[str, Any] | None:
    """The part of an upsert's filter that matches only ``model``'s own documents (a
    family's base also matches documents without a discriminator); None outside a family.
    """
    info = model.__anyodm__
    if info.family is None:
        return None
    values: list[Any] = [info.discriminator]
    if info.family.root is model:
        values.append(None)
    return {info.family.key: {"$in": values}}


def sibling_conflicts(
    collection: Collection[Any], instances: Iterable[Model], session: ClientSession | None
) -> InvalidValueError | None:
    """After a duplicate ``_id``: the error to raise if the document there belongs to
    another class of the instance's family (nothing was written for it)."""
    for instance in instances:
        info = type(instance).__anyodm__
        family = info.family
        if family is None:
            continue
        stored = collection.find_one(
            {"_id": instance.__anyodm_stored_pk__}, {family.key: 1}, session=session
        )
        if stored is None:
            continue
        value = stored.get(family.key)
        other = family.classes.get(value) if value is not None else family.root
        if other is not type(instance):
            name = other.__name__ if other is not None else repr(value)
            return InvalidValueError(
                type(instance),
                f"{type(instance).__name__}._id",
                f"the document {instance.__anyodm_pk_value__!r} is stored as a {name} of "
                f"the {family.root.__name__} family; a {type(instance).__name__} cannot "
                "replace it (nothing was written)",
            )
    return None
