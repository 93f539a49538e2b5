"""``model_config["shard_key"]``: the fields a sharded collection is distributed by.

A model declares the fields of its collection's shard key, by python name, in order::

    class Order(Model):
        tenant: str
        model_config = {"shard_key": ("tenant", "id")}

They are checked when the class is created: each must be a top-level stored field of
the model holding one value (MongoDB refuses an array in a shard key). A polymorphic
family has one collection and so one shard key, its base's; a plain subclass inherits
its parent's unless it declares its own. The operations core puts the key's stored
values in the filter of every write of one instance (:mod:`anyodm.core.shard_keys`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

__all__ = ["ShardKey", "checked_shard_key"]


class ShardKey(NamedTuple):
    """A model's shard key: its fields (python names) and their stored keys, in order."""

    fields: tuple[str, ...]
    keys: tuple[str, ...]


def _fail(model_name: str, field: str | None, message: str) -> TypeError:
    where = f"{model_name}.{field}" if field else model_name
    return TypeError(f"{where}: {message}")


def checked_shard_key(
    model_name: str,
    declared: Any,
    *,
    inherited: ShardKey | None,
    family_root: str | None,
    key_names: Mapping[str, str],
    back_references: tuple[str, ...],
    array_kind: Callable[[str], str | None],
) -> ShardKey | None:
    """The model's shard key (``declared`` is its own ``model_config["shard_key"]``, or
    ``None`` to keep ``inherited``); ``TypeError`` naming the model and the field for a
    declaration that cannot work.

    ``family_root`` names the base of the polymorphic family the model is a subclass of
    (None otherwise): such a subclass shares its base's collection, so its shard key.
    ``array_kind(field)`` tells whether a field holds an array ("list", "set"...).
    """
    if family_root is not None:
        if declared is not None and tuple(declared) != (inherited or ShardKey((), ())).fields:
            raise _fail(
                model_name,
                None,
                f"a subclass of the polymorphic {family_root} is stored in its collection, "
                "so its shard key is the base's: declare model_config['shard_key'] on "
                f"{family_root}",
            )
        return inherited
    if declared is None:
        if inherited is None:
            return None
        declared = inherited.fields  # checked again: a subclass may redeclare a field
    if isinstance(declared, str) or not isinstance(declared, (tuple, list)):
        hint = f' (a tuple of names: ("{declared}",))' if isinstance(declared, str) else ""
        raise _fail(
            model_name,
            None,
            f"model_config['shard_key'] must be a tuple of field names, not {declared!r}{hint}",
        )
    if not declared:
        raise _fail(model_name, None, "model_config['shard_key'] names no field")
    keys: list[str] = []
    for field in declared:
        if not isinstance(field, str):
            raise _fail(
                model_name, None, f"model_config['shard_key'] holds {field!r}, not a field name"
            )
        if field not in key_names:
            known = ", ".join(key_names)
            raise _fail(
                model_name,
                field,
                f"model_config['shard_key'] names {field!r}, which is not a field of "
                f"{model_name} (its fields: {known}; a shard key names top-level fields)",
            )
        if field in back_references:
            raise _fail(
                model_name,
                field,
                "a back-reference is never stored, so it cannot be part of the shard key",
            )
        container = array_kind(field)
        if container is not None:
            raise _fail(
                model_name,
                field,
                f"a shard key field cannot be a {container} (MongoDB refuses arrays in a "
                "shard key)",
            )
        if key_names[field] in keys:
            raise _fail(model_name, field, "model_config['shard_key'] names it twice")
        keys.append(key_names[field])
    return ShardKey(tuple(declared), tuple(keys))
