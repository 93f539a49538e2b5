"""Change tracking: what a save has to send.

A parsed instance keeps the raw document it came from (no copy, nothing computed at
parse time); a save compares the instance's current document with it, so assignments,
mutated lists/dicts and mutated embedded models are all found. A fresh instance has
no such document and sends everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["changes_for_save", "is_persisted", "mark_saved"]

_STATE = "__anyodm_state__"
_MUTABLE = (list, dict, set, bytearray)


def _baseline(instance: Any) -> Mapping[str, Any] | None:
    state: Mapping[str, Any] | None = getattr(instance, _STATE, None)
    return state


def is_persisted(instance: Any) -> bool:
    """Whether the instance was loaded from, or saved to, the database."""
    return _baseline(instance) is not None


def changes_for_save(instance: Any) -> dict[str, Any]:
    """The ``$set`` payload (stored key names) of the fields modified since load/save.

    A fresh instance (or one whose primary key was changed) gets every field, ``_id``
    included; a persisted one only the changed fields, never ``_id``.
    """
    doc: dict[str, Any] = instance.model_dump_doc()
    base = _baseline(instance)
    if base is None or base.get("_id", doc["_id"]) != doc["_id"]:
        return doc
    info = type(instance).__anyodm__
    references = {info.key_names[name] for name in info.reference_names}
    values = instance.__dict__
    changes: dict[str, Any] = {}
    for name, key in info.key_names.items():
        if key == "_id" or key not in doc:
            continue
        new = doc[key]
        if key not in base:
            changes[key] = new
            continue
        old = base[key]
        if key in references and isinstance(old, Mapping):
            old = old.get("_id")
        if new != old or (isinstance(old, _MUTABLE) and values.get(name) is old):
            changes[key] = new
    return changes


def mark_saved(instance: Any) -> None:
    """After a successful save: the instance is persisted and nothing is modified."""
    object.__setattr__(instance, _STATE, instance.model_dump_doc())
