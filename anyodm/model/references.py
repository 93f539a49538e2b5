"""The aggregation that loads referenced documents with one ``$lookup`` per reference.

A top-level reference is looked up in place; a list of references, or one inside
embedded models (or arrays of them), is looked up into a temporary field and then put
in place of each id, in the stored order (a missing target of a list keeps its key,
which parsing reports by name, or becomes ``None`` where the items are optional).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from anyodm.model.reference_paths import (
    Each,
    FieldStep,
    ReferencePath,
    loaded_back_references,
    loaded_paths,
)
from anyodm.model.reference_shapes import MISSING_TARGET, missing_target

__all__ = [
    "MISSING_TARGET",
    "check_findable",
    "check_loadable",
    "find_pipeline",
    "found_key",
    "has_lookups",
    "is_top_level_list",
    "missing_target",
    "path_into_references",
    "read_plan",
]


#: the temporary field an embedded reference's looked-up documents are put in
_FOUND = "__anyodm_found"


def _missing_or_null(key: Any) -> dict[str, Any]:
    """An expression: ``missing_target`` of a stored key expression."""
    return {"$cond": [{"$eq": [{"$ifNull": [key, None]}, None]}, None, {MISSING_TARGET: key}]}


def found_key(key: str) -> str:
    """Where a top-level list of references' documents are looked up into, for
    ``model_validate_doc`` to put them in order (in the client, where it is cheapest)."""
    return f"{_FOUND}_{key}"


def is_top_level_list(path: ReferencePath) -> bool:
    """A list of references that is a field of the document itself."""
    return len(path.steps) == 2 and path.many


def _lookups(
    model: type[Any], seen: tuple[type[Any], ...], ordered_by_client: bool = False
) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = []
    for path, only in loaded_paths(model):
        target = path.target
        if target in seen or target is model:
            chain = " -> ".join(m.__name__ for m in (*seen, model, target))
            raise TypeError(
                f"{model.__name__}.{path.dotted}: cyclic references cannot be loaded ({chain})"
            )
        nested = _lookups(target, (*seen, model))
        if only is not None:
            family_key = model.__anyodm__.family.key  # only a family's paths have `only`
            stages.extend(_subclass_lookup(path, nested, family_key, only))
        elif ordered_by_client and is_top_level_list(path):
            stages.append(_lookup_into(found_key(path.dotted), path, nested))
        elif len(path.steps) == 1:
            stages.extend(_top_level_lookup(path.dotted, target, nested, path.optional))
        else:
            stages.extend(_embedded_lookup(path, nested))
    return stages


_loadable: set[type[Any]] = set()  # model classes live as long as the program


def check_loadable(model: type[Any]) -> None:
    """Raise the ``TypeError`` naming the chain if ``model``'s references form a cycle that
    finds could not load (checked before a save writes anything)."""
    if model not in _loadable:
        _lookups(model, ())
        _loadable.add(model)


def check_findable(model: type[Any]) -> None:
    """Raise the ``TypeError`` naming the chain if ``model``'s references (its
    back-references' included) form a cycle that finds could not load (checked before a
    find-and-modify sends anything)."""
    read_plan(model).lookups(ordered_by_client=False)


def _top_level_lookup(
    key: str, target: type[Any], nested: list[dict[str, Any]], optional: bool
) -> list[dict[str, Any]]:
    collection = target.__anyodm__.collection
    if nested:
        lookup: dict[str, Any] = {
            "from": collection,
            "let": {"ref": f"${key}"},
            "pipeline": [{"$match": {"$expr": {"$eq": ["$_id", "$$ref"]}}}, *nested],
            "as": key,
        }
    else:
        lookup = {"from": collection, "localField": key, "foreignField": "_id", "as": key}
    if optional:  # no target: None if none is stored, else the missing target's stand-in
        lookup["as"] = _FOUND
        found = {"$arrayElemAt": [f"${_FOUND}", 0]}
        value = {"$ifNull": [found, _missing_or_null(f"${key}")]}
        return [{"$lookup": lookup}, {"$set": {key: value}}, {"$unset": _FOUND}]
    return [
        {"$lookup": lookup},
        {"$unwind": {"path": f"${key}", "preserveNullAndEmptyArrays": True}},
    ]


def _lookup_into(into: str, path: ReferencePath, nested: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``$lookup`` of every document a path's references point to, into ``into``."""
    collection = path.target.__anyodm__.collection
    if nested:
        lookup: dict[str, Any] = {
            "from": collection,
            "let": {"refs": _all_keys("$$ROOT", path.steps, 0)},
            "pipeline": [{"$match": {"$expr": {"$in": ["$_id", "$$refs"]}}}, *nested],
            "as": into,
        }
    else:  # localField follows arrays at any depth itself
        lookup = {"from": collection, "localField": path.dotted, "foreignField": "_id", "as": into}
    return {"$lookup": lookup}


def _all_keys(base: str, steps: tuple[Any, ...], depth: int) -> Any:
    """An expression: every key at the end of ``steps`` from ``base``, as one flat array
    (through arrays at any depth: ``parts[].reviewers[]`` is not an array of arrays)."""
    if not steps:
        return [base]  # a missing key becomes null, which matches no _id
    step, rest = steps[0], steps[1:]
    if isinstance(step, FieldStep):
        return _all_keys(f"{base}.{step.key}", rest, depth)
    items = {"$cond": [{"$isArray": base}, base, []]}
    if not rest:
        return items
    item = f"v{depth}"
    per_item = {"$map": {"input": items, "as": item, "in": _all_keys(f"$${item}", rest, depth + 1)}}
    return {
        "$reduce": {
            "input": per_item,
            "initialValue": [],
            "in": {"$concatArrays": ["$$value", "$$this"]},
        }
    }


def _embedded_lookup(path: ReferencePath, nested: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Look the referenced documents up into a temporary field, then put each in place
    of its id (through embedded documents and arrays of them), then drop the field."""
    lookup = _lookup_into(_FOUND, path, nested)["$lookup"]
    first = path.steps[0]
    assert isinstance(first, FieldStep)
    top = f"${first.key}"
    replaced = {
        "$cond": [
            {"$eq": [{"$type": top}, "missing"]},
            "$$REMOVE",
            _replace_ids(top, path.steps[1:], 0, path.optional),
        ]
    }
    return [{"$lookup": lookup}, {"$set": {first.key: replaced}}, {"$unset": _FOUND}]


def _subclass_lookup(
    path: ReferencePath, nested: list[dict[str, Any]], family_key: str, only: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Like :func:`_embedded_lookup`, for a reference only some subclasses of a
    polymorphic model have: put in place only in their documents (by discriminator)."""
    lookup = _lookup_into(_FOUND, path, nested)["$lookup"]
    first = path.steps[0]
    assert isinstance(first, FieldStep)
    top = f"${first.key}"
    if len(path.steps) > 1:
        value = _replace_ids(top, path.steps[1:], 0, path.optional)
    elif path.optional:
        value = {"$ifNull": [_found(top), _missing_or_null(top)]}
    else:  # a missing target keeps its key, which parsing names
        value = {"$ifNull": [_found(top), top]}
    in_subclass = {"$in": [f"${family_key}", list(only)]}
    replaced = {
        "$cond": [
            {"$eq": [{"$type": top}, "missing"]},
            "$$REMOVE",
            {"$cond": [in_subclass, value, top]},
        ]
    }
    return [{"$lookup": lookup}, {"$set": {first.key: replaced}}, {"$unset": _FOUND}]


def _found(key: str) -> dict[str, Any]:
    """An expression: the looked-up document whose ``_id`` is ``key`` (missing if none)."""
    matching = {
        "$filter": {"input": f"${_FOUND}", "as": "found", "cond": {"$eq": ["$$found._id", key]}}
    }
    return {"$arrayElemAt": [matching, 0]}


def _replace_ids(base: str, steps: tuple[Any, ...], depth: int, optional: bool) -> Any:
    """An expression: ``base`` with the reference at the end of ``steps`` replaced by its
    looked-up document (left as it is where the shape does not match). A list of
    references is mapped item by item, in order; an item whose target is missing keeps
    its key (``None`` if ``optional``)."""
    step, rest = steps[0], steps[1:]
    if isinstance(step, Each):
        item = f"v{depth}"
        if rest:
            each = _replace_ids(f"$${item}", rest, depth + 1, optional)
        elif optional:
            each = {"$ifNull": [_found(f"$${item}"), _missing_or_null(f"$${item}")]}
        else:
            each = {"$ifNull": [_found(f"$${item}"), f"$${item}"]}
        mapped = {"$map": {"input": base, "as": item, "in": each}}
        return {"$cond": [{"$isArray": base}, mapped, base]}
    value = f"{base}.{step.key}"
    if rest:
        inner = _replace_ids(value, rest, depth + 1, optional)
    elif optional:
        inner = {"$ifNull": [_found(value), _missing_or_null(value)]}
    else:
        inner = _found(value)
    applies = {
        "$and": [
            {"$eq": [{"$type": base}, "object"]},
            {"$ne": [{"$type": value}, "missing"]},
        ]
    }
    return {"$cond": [applies, {"$mergeObjects": [base, {step.key: inner}]}, base]}


def _back_reference_lookups(model: type[Any]) -> list[dict[str, Any]]:
    """One ``$lookup`` per back-reference field: the documents whose foreign key (a
    reference, or a list of them, in the document or in its embedded models) holds this
    document's ``_id``, in ``_id`` order, with their own references loaded (for one
    only some subclasses of a polymorphic model have: in their documents only)."""
    stages: list[dict[str, Any]] = []
    for _, key, shape, only in loaded_back_references(model):
        source = shape.source
        keys = _all_keys("$$ROOT", shape.path.steps, 0)
        pipeline: list[dict[str, Any]] = [{"$match": {"$expr": {"$in": ["$$id", keys]}}}]
        family_filter = source.__anyodm__.family_filter()
        if family_filter is not None:
            pipeline.append({"$match": family_filter})
        pipeline.append({"$sort": {"_id": 1}})
        pipeline.extend(_lookups(source, ()))
        lookup = {
            "from": source.__anyodm__.collection,
            "let": {"id": "$_id"},
            "pipeline": pipeline,
            "as": key if only is None else _FOUND,
        }
        stages.append({"$lookup": lookup})
        if only is not None:
            family_key = model.__anyodm__.family.key  # only a family's have `only`
            kept = {"$cond": [{"$eq": [{"$type": f"${key}"}, "missing"]}, "$$REMOVE", f"${key}"]}
            in_subclass = {"$in": [f"${family_key}", list(only)]}
            stages.append({"$set": {key: {"$cond": [in_subclass, f"${_FOUND}", kept]}}})
            stages.append({"$unset": _FOUND})
    return stages


def has_lookups(model: type[Any]) -> bool:
    """Whether loading ``model``'s documents needs lookups: an eager reference anywhere in
    them (embedded models included) or a back-reference."""
    return read_plan(model).has_lookups


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


def _first_path_into(query: Any, prefixes: tuple[str, ...]) -> str | None:
    return next((path for path in _paths(query) if path.startswith(prefixes)), None)


class ReadPlan:
    """What the finds of one model send apart from their filter, sort and window: the
    lookups that load its references and what reaches into them, each computed at its
    first use and kept (:func:`read_plan` makes a new plan when the model's polymorphic
    family grows). A computation that raises (a cycle of references, two subclasses
    keeping different references under one key) is not kept: it raises again."""

    __slots__ = ("_has_lookups", "_lookups", "_prefixes", "model")

    def __init__(self, model: type[Any]) -> None:
        self.model: type[Any] = model
        self._prefixes: tuple[str, ...] | None = None
        self._has_lookups: bool | None = None
        #: the lookup stages, with top-level lists ordered by the client (True) or in
        #: place by the server (False)
        self._lookups: dict[bool, list[dict[str, Any]]] = {}

    @property
    def reference_prefixes(self) -> tuple[str, ...]:
        """``"<stored path>."`` of every eager reference a find loads."""
        prefixes = self._prefixes
        if prefixes is None:
            paths = loaded_paths(self.model)
            prefixes = self._prefixes = tuple(f"{loaded.path.dotted}." for loaded in paths)
        return prefixes

    @property
    def has_lookups(self) -> bool:
        """Whether finds need lookups (an eager reference or a back-reference)."""
        found = self._has_lookups
        if found is None:
            found = bool(loaded_paths(self.model)) or bool(loaded_back_references(self.model))
            self._has_lookups = found
        return found

    def lookups(self, ordered_by_client: bool) -> list[dict[str, Any]]:
        """The lookup stages (``TypeError`` naming the chain for a cycle of references)."""
        stages = self._lookups.get(ordered_by_client)
        if stages is None:
            model = self.model
            stages = [*_lookups(model, (), ordered_by_client), *_back_reference_lookups(model)]
            self._lookups[ordered_by_client] = stages
        return stages

    def path_into(self, filter: Any, sort: Any = None) -> str | None:
        """See :func:`path_into_references`."""
        if not filter and not sort:
            return None
        prefixes = self.reference_prefixes
        if not prefixes:
            return None
        return _first_path_into(filter, prefixes) or _first_path_into(sort, prefixes)

    def pipeline(
        self,
        filter: Mapping[str, Any] | None,
        sort: list[tuple[str, int]] | None,
        skip: int | None,
        limit: int | None,
        in_place: bool = False,
    ) -> list[dict[str, Any]] | None:
        """See :func:`find_pipeline`."""
        if not self.has_lookups:
            return None
        late = self.path_into(filter, sort) is not None
        # a top-level list of references is put in order by model_validate_doc (cheaper
        # than the server's $map), unless the filter or sort needs the documents in
        # place, or the caller does (``in_place``: a projection, which keeps only the
        # fields it names)
        lookups = self.lookups(ordered_by_client=not (late or in_place))
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


#: each model's current plan, with the size of its polymorphic family when it was made
_PLANS: WeakKeyDictionary[type[Any], tuple[int, ReadPlan]] = WeakKeyDictionary()


def read_plan(model: type[Any]) -> ReadPlan:
    """``model``'s read plan: made at the first find after the class is complete, made
    anew once a subclass joins its polymorphic family (its lookups then cover it)."""
    family = getattr(model.__anyodm__, "family", None)
    version = 0 if family is None else len(family.classes)
    cached = _PLANS.get(model)
    if cached is None or cached[0] != version:
        cached = _PLANS[model] = (version, ReadPlan(model))
    return cached[1]


def path_into_references(model: type[Any], filter: Any, sort: Any = None) -> str | None:
    """The first key of a (raw) filter or sort that reaches into a referenced document
    (``"authors.name"``), which finds match after loading the references; ``None`` if
    none does (the filter then means the same on the stored documents)."""
    if not filter and not sort:
        return None
    return read_plan(model).path_into(filter, sort)


def find_pipeline(
    model: type[Any],
    filter: Mapping[str, Any] | None,
    sort: list[tuple[str, int]] | None,
    skip: int | None,
    limit: int | None,
    in_place: bool = False,
) -> list[dict[str, Any]] | None:
    """The aggregation for a find on ``model``, or ``None`` when it has no references.

    ``$match``, ``$sort``, ``$skip`` and ``$limit`` come before the lookups (so only the
    documents returned are joined) unless a raw filter or sort reaches into a referenced
    document (``{"publisher.name": ...}``); then they follow the lookups.
    A missing referenced document leaves its field absent, which ``model_validate_doc``
    reports as a ``DocumentParsingError`` naming the reference field.
    """
    return read_plan(model).pipeline(filter, sort, skip, limit, in_place)
