"""Collection names derived from class names."""

from __future__ import annotations

import re

__all__ = ["collection_name"]

_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def collection_name(class_name: str) -> str:
    """``BookModel`` -> ``book``, ``HTTPRequestLog`` -> ``http_request_log``.

    A trailing ``Model`` is dropped (unless it is the whole name), then CamelCase words
    are joined with underscores and lower-cased.
    """
    if class_name.endswith("Model") and class_name != "Model":
        class_name = class_name[: -len("Model")]
    return _BOUNDARY.sub("_", class_name).lower()
