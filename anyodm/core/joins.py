"""The references of a document the server returned on its own (``find_one_and_update``,
``find_one_and_delete``), put in place in the client as a find's lookups would: one
query per reference path (for all the documents of a level at once) and per
back-reference.

The returned document itself stands in for any reference to its key met on the way
(a back-reference's documents point back at it): after ``find_one_and_delete`` it is
no longer in the database, yet the documents referring to it load.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pymongo.client_session import ClientSession

from anyodm.core.gateway import DatabaseGateway
from anyodm.model.reference_paths import Each, loaded_back_references, loaded_paths
from anyodm.model.reference_shapes import hashable_key
from anyodm.model.references import missing_target

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = ["with_references"]

#: (collection, key) -> a document with its references in place
Known = dict[tuple[str, Any], Mapping[str, Any]]


def with_references(
    gateway: DatabaseGateway,
    model: type[Model],
    doc: Mapping[str, Any],
    session: ClientSession | None,
) -> Mapping[str, Any]:
    """``doc`` with each eager reference (in the document or its embedded models)
    replaced by the referenced document and each back-reference filled in; a missing
    target is dropped (a single reference), kept as its key (an item of a list) or
    ``None`` where the field allows it, so that parsing reports it as a find would."""
    info = model.__anyodm__
    joined: Mapping[str, Any] = _joined(gateway, model, [doc], session, {})[0]
    family = getattr(info, "family", None)
    back_references = [
        loaded
        for loaded in loaded_back_references(model)
        if loaded.only is None or (family is not None and doc.get(family.key) in loaded.only)
    ]
    if not back_references:
        return joined
    known: Known = {(info.collection, hashable_key(doc.get("_id"))): joined}
    result = dict(joined)
    for _, key, shape, _ in back_references:
        source = shape.source
        query: dict[str, Any] = {shape.key: doc.get("_id")}
        family_filter = source.__anyodm__.family_filter()
        if family_filter is not None:
            query = {"$and": [family_filter, query]}
        found = list(gateway.collection(source).find(query, sort=[("_id", 1)], session=session))
        result[key] = _joined(gateway, source, found, session, known)
    return result


def _joined(
    gateway: DatabaseGateway,
    model: type[Model],
    docs: list[Mapping[str, Any]],
    session: ClientSession | None,
    known: Known,
) -> list[Any]:
    """``docs`` (of ``model``, or of its subclasses) with their eager references in
    place, however deep."""
    joined: list[Any] = docs
    family = getattr(model.__anyodm__, "family", None)
    for path, only in loaded_paths(model):
        target = path.target
        collection = target.__anyodm__.collection

        def applies(doc: Any, only: tuple[str, ...] | None = only) -> bool:
            return only is None or (family is not None and doc.get(family.key) in only)

        keys = {
            hashable_key(key): key
            for doc in joined
            if applies(doc)
            for key in _keys_at(doc, path.steps)
            if key is not None
        }
        found = {key: known[(collection, key)] for key in keys if (collection, key) in known}
        wanted = [key for hashable, key in keys.items() if hashable not in found]
        if wanted:
            fetched = list(
                gateway.collection(target).find({"_id": {"$in": wanted}}, session=session)
            )
            for target_doc in _joined(gateway, target, fetched, session, known):
                found[hashable_key(target_doc["_id"])] = target_doc
        joined = [
            _replaced(doc, path.steps, found, path.optional) if applies(doc) else doc
            for doc in joined
        ]
    return joined


def _keys_at(value: Any, steps: tuple[Any, ...]) -> Iterator[Any]:
    """The stored keys at the end of ``steps`` in a raw document."""
    if not steps:
        yield value
        return
    step, rest = steps[0], steps[1:]
    if isinstance(step, Each):
        if isinstance(value, list):
            for item in value:
                yield from _keys_at(item, rest)
    elif isinstance(value, Mapping) and step.key in value:
        yield from _keys_at(value[step.key], rest)


def _replaced(
    value: Any, steps: tuple[Any, ...], found: dict[Any, Mapping[str, Any]], optional: bool
) -> Any:
    step, rest = steps[0], steps[1:]
    if isinstance(step, Each):
        if not isinstance(value, list):
            return value
        if rest:
            return [_replaced(item, rest, found, optional) for item in value]
        return [
            None
            if key is None
            else found.get(hashable_key(key), missing_target(key) if optional else key)
            for key in value
        ]
    if not isinstance(value, Mapping) or step.key not in value:
        return value
    out = dict(value)
    if rest:
        out[step.key] = _replaced(value[step.key], rest, found, optional)
        return out
    key = value[step.key]
    target = None if key is None else found.get(hashable_key(key))
    if target is not None:
        out[step.key] = target
    elif optional:
        out[step.key] = missing_target(key)
    else:
        del out[step.key]
    return out
