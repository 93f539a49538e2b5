"""Change tracking: what a save has to send, and what the instance remembers afterwards.

A parsed instance keeps the raw document it came from as its *saved state* (no copy,
nothing computed at parse time); a save compares the instance's current document with
it, so assignments, mutated lists/dicts and mutated embedded models are all found.

The saved state is one of:

* a document: what the database holds for this instance, as far as anyodm knows;
* ``None``: never stored (a fresh instance, or its document was deleted);
* :data:`MAYBE_STORED`: a write was sent whose outcome is unknown (a commit whose result
  could not be learned, a network error, a transaction anyodm does not manage).  The
  next save sends the whole document as an upsert, which is right either way.

Who changes it (:mod:`anyodm.core.operations`, :mod:`anyodm.core.pending`): a save
records the document it *sent* — dumped before the round trip, so a change made by
another task meanwhile stays modified — and only once the write is durable (at once
outside a transaction, at commit inside one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

__all__ = [
    "MAYBE_STORED",
    "SavePlan",
    "SavedState",
    "changes_for_save",
    "is_persisted",
    "mark_saved",
    "mark_unsaved",
    "plan_save",
    "saved_state",
    "set_saved_state",
]

_STATE = "__anyodm_state__"
_MUTABLE = (list, dict, set, bytearray)


class _MaybeStored:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MAYBE_STORED"


#: The saved state of an instance whose last write has an unknown outcome.
MAYBE_STORED: Final = _MaybeStored()

SavedState = Mapping[str, Any] | _MaybeStored | None


def saved_state(instance: Any) -> SavedState:
    """The instance's own saved state (see the module docs)."""
    state: SavedState = getattr(instance, _STATE, None)
    return state


def set_saved_state(instance: Any, state: SavedState) -> None:
    """Replace the instance's saved state (the database changed, durably)."""
    object.__setattr__(instance, _STATE, state)


def is_persisted(instance: Any) -> bool:
    """Whether the instance was loaded from, or durably saved to, the database."""
    return isinstance(saved_state(instance), Mapping)


class SavePlan(NamedTuple):
    """What one save sends: the whole current document, and the part to write.

    ``changes`` holds stored key names; it is the whole document (``_id`` included)
    when nothing is known to be stored, otherwise only the modified fields.
    ``stored`` tells which: True when a stored document is the base of ``changes``.
    """

    doc: dict[str, Any]
    changes: dict[str, Any]
    stored: bool


def plan_save(instance: Any, state: SavedState | None = None, *, use_own: bool = True) -> SavePlan:
    """Compare the instance with a saved state (its own unless ``use_own`` is False).

    The document is dumped once; it is also what the saved state becomes once the
    write is durable.
    """
    doc: dict[str, Any] = instance.model_dump_doc()
    base = saved_state(instance) if use_own else state
    if not isinstance(base, Mapping) or base.get("_id", doc["_id"]) != doc["_id"]:
        return SavePlan(doc, doc, stored=False)
    info = type(instance).__anyodm__
    references = info.reference_keys
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
    return SavePlan(doc, changes, stored=True)


def changes_for_save(instance: Any) -> dict[str, Any]:
    """The ``$set`` payload (stored key names) of the fields modified since load/save.

    An instance with nothing known stored (or whose primary key was changed) gets every
    field, ``_id`` included; a persisted one only the changed fields, never ``_id``.
    """
    return plan_save(instance).changes


def mark_saved(instance: Any, sent: Mapping[str, Any] | None = None) -> None:
    """The write of ``sent`` (default: the instance's current document) is durable."""
    set_saved_state(instance, instance.model_dump_doc() if sent is None else sent)


def mark_unsaved(instance: Any) -> None:
    """The instance's document is not in the database (deleted, or never stored)."""
    set_saved_state(instance, None)
