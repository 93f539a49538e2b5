"""How an aggregation's documents become results: dicts, or instances of ``into``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from anyodm.errors import DocumentParsingError
from anyodm.model.tracking import MAYBE_STORED, set_saved_state

__all__ = ["into_decoder"]


def _as_dict(doc: Mapping[str, Any]) -> Any:
    return doc


def into_decoder(into: type[Any] | None) -> Callable[[Mapping[str, Any]], Any]:
    """``None``: the documents as dicts; an anyodm ``Model``/``EmbeddedModel``: read with
    its stored key names (``model_validate_doc``); any other pydantic model:
    ``model_validate``.  A document that does not fit raises ``DocumentParsingError``."""
    if into is None:
        return _as_dict
    if not (isinstance(into, type) and issubclass(into, BaseModel)):
        raise TypeError(f"aggregate(into=...) needs a pydantic model class, not {into!r:.80}")
    validate_doc = getattr(into, "model_validate_doc", None)
    if validate_doc is not None:
        if getattr(into, "__anyodm_kind__", None) != "document":
            decode: Callable[[Mapping[str, Any]], Any] = validate_doc
            return decode

        def from_pipeline(doc: Mapping[str, Any]) -> Any:
            # what a pipeline returns is not known to be what is stored: a save of the
            # instance sends it whole (an upsert), never only what differs from it
            instance = validate_doc(doc)
            set_saved_state(instance, MAYBE_STORED)
            return instance

        return from_pipeline

    def validate(doc: Mapping[str, Any]) -> Any:
        try:
            return into.model_validate(doc)
        except ValidationError as exc:
            errors = [
                (".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors(include_url=False)
            ]
            raise DocumentParsingError(into, errors, doc.get("_id")) from None

    return validate
