"""Turning the driver's duplicate-key errors into anyodm's."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
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


class duplicate_keys_as_anyodm_errors:  # lower case: used like a function, `with ...(model):`
    """Raise ``anyodm.errors.DuplicateKeyError`` (with the key) for a unique violation.

    ``instances`` are the instances written, in the order of the (bulk) write, so the
    error can name the one that failed. Other driver errors pass through unchanged.
    A class, not a generator, because it wraps every write on the hot path.
    """

    __slots__ = ("instances", "model")

    def __init__(self, model: type[Any], instances: Sequence[Any] = ()) -> None:
        self.model: type[Any] = model
        self.instances: Sequence[Any] = instances

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, driver_errors.DuplicateKeyError):
            instances = self.instances
            instance = instances[0] if len(instances) == 1 else None
            raise DuplicateKeyError(self.model, _key_value(exc.details), exc, instance) from exc
        if isinstance(exc, driver_errors.BulkWriteError):
            for error in exc.details.get("writeErrors", ()):
                if error.get("code") in DUPLICATE_KEY_CODES:
                    instance = _instance_at(self.instances, error.get("index"))
                    raise DuplicateKeyError(self.model, _key_value(error), exc, instance) from exc
