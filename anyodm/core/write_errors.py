"""Turning the driver's duplicate-key errors into anyodm's."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pymongo import errors as driver_errors

from anyodm.errors import DuplicateKeyError

__all__ = ["DUPLICATE_KEY_CODES", "duplicate_keys_as_anyodm_errors"]

DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})


def _key_value(details: Any) -> dict[str, Any] | None:
    if isinstance(details, dict):
        key = details.get("keyValue")
        if isinstance(key, dict):
            return key
    return None


def _instance_at(instances: Sequence[Any], index: Any) -> Any:
    if isinstance(index, int) and 0 <= index < len(instances):
        return instances[index]
    return None


@contextmanager
def duplicate_keys_as_anyodm_errors(
    model: type[Any], instances: Sequence[Any] = ()
) -> Iterator[None]:
    """Raise ``anyodm.errors.DuplicateKeyError`` (with the key) for a unique violation.

    ``instances`` are the instances written, in the order of the (bulk) write, so the
    error can name the one that failed. Other driver errors pass through unchanged.
    """
    try:
        yield
    except driver_errors.DuplicateKeyError as exc:
        instance = instances[0] if len(instances) == 1 else None
        raise DuplicateKeyError(model, _key_value(exc.details), exc, instance) from exc
    except driver_errors.BulkWriteError as exc:
        for error in exc.details.get("writeErrors", ()):
            if error.get("code") in DUPLICATE_KEY_CODES:
                instance = _instance_at(instances, error.get("index"))
                raise DuplicateKeyError(model, _key_value(error), exc, instance) from exc
        raise
