"""``fetch``: load a reference field on demand (lazy references, or a reload of any)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo.client_session import ClientSession

from anyodm.core.gateway import DatabaseGateway
from anyodm.core.pending import note_loaded
from anyodm.errors import DocumentNotFoundError, InvalidFieldError
from anyodm.model.lazy import NotLoaded
from anyodm.model.reference_shapes import hashable_key
from anyodm.model.references import find_pipeline

if TYPE_CHECKING:
    from anyodm.model import Model
    from anyodm.model.reference_shapes import ReferenceShape

__all__ = ["check_fetch", "fetch"]


def check_fetch(instance: Model, field: Any) -> str:
    """The name of the reference field ``field`` (a name or a field proxy) of the
    instance's model; ``InvalidFieldError`` otherwise (before anything is sent)."""
    model = type(instance)
    info = model.__anyodm__
    if not isinstance(field, str):
        field = getattr(field, "_name", field)  # a field proxy: Book.author
    if not isinstance(field, str) or field not in info.reference_names:
        raise InvalidFieldError(
            model,
            f"{model.__name__}.{field}",
            f"fetch(): not a reference field of {model.__name__} "
            f"(its references: {', '.join(info.reference_names) or 'none'})",
        )
    return field


def _key_of(value: Any) -> Any:
    return None if value is None else value.__anyodm_stored_pk__


def fetch(
    gateway: DatabaseGateway, instance: Model, field: str, session: ClientSession | None
) -> Any:
    """Load the documents a reference field points to (one round trip, their own
    references loaded), put them in the field, and return its new value.

    A missing target raises ``DocumentNotFoundError`` naming its key, unless the
    field allows ``None``; the instance's saved state does not change (the stored keys
    are the same).
    """
    field = check_fetch(instance, field)
    model = type(instance)
    shape: ReferenceShape = model.__anyodm__.reference_shapes[field]
    current = instance.__dict__[field]
    values = current if shape.many and isinstance(current, list) else [current]
    keys = [_key_of(value) for value in values]
    wanted = [key for key in keys if key is not None]
    loaded: dict[Any, Any] = {}
    if wanted:
        target = shape.target
        query = {"_id": {"$in": wanted}}
        pipeline = find_pipeline(target, query, None, 0, None)
        collection = gateway.collection(target)
        if pipeline is None:
            docs = list(collection.find(query, session=session))
        else:
            with collection.aggregate(pipeline, session=session) as cursor:
                docs = list(cursor)
        loaded = {hashable_key(doc["_id"]): target.model_validate_doc(doc) for doc in docs}
        note_loaded(loaded.values(), session)
    result: list[Any] = []
    for key in keys:
        found = None if key is None else loaded.get(hashable_key(key))
        if found is None and key is not None and not shape.optional:
            raise DocumentNotFoundError(
                instance,
                f"{model.__name__}.{field}: referenced {shape.target.__name__} document "
                f"{key!r} not found",
            )
        result.append(found)
    value: Any = result if shape.many and isinstance(current, list) else result[0]
    vars(instance)[field] = value
    return value


def is_loaded(value: Any) -> bool:
    """Whether a reference field's value holds no ``NotLoaded`` placeholder."""
    if isinstance(value, list):
        return not any(isinstance(item, NotLoaded) for item in value)
    return not isinstance(value, NotLoaded)
