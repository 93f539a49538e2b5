"""The aggregation that loads referenced documents with one ``$lookup`` per reference."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["find_pipeline"]


def _lookups(model: type[Any], seen: tuple[type[Any], ...]) -> list[dict[str, Any]]:
    info = model.__anyodm__
    stages: list[dict[str, Any]] = []
    for name, target in info.references.items():
        if target in seen or target is model:
            chain = " -> ".join(m.__name__ for m in (*seen, model, target))
            raise TypeError(
                f"{model.__name__}.{name}: cyclic references cannot be loaded ({chain})"
            )
        key = info.key_names[name]
        target_info = target.__anyodm__
        nested = _lookups(target, (*seen, model))
        if nested:
            lookup: dict[str, Any] = {
                "from": target_info.collection,
                "let": {"ref": f"${key}"},
                "pipeline": [{"$match": {"$expr": {"$eq": ["$_id", "$$ref"]}}}, *nested],
                "as": key,
            }
        else:
            lookup = {
                "from": target_info.collection,
                "localField": key,
                "foreignField": "_id",
                "as": key,
            }
        stages.append({"$lookup": lookup})
        stages.append({"$unwind": {"path": f"${key}", "preserveNullAndEmptyArrays": True}})
    return stages


def _paths(query: Any) -> Iterable[str]:
    """Every field path a filter or sort mentions (through $and/$or/$nor)."""
    if isinstance(query, Mapping):
        for key, value in query.items():
            if key.startswith("$"):
                if isinstance(value, (list, tuple)):
                    for part in value:
                        yield from _paths(part)
            else:
                yield key
    elif isinstance(query, (list, tuple)):
        for item in query:
            if isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
                yield item[0]


def _needs_lookups_first(query: Any, reference_keys: Iterable[str]) -> bool:
    prefixes = tuple(f"{key}." for key in reference_keys)
    return any(path.startswith(prefixes) for path in _paths(query))


def find_pipeline(
    model: type[Any],
    filter: Mapping[str, Any] | None,
    sort: list[tuple[str, int]] | None,
    skip: int | None,
    limit: int | None,
) -> list[dict[str, Any]] | None:
    """The aggregation for a find on ``model``, or ``None`` when it has no references.

    ``$match``, ``$sort``, ``$skip`` and ``$limit`` come before the lookups (so only the
    documents returned are joined) unless a raw filter or sort reaches into a referenced
    document (``{"publisher.name": ...}``); then they follow the lookups.
    A missing referenced document leaves its field absent, which ``model_validate_doc``
    reports as a ``DocumentParsingError`` naming the reference field.
    """
    info = model.__anyodm__
    if not info.reference_names:
        return None
    lookups = _lookups(model, ())
    keys = [info.key_names[name] for name in info.reference_names]
    late = _needs_lookups_first(filter, keys) or _needs_lookups_first(sort, keys)
    narrowing: list[dict[str, Any]] = []
    if filter:
        narrowing.append({"$match": dict(filter)})
    if sort:
        narrowing.append({"$sort": dict(sort)})
    if skip:
        narrowing.append({"$skip": skip})
    if limit:
        narrowing.append({"$limit": limit})
    return [*lookups, *narrowing] if late else [*narrowing, *lookups]
