"""Validating an instance again before it is written (``model_config["validate_on_save"]``).

pydantic validates a value when it is assigned (anyodm models require
``validate_assignment``), but not what is changed in place: an item appended to a list,
a value put in a dict, a field of an instance built with ``model_construct``.  A save
of a model with ``validate_on_save`` validates the whole instance again first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from anyodm.model.lazy import NotLoaded

if TYPE_CHECKING:
    from anyodm.model.model import EmbeddedModel, Model

__all__ = ["revalidate"]


def revalidate(instance: Model | EmbeddedModel) -> None:
    """Validate ``instance`` (a ``Model`` or ``EmbeddedModel``) again from its field
    values, and its embedded models (in fields and containers, at any depth) first.

    Raises pydantic's ``ValidationError`` (naming the model and the fields) and changes
    nothing of that instance if a value is invalid; otherwise the instance takes the
    validated values (a value pydantic converts is stored converted).  Reference and
    back-reference fields hold other documents, validated when they are saved
    themselves: they keep their values (a lazy reference's ``NotLoaded`` placeholders
    too, validated through a stand-in of their model).
    """
    info = type(instance).__anyodm__
    linked: tuple[str, ...] = (
        *info.reference_names,
        *getattr(info, "back_reference_names", ()),
    )
    own = instance.__dict__
    for embedded in _embedded_in(v for k, v in own.items() if k not in linked):
        revalidate(embedded)
    values = dict(own)
    for name in linked:
        values[name] = _placeholders_replaced(values.get(name))
    extra = instance.__pydantic_extra__
    if extra:
        values.update(extra)
    checked = type(instance).model_validate(values, by_alias=False, by_name=True)
    validated = dict(checked.__dict__)
    for name in linked:
        if name in own:
            validated[name] = own[name]
    object.__setattr__(instance, "__dict__", validated)
    if extra is not None:
        object.__setattr__(instance, "__pydantic_extra__", checked.__pydantic_extra__)


def _placeholders_replaced(value: Any) -> Any:
    """A reference field's value with each ``NotLoaded`` placeholder replaced by an
    unvalidated instance of its model (what the field's type accepts)."""
    if isinstance(value, NotLoaded):
        return value.model.model_construct()
    if isinstance(value, list) and any(isinstance(item, NotLoaded) for item in value):
        return [_placeholders_replaced(item) for item in value]
    return value


def _embedded_in(values: Iterable[Any]) -> Iterator[EmbeddedModel]:
    """The embedded model instances among ``values`` and inside their containers."""
    for value in values:
        kind = getattr(type(value), "__anyodm_kind__", None)
        if kind == "embedded":
            yield value
        elif kind is None:
            if isinstance(value, dict):
                yield from _embedded_in(value.values())
            elif isinstance(value, (list, tuple, set, frozenset)):
                yield from _embedded_in(value)
