"""Checks on user arguments, done before anything is sent to the server."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from anyodm.model import Model

__all__ = [
    "check_database_name",
    "check_instance",
    "check_instances",
    "check_model_class",
    "check_references",
    "check_skip_limit",
    "check_with_children",
]

#: what ``references=`` of a find takes: load the referenced documents, or their keys
REFERENCE_LOADING = ("load", "keys")

#: characters MongoDB refuses in a database name (on any platform)
_BAD_DATABASE_CHARS = frozenset('/\\. "$\0')


def check_database_name(name: Any, engine: str) -> None:
    """A database name MongoDB accepts: a non-empty str under 64 bytes, none of ``/\\. "$``."""
    if not isinstance(name, str):
        raise TypeError(f"{engine}(database=...) must be a str, got {type(name).__name__}")
    bad = sorted(set(name) & _BAD_DATABASE_CHARS)
    if not name or bad or len(name.encode()) >= 64:
        why = f"it contains {''.join(bad)!r}" if bad else "it must be 1 to 63 bytes long"
        raise ValueError(f"{engine}: invalid database name {name!r}: {why}")


def check_model_class(model: Any, operation: str) -> type[Model]:
    """``model`` must be a ``Model`` subclass (not an instance, not an EmbeddedModel)."""
    if isinstance(model, type) and issubclass(model, Model) and model is not Model:
        return model
    what = f"instance of {type(model).__name__}" if not isinstance(model, type) else model.__name__
    raise TypeError(f"{operation}() needs a Model subclass as its first argument, got {what}")


def check_instance(instance: Any, operation: str) -> Model:
    """``instance`` must be an instance of a ``Model`` subclass."""
    if isinstance(instance, Model):
        return instance
    raise TypeError(
        f"{operation}() needs an instance of a Model subclass, "
        f"got {type(instance).__name__}: {instance!r:.80}"
    )


def check_instances(instances: Iterable[Any], operation: str) -> list[Model]:
    """Every item of ``instances`` must be a ``Model`` instance."""
    if isinstance(instances, (str, bytes)) or not isinstance(instances, Iterable):
        raise TypeError(f"{operation}() needs an iterable of Model instances")
    return [check_instance(obj, operation) for obj in instances]


def check_skip_limit(skip: Any, limit: Any, operation: str) -> tuple[int, int]:
    """``skip`` must be a non-negative int, ``limit`` a positive int or ``None`` (no limit).

    ``limit=0`` is refused as ODMantic does (PyMongo would read it as "no limit").
    Returns ``(skip, limit)`` with ``limit`` 0 for no limit, as PyMongo takes it.
    """
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise ValueError(f"{operation}(): skip must be a non-negative int, got {skip!r}")
    if limit is None:
        return skip, 0
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError(
            f"{operation}(): limit must be a positive int or None (no limit), got {limit!r}"
        )
    return skip, limit


def check_references(references: Any, operation: str) -> bool:
    """``references=`` of a find: ``"load"`` (the default: referenced documents looked
    up) or ``"keys"``; returns whether only the keys are read."""
    if isinstance(references, str) and references in REFERENCE_LOADING:
        return references == "keys"
    raise ValueError(
        f"{operation}(): references must be 'load' (look the referenced documents up) or "
        f"'keys' (read the stored keys only, as NotLoaded placeholders), got {references!r:.80}"
    )


def check_with_children(with_children: Any, operation: str) -> bool:
    """``with_children=`` of a find or count: a bool."""
    if isinstance(with_children, bool):
        return with_children
    raise TypeError(
        f"{operation}(): with_children must be True or False, got {with_children!r:.80}"
    )
