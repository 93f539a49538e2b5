"""How an aggregation's documents become results: dicts, or instances of ``into``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from anyodm.errors import DocumentParsingError

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
        decode: Callable[[Mapping[str, Any]], Any] = validate_doc
        return decode

    def validate(doc: Mapping[str, Any]) -> Any:
        try:
            return into.model_validate(doc)
        except ValidationError as exc:
            errors = [
                (".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors(include_url=False)
            ]
            raise DocumentParsingError(into, errors, doc.get("_id")) from None

    return validate
