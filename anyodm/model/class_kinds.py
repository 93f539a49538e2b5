"""What kind of anyodm class a value is, without importing the model classes (a leaf
module: the reference and schema code ask it, and the model classes import them)."""

from __future__ import annotations

from typing import Any

__all__ = ["is_document_class", "is_embedded_class", "shape_of"]


def is_document_class(value: Any) -> bool:
    """``value`` is ``Model`` or a subclass of it."""
    return isinstance(value, type) and getattr(value, "__anyodm_kind__", None) == "document"


def is_embedded_class(value: Any) -> bool:
    """``value`` is ``EmbeddedModel`` or a subclass of it."""
    return isinstance(value, type) and getattr(value, "__anyodm_kind__", None) == "embedded"


def shape_of(value: Any) -> Any:
    """The ``__anyodm__`` description a model or embedded model class holds itself
    (``None`` for anything else, and for a class whose description is not built yet)."""
    if not isinstance(value, type):
        return None
    if getattr(value, "__anyodm_kind__", None) not in ("document", "embedded"):
        return None
    return value.__dict__.get("__anyodm__")
