"""Projections: reading some fields of a model into a smaller pydantic "view" model.

``find(Book, projection=BookTitle)`` where ``class BookTitle(BaseModel): title: str``
requests only ``title`` and returns ``BookTitle`` instances.  A view field is matched
to the model's field of the same (python) name; a view field whose type is a pydantic
model that is not the embedded model itself is a view of the embedded model
(``address: CityOnly`` requests ``address.city``).  Stored values are decoded through
the *model's* field types (``Decimal128`` -> ``Decimal``, UUID binaries, ...) and then
validated by the view.  A view naming a field the model lacks is an error at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from anyodm.errors import DocumentParsingError, InvalidFieldError
from anyodm.model.field_codec import (
    _embedded_alternatives,
    cached,
    codec_for,
    field_codec,
    resolve_name,
)
from anyodm.model.query import _elements, _is_array, _unwrap
from anyodm.model.reference_paths import reference_paths
from anyodm.model.reference_shapes import is_missing_target
from anyodm.model.text_search import TEXT_SCORE, is_text_score

if TYPE_CHECKING:
    from anyodm.model.model import Model

__all__ = ["Projection", "projection_for"]

Decoder = Callable[[Any], Any]


def _view_models(annotation: Any) -> list[type[BaseModel]]:
    found = []
    for alt in _unwrap(annotation):
        for candidate in [alt, *(_elements(alt) if _is_array(alt) else [])]:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found.append(candidate)
    return found


class Projection:
    """What to request for ``view`` and how to decode each returned document."""

    __slots__ = (
        "_fields",
        "_references",
        "keys",
        "model",
        "needs_lookups",
        "reads_text_score",
        "view",
    )

    def __init__(self, model: type[Model], view: type[BaseModel]) -> None:
        if not (isinstance(view, type) and issubclass(view, BaseModel)):
            raise TypeError(
                f"projection= on {model.__name__} needs a pydantic model class naming some "
                f"of its fields, not {view!r:.80}"
            )
        self.model: type[Model] = model
        self.view: type[BaseModel] = view
        self.needs_lookups: bool = False
        #: stored paths to request (1), and the text score's name (its ``$meta``)
        self.keys: dict[str, Any] = {}
        #: a view field is the text score (``query.TextScore``): the filter needs a search
        self.reads_text_score: bool = False
        self._fields: list[tuple[str, str, Decoder]] = []  # (view name, stored key, decode)
        #: python dotted name -> stored dotted path of each reference loaded
        self._references: dict[str, str] = {}
        self._collect(model, view)
        if "_id" not in self.keys:
            self.keys["_id"] = 0

    def _collect(self, model: type[Model], view: type[BaseModel]) -> None:
        scores: list[str] = []
        for name, view_field in view.model_fields.items():
            if is_text_score(view_field.metadata):
                scores.append(name)
                continue
            if name not in model.model_fields:
                raise InvalidFieldError(
                    model,
                    f"{model.__name__}.{name}",
                    f"projection {view.__name__} names {name!r}, which "
                    f"{model.__name__} does not have",
                )
            resolved = resolve_name(model, name, "projection")
            decode = self._decoder(resolved, view_field.annotation, name)
            self._fields.append((name, resolved.path, decode))
        for name in scores:
            if any(key == name or key.startswith(f"{name}.") for key in self.keys):
                raise InvalidFieldError(
                    model,
                    f"{model.__name__}.{name}",
                    f"projection {view.__name__} reads the text score as {name!r}, which is "
                    f"also a stored key of {model.__name__} it requests: name the score "
                    "field differently",
                )
            self.keys[name] = dict(TEXT_SCORE)
            self._fields.append((name, name, _as_is))
            self.reads_text_score = True

    def _decoder(self, resolved: Any, view_annotation: Any, dotted: str) -> Decoder:
        embedded = [sub for sub, _ in _embedded_alternatives(resolved.annotation)]
        views = _view_models(view_annotation)
        partial = [v for v in views if embedded and not any(issubclass(v, e) for e in embedded)]
        if resolved.reference is not None:
            target = resolved.reference
            wants_instance = any(issubclass(v, BaseModel) for v in views)
            self.keys[resolved.path] = 1
            if wants_instance:
                self.needs_lookups = True
                self._references[dotted] = resolved.path
                return _each_item(_loaded(target))
            pk = target.model_fields[target.__anyodm__.primary_field]
            return _each_item(codec_for(pk.annotation, pk.metadata).decode)
        if any(reference_paths(sub) for sub in embedded):
            self.needs_lookups = True  # embedded models holding references: loaded
        if not partial:
            self.keys[resolved.path] = 1
            return field_codec(resolved).decode
        sub_view = partial[0]
        owner = embedded[0]
        inner: list[tuple[str, str, Decoder]] = []
        for name, view_field in sub_view.model_fields.items():
            if name not in owner.model_fields:
                raise InvalidFieldError(
                    self.model,
                    f"{self.model.__name__}.{dotted}.{name}",
                    f"projection {sub_view.__name__} names {name!r}, which "
                    f"{owner.__name__} does not have",
                )
            sub = resolve_name(self.model, f"{dotted}.{name}", "projection")
            inner.append(
                (
                    name,
                    sub.path.rsplit(".", 1)[-1],
                    self._decoder(sub, view_field.annotation, f"{dotted}.{name}"),
                )
            )

        def decode_nested(raw: Any) -> Any:
            if isinstance(raw, list):
                return [_at(index, decode_nested, item) for index, item in enumerate(raw)]
            if isinstance(raw, Mapping):
                return _decode_fields(inner, raw)
            return raw

        return decode_nested

    def decode(self, raw: Mapping[str, Any]) -> BaseModel:
        """A view instance from a projected document; ``DocumentParsingError`` if it does
        not fit: a stored value that does not fit the model's field, or a reference
        whose target is missing, is named with its stored path on the model, as a find
        names it; a view that does not fit the values, on the view."""
        try:
            values = _decode_fields(self._fields, raw)
        except _Unfit as unfit:
            errors = self.model.__anyodm__.described(unfit.errors)
            raise DocumentParsingError(self.model, errors, raw.get("_id")) from None
        try:
            return self.view.model_validate(values)
        except ValidationError as exc:
            found = exc.errors(include_url=False)
            missing = [self._missing_reference(e) for e in found]
            if all(path is not None for path in missing):
                errors = self.model.__anyodm__.described(
                    {"loc": path, "type": "missing", "msg": "", "input": None} for path in missing
                )
                raise DocumentParsingError(self.model, errors, raw.get("_id")) from None
            errors = [(".".join(map(str, e["loc"])), e["msg"]) for e in found]
            raise DocumentParsingError(self.view, errors, raw.get("_id")) from None

    def _missing_reference(self, error: Any) -> tuple[str | int, ...] | None:
        """The stored location of a required reference the lookups found no document for
        (and so left out), from the view's error; None for any other error."""
        loc = error["loc"]
        names = [part for part in loc if isinstance(part, str)]
        loaded = self._references.get(".".join(names))
        if error["type"] != "missing" or loaded is None:
            return None
        stored = iter(loaded.split("."))
        return tuple(part if isinstance(part, int) else next(stored) for part in loc)


class _Unfit(Exception):
    """Stored values that do not fit the model's fields (pydantic error dicts whose
    ``loc`` grows as the exception leaves each key and list position)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__()
        self.errors = errors


def _at(step: str | int, decode: Decoder, raw: Any) -> Any:
    """``decode(raw)``; what does not fit gets ``step`` in front of its location."""
    try:
        return decode(raw)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [dict(e) for e in exc.errors(include_url=False)]
        raise _Unfit([{**e, "loc": (step, *e["loc"])} for e in errors]) from None
    except _Unfit as unfit:
        unfit.errors = [{**e, "loc": (step, *e["loc"])} for e in unfit.errors]
        raise


def _as_is(raw: Any) -> Any:
    return raw


def _loaded(target: type[Any]) -> Decoder:
    """A looked-up document of ``target`` as an instance; a key left in its place (its
    document is missing) does not fit (:class:`_Unfit`)."""

    def decode(raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            raise _Unfit([{"loc": (), "type": "model_type", "msg": "not found", "input": raw}])
        return target.model_validate_doc(raw)

    return decode


def _each_item(decode: Decoder) -> Decoder:
    """``decode`` for a reference, or for each item of a list of references (``None``
    kept)."""

    def decode_reference(raw: Any) -> Any:
        if isinstance(raw, list):
            return [
                None if item is None or is_missing_target(item) else _at(index, decode, item)
                for index, item in enumerate(raw)
            ]
        return None if raw is None or is_missing_target(raw) else decode(raw)

    return decode_reference


def _decode_fields(
    fields: list[tuple[str, str, Decoder]], raw: Mapping[str, Any]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, key, decode in fields:
        if key in raw:
            values[name] = _at(key, decode, raw[key])
    return values


@cached(maxsize=256)
def projection_for(model: type[Model], view: type[BaseModel]) -> Projection:
    """The (cached) projection of ``model`` into ``view``; raises on a bad view."""
    return Projection(model, view)
