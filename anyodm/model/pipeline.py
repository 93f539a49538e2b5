"""Aggregation pipelines written with field proxies, and the reference-joining stages.

In a stage, a field proxy used as a key is its stored path (``{"$project":
{Book.title: 1}}``), and used as a value it is the field's value (``{"$group": {"_id":
Book.publisher}}`` -> ``"$publisher"``).  Query and sort expressions are plain dicts
already.  :func:`lookup_references` gives the ``$lookup`` stages ``find`` uses to load a
model's references (nested ones too), so ``into=Model`` can follow them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from anyodm.model.query import FieldProxy
from anyodm.model.references import _lookups

if TYPE_CHECKING:
    from anyodm.model.model import Model

__all__ = ["build_pipeline", "field_path", "lookup_references"]


def field_path(field: Any) -> str:
    """``"$path"``: the field's value in an aggregation expression (``field``: a model
    field such as ``Book.pages``, typed ``Any`` as type checkers see the field's value
    type there)."""
    if not isinstance(field, FieldProxy):
        raise TypeError(f"field_path() needs a model field such as Book.title, not {field!r}")
    return f"${field._path}"


def lookup_references(model: type[Model]) -> list[dict[str, Any]]:
    """The stages that replace each reference of ``model`` by the referenced document
    (one ``$lookup`` + ``$unwind`` per reference, nested references too), as ``find``
    does; put them where the pipeline needs the referenced documents."""
    from anyodm.core.arguments import check_model_class

    return _lookups(check_model_class(model, "lookup_references"), ())


def _convert(model: type[Model], value: Any, where: str) -> Any:
    if isinstance(value, FieldProxy):
        _check(model, value, where)
        return f"${value._path}"
    if isinstance(value, Mapping):
        for other in getattr(value, "models", ()):
            if not issubclass(model, other):
                raise TypeError(
                    f"aggregate() on {model.__name__}: {where} uses a field of {other.__name__}"
                )
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, FieldProxy):
                _check(model, key, where)
                key = key._path
            elif not isinstance(key, str):
                raise TypeError(f"aggregate() on {model.__name__}: {where} has key {key!r}")
            out[key] = _convert(model, item, where)
        return out
    if isinstance(value, (list, tuple)):
        return [_convert(model, item, where) for item in value]
    return value


def _check(model: type[Model], field: FieldProxy, where: str) -> None:
    owner = field._model
    if not (isinstance(owner, type) and issubclass(model, owner)):
        raise TypeError(
            f"aggregate() on {model.__name__}: {where} uses {owner.__name__}.{field._name}, "
            f"a field of another model"
        )


def build_pipeline(model: type[Model], pipeline: Any) -> list[dict[str, Any]]:
    """The pipeline with field proxies replaced; ``TypeError`` on a malformed stage."""
    if isinstance(pipeline, Mapping) or not isinstance(pipeline, (list, tuple)):
        raise TypeError(
            f"aggregate() on {model.__name__} needs a list of stages, not {pipeline!r:.80}"
        )
    stages = []
    for index, stage in enumerate(pipeline):
        where = f"stage {index}"
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise TypeError(
                f"aggregate() on {model.__name__}: {where} must be a dict with one "
                f"$-operator, not {stage!r:.80}"
            )
        (name,) = stage.keys()
        if not isinstance(name, str) or not name.startswith("$"):
            raise TypeError(
                f"aggregate() on {model.__name__}: {where} must be a $-stage, not {name!r}"
            )
        stages.append(_convert(model, stage, where))
    return stages
