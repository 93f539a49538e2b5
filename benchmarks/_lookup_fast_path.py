"""An experiment, not a fix: what mongoeco's ``$lookup`` would cost with a keyed path.

Loaded into the embedded server's process by ``benchmarks/lookup_shapes.py
--server-patch`` only.  mongoeco 4.11.0 runs an equality ``$lookup`` by hashing the
whole foreign collection, then, for each local document, hashing each local value
again, re-checking every candidate against every local value with its general BSON
comparison, and deep-copying.  When the join is on ``_id``, there is no collation and
every key on both sides is an ObjectId, the ObjectId itself decides equality exactly
(as in ``anyodm/testing/_mongoeco_patch.py``), so the candidates can be taken from a
dict keyed by ``_id`` with no re-check; the copies stay.  Anything else runs mongoeco's
own code.
"""

from __future__ import annotations

import os
from copy import deepcopy
from typing import Any

#: ``ANYODM_LOOKUP_FAST_PATH_CHECK=1``: also run mongoeco's code and compare
CHECK = os.environ.get("ANYODM_LOOKUP_FAST_PATH_CHECK") == "1"
checked: list[int] = []


def apply() -> None:
    from bson import ObjectId
    from mongoeco.core.aggregation import stages
    from mongoeco.core.filtering import QueryEngine
    from mongoeco.core.paths import set_document_value

    original = stages._apply_lookup

    def _plain_id_join(spec: Any) -> bool:
        return (
            isinstance(spec, dict)
            and set(spec) == {"from", "localField", "foreignField", "as"}
            and spec["foreignField"] == "_id"
            and isinstance(spec["localField"], str)
        )

    def apply_lookup(
        documents: list[Any], spec: object, collection_resolver: Any, *args: Any, **kwargs: Any
    ) -> list[Any]:
        if (
            kwargs.get("collation") is not None
            or collection_resolver is None
            or not _plain_id_join(spec)
        ):
            return original(documents, spec, collection_resolver, *args, **kwargs)
        assert isinstance(spec, dict)
        foreign = list(collection_resolver(spec["from"]) or [])
        position: dict[Any, int] = {}
        for index, doc in enumerate(foreign):
            key = doc.get("_id")
            if not isinstance(key, ObjectId):
                return original(documents, spec, collection_resolver, *args, **kwargs)
            position[key] = index
        local = spec["localField"]
        wanted: list[list[int]] = []
        for doc in documents:
            # an array never equals an _id (which cannot be one): only its items count
            values = [v for v in QueryEngine.extract_values(doc, local) if not isinstance(v, list)]
            if not values or not all(isinstance(v, ObjectId) for v in values):
                return original(documents, spec, collection_resolver, *args, **kwargs)
            wanted.append(sorted({position[v] for v in values if v in position}))
        result = []
        for doc, indices in zip(documents, wanted, strict=True):
            joined = deepcopy(doc)
            set_document_value(joined, spec["as"], [deepcopy(foreign[i]) for i in indices])
            result.append(joined)
        if CHECK:  # the same documents, fields and order as mongoeco's own code
            expected = original(documents, spec, collection_resolver, *args, **kwargs)
            if repr(expected) != repr(result):
                raise AssertionError("_lookup_fast_path: result differs from mongoeco's")
            checked.append(len(result))
        return result

    stages._apply_lookup = apply_lookup
