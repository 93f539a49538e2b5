"""A keyed ``$lookup`` on ``_id`` for mongoeco 4.11.0, applied in the embedded server only.

MongoDB runs ``{$lookup: {from, localField, foreignField: "_id", as}}`` through the
foreign collection's ``_id`` index.  mongoeco 4.11.0 has no such path: for each
aggregate it hashes the whole foreign collection, then for each local document it
re-checks every candidate against every local key with its general BSON equality.  That
re-check is most of the cost of loading documents with references (about 230 of the
265 µs per book of ``benchmarks/list_references.py``).  This patch replaces
``stages._apply_lookup`` (what the ``$lookup`` stage calls) with a keyed path, for
every client alike.

**When the keyed path is taken.**  The stage is the plain form (exactly ``from``,
``localField``, ``foreignField``, ``as``) with ``foreignField: "_id"``; there is no
collation; the dialect is one of mongoeco's built-in ones (7.0, 8.0); a collection
resolver is given; and every foreign document's ``_id`` is an ObjectId, no two equal.
Otherwise the whole stage runs mongoeco's own ``_apply_lookup`` (``pipeline``/``let``,
another ``foreignField``, a collation, a string or numeric ``_id``, ...).

Within the keyed path, a local document whose keys (the values at ``localField``,
through embedded documents and arrays, as mongoeco's ``QueryEngine.extract_values``
gives them) are ObjectIds, at least one, gets the foreign documents whose ``_id`` is one
of its keys, found in a dict built from the foreign documents, in their stored order,
each once however often its key repeats, deep-copied and set at ``as`` by mongoeco's own
path setter.  Every other local document (a null, absent or empty field, a string or any
other kind of key, even beside ObjectIds) goes through mongoeco's ``_apply_lookup``:
all of them in one call, their results put back in place.

**Why no result can change.**  mongoeco joins a local and a foreign value when they are
equal as BSON values.  An ObjectId is equal only to an ObjectId with the same 12 bytes:
no other BSON type, no numeric or collation equivalence, and an array (which
``extract_values`` also yields, beside its elements) never equals one; the dict lookup
uses exactly that equality (ObjectId's ``==`` and ``hash`` compare the bytes).  So with
ObjectIds on both sides the dict finds exactly the foreign documents mongoeco's
comparison accepts, and the order and copies are those mongoeco produces.  A local
document's joined result depends only on it and the foreign documents, so splitting
the documents between the two paths changes nothing either.  When ``as`` cannot be set
in a document (``as: "a.b"`` where ``a`` is a number or an array), the whole stage
reruns in mongoeco's code, which fails on the first such document, as it would have.
Deadlines are checked by mongoeco's own ``iter_with_deadline``, as in its loop.
``tests/testing/test_lookup_patch.py`` compares both byte for byte.  Not patched: the
``$lookup`` of pipelines led by ``$search`` (mongoeco's separate runtime-state path).
Loaded by ``_child.py``; needs nothing of anyodm.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Callable
from copy import deepcopy
from typing import Any

PATCHED_FOR = "4.11.0"
_MARK = "__anyodm_keyed_lookup__"
_PLAIN_FORM = frozenset({"from", "localField", "foreignField", "as"})
_PARAMETERS = ("documents", "spec", "collection_resolver", "variables", "dialect", "collation")

Lookup = Callable[..., list[Any]]


def apply() -> str | None:
    """Give ``$lookup`` its keyed path; return None on success, else why it was left alone."""
    try:
        version = importlib.metadata.version("mongoeco")
    except importlib.metadata.PackageNotFoundError:
        return "mongoeco is not installed"
    if version != PATCHED_FOR:
        return f"mongoeco {version} is not {PATCHED_FOR}, which the patch was written for"

    from mongoeco.core.aggregation import stages

    module: Any = stages
    if getattr(getattr(module, "_apply_lookup", None), _MARK, False):
        return None
    changed = _internals_changed(module)
    if changed is not None:
        return f"mongoeco's $lookup internals changed ({changed}); patch skipped"
    module._apply_lookup = keyed_lookup(module._apply_lookup)
    return None


def _internals_changed(stages: Any) -> str | None:
    """What of mongoeco this patch relies on is missing, or None."""
    lookup = getattr(stages, "_apply_lookup", None)
    stage = getattr(stages, "_stage_lookup", None)
    if not callable(lookup) or not callable(stage):
        return "no _apply_lookup / _stage_lookup"
    if "_apply_lookup" not in getattr(stage.__code__, "co_names", ()):
        return "the $lookup stage no longer calls _apply_lookup"
    names = list(inspect.signature(lookup).parameters)
    if names[: len(_PARAMETERS)] != list(_PARAMETERS) or "deadline" not in names:
        return f"_apply_lookup{inspect.signature(lookup)}"
    try:
        from mongoeco.compat import MONGODB_DIALECT_70, MONGODB_DIALECT_80  # noqa: F401
        from mongoeco.core.aggregation.runtime import _require_lookup_spec  # noqa: F401
        from mongoeco.core.filtering import QueryEngine
        from mongoeco.core.paths import set_document_value  # noqa: F401
        from mongoeco.core.work_control import iter_with_deadline  # noqa: F401
        from mongoeco.errors import OperationFailure  # noqa: F401
    except ImportError as exc:
        return str(exc)
    if not callable(getattr(QueryEngine, "extract_values", None)):
        return "no QueryEngine.extract_values"
    return None


def keyed_lookup(original: Lookup) -> Lookup:
    """``original`` (mongoeco's ``_apply_lookup``) with the keyed path for ``_id`` joins."""
    from bson import ObjectId
    from mongoeco.compat import MONGODB_DIALECT_70, MONGODB_DIALECT_80
    from mongoeco.core.aggregation.runtime import _require_lookup_spec
    from mongoeco.core.filtering import QueryEngine
    from mongoeco.core.paths import set_document_value
    from mongoeco.core.work_control import iter_with_deadline
    from mongoeco.errors import OperationFailure

    builtin_dialects = (MONGODB_DIALECT_70, MONGODB_DIALECT_80)
    extract_values = QueryEngine.extract_values

    def object_id_keys(document: Any, path: str) -> list[Any] | None:
        """The document's keys at ``path`` if they are ObjectIds (at least one), else None."""
        keys = [value for value in extract_values(document, path) if not isinstance(value, list)]
        if keys and all(isinstance(key, ObjectId) for key in keys):
            return keys
        return None

    def apply_lookup(
        documents: list[Any],
        spec: object,
        collection_resolver: Any,
        variables: dict[str, Any] | None = None,
        *,
        dialect: Any = MONGODB_DIALECT_70,
        collation: Any = None,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> list[Any]:
        def mongoeco(chosen: list[Any]) -> list[Any]:
            result: list[Any] = original(
                chosen,
                spec,
                collection_resolver,
                variables,
                dialect=dialect,
                collation=collation,
                deadline=deadline,
                **kwargs,
            )
            return result

        if (
            type(spec) is not dict
            or spec.keys() != _PLAIN_FORM
            or spec["foreignField"] != "_id"
            or collation is not None
            or not any(dialect is builtin for builtin in builtin_dialects)
            or collection_resolver is None
        ):
            return mongoeco(documents)
        lookup = _require_lookup_spec(spec)  # mongoeco's own checks and errors
        foreign = list(collection_resolver(lookup["from"]) or [])
        position: dict[Any, int] = {}
        for index, stored in enumerate(iter_with_deadline(foreign, deadline)):
            key = stored.get("_id") if isinstance(stored, dict) else None
            if not isinstance(key, ObjectId):
                return mongoeco(documents)
            position[key] = index
        if len(position) != len(foreign):  # equal _ids: not a collection mongoeco stores
            return mongoeco(documents)

        joined: list[Any] = []
        others: list[int] = []  # positions of the documents mongoeco's code joins
        for document in iter_with_deadline(documents, deadline):
            keys = object_id_keys(document, lookup["localField"])
            if keys is None:
                others.append(len(joined))
                joined.append(None)
                continue
            found = sorted({position[key] for key in keys if key in position})
            result = deepcopy(document)
            try:
                set_document_value(result, lookup["as"], [deepcopy(foreign[i]) for i in found])
            except OperationFailure:  # "as" cannot be set here: fail as mongoeco fails,
                return mongoeco(documents)  # on the first document it cannot join
            joined.append(result)
        if others:
            for at, result in zip(others, mongoeco([documents[i] for i in others]), strict=True):
                joined[at] = result
        return joined

    setattr(apply_lookup, _MARK, True)
    return apply_lookup
