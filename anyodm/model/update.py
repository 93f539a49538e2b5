"""Update operators built from field proxies: ``update.inc(Order.attempts, 1)``.

Each function checks, when it is called, that the operator suits the field's type and
that the value fits it, and encodes the value as ``save`` would store it; the engines
then only assemble the operations (:func:`build_update`).  Nothing is ever sent for an
operation that fails here.
"""

from __future__ import annotations

import builtins
import collections.abc
import datetime
import decimal
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, get_origin

import bson.decimal128
from pydantic import BaseModel, ValidationError

from anyodm.errors import InvalidFieldError
from anyodm.model.field_codec import (
    FieldCodec,
    ResolvedField,
    codec_for,
    element_annotation,
    field_codec,
    resolve_name,
    validation_reason,
)
from anyodm.model.query import (
    FieldProxy,
    QueryExpression,
    _is_any,
    _is_array,
    _is_operators,
    _unwrap,
)
from anyodm.model.storable import value_problem

if TYPE_CHECKING:
    from anyodm.model.model import Model

__all__ = [
    "UpdateOperation",
    "add_to_set",
    "build_update",
    "referenced_by",
    "current_date",
    "inc",
    "max",
    "min",
    "mul",
    "pull",
    "push",
    "set",
    "unset",
]

_NUMBERS = (int, float, decimal.Decimal, bson.decimal128.Decimal128)
#: value types that can hold no model instance (what most updates store)
_HOLDS_NO_INSTANCES = frozenset(
    {int, float, bool, str, bytes, type(None), decimal.Decimal, datetime.datetime}
)
_UPDATE_OPERATORS = frozenset(
    {
        "$set",
        "$unset",
        "$inc",
        "$mul",
        "$min",
        "$max",
        "$push",
        "$pull",
        "$pullAll",
        "$addToSet",
        "$currentDate",
        "$rename",
        "$setOnInsert",
        "$pop",
        "$bit",
    }
)


class UpdateOperation:
    """One operator on one field, value already encoded: ``{operator: {path: value}}``."""

    __slots__ = ("field", "operator", "path", "references", "value")

    def __init__(
        self,
        operator: str,
        field: ResolvedField,
        value: Any,
        references: tuple[Model, ...] = (),
    ) -> None:
        self.operator: str = operator
        self.field: ResolvedField = field
        self.path: str = field.path
        self.value: Any = value
        #: the instances whose keys ``value`` stores: they must be saved when it is sent
        self.references: tuple[Model, ...] = references

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """The raw MongoDB update document of this operation alone."""
        return {self.operator: {self.path: self.value}}

    def __repr__(self) -> str:
        return f"UpdateOperation({self.as_dict()!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, UpdateOperation):
            return self.as_dict() == other.as_dict()
        return NotImplemented

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # pyright: ignore[reportIncompatibleMethodOverride]


# ------------------------------------------------------------------ field checks


def _target(field: Any, operation: str) -> ResolvedField:
    if not isinstance(field, FieldProxy):
        raise TypeError(
            f"update.{operation}() needs a model field such as Book.title first, not {field!r:.80}"
        )
    # a proxy names a field of its own model: resolve_field's model check is moot here
    model: type[Model] = field._model
    resolved = resolve_name(model, field._name, f"update.{operation}")
    if resolved.primary:
        raise resolved.usage_error(f"update.{operation}(): the primary key cannot be updated")
    if resolved.through_array:
        raise resolved.usage_error(
            f"update.{operation}(): the path goes through an array of embedded documents; "
            "update the whole array field instead"
        )
    return resolved


def _alternatives(field: ResolvedField) -> list[Any]:
    return _unwrap(field.annotation)


def _is_number_type(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, _NUMBERS) and not issubclass(tp, bool)


def _require(field: ResolvedField, operation: str, ok: bool, needs: str) -> None:
    if not ok:
        raise field.usage_error(
            f"update.{operation}() needs {needs}, but the field is {_type_name(field.annotation)}"
        )


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


def _numeric(field: ResolvedField, operation: str) -> None:
    alts = _alternatives(field)
    ok = field.reference is None and any(_is_number_type(a) or _is_any(a) for a in alts)
    _require(field, operation, ok, "a numeric field")


def _array(field: ResolvedField, operation: str) -> Any:
    """The element annotation of an array field (errors for other fields)."""
    element = element_annotation(field.annotation)
    if element is None and any(_is_any(a) for a in _alternatives(field)):
        element = Any
    _require(field, operation, element is not None, "an array field (list, tuple or set)")
    return element


def _encode(field: ResolvedField, operation: str, annotation: Any, value: Any, meta: Any) -> Any:
    return _stored(field, operation, value, codec_for(annotation, meta))


def _field_value(field: ResolvedField, operation: str, value: Any) -> Any:
    """``value`` validated as the model validates the field (type, constraints, field
    validators), in its stored form."""
    if field.reference is not None:
        return _reference_value(field, operation, value)
    return _stored(field, operation, value, field_codec(field))


def _stored(field: ResolvedField, operation: str, value: Any, codec: FieldCodec) -> Any:
    """``value`` encoded by ``codec``; ``InvalidValueError`` if it does not fit, or if
    BSON cannot store what it gives (a ``date`` in an ``Any`` field)."""
    try:
        encoded = codec.encode(value)
    except ValidationError as exc:
        raise field.value_error(f"update.{operation}", value, validation_reason(exc)) from None
    problem = value_problem(encoded)
    if problem is not None:
        raise field.value_error(f"update.{operation}", value, f"BSON cannot store it ({problem})")
    return encoded


def _reference_value(field: ResolvedField, operation: str, value: Any) -> Any:
    target = field.reference
    assert target is not None
    if value is None:
        return None
    if element_annotation(field.annotation) is not None:  # a list of references
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise field.value_error(f"update.{operation}", value, "expected a list")
        return [_reference_item(field, operation, item) for item in value]
    return _reference_item(field, operation, value)


def _reference_item(field: ResolvedField, operation: str, value: Any) -> Any:
    """One reference as stored: an instance's primary key, or a key checked by type."""
    target = field.reference
    assert target is not None
    if value is None:
        return None
    if isinstance(value, BaseModel):
        if not isinstance(value, target):
            raise field.value_error(
                f"update.{operation}", value, f"expected a {target.__name__} instance"
            )
        return value.__anyodm_stored_pk__
    pk = target.__anyodm__.primary_field
    pk_info = target.model_fields[pk]
    return _encode(field, operation, pk_info.annotation, value, pk_info.metadata)


def _instances_in(value: Any) -> tuple[Model, ...]:
    """The model instances whose keys ``value`` (a reference, an embedded model, or a
    list/tuple/set/dict of them) stores."""
    if type(value) in _HOLDS_NO_INSTANCES:
        return ()
    from anyodm.model.model import EmbeddedModel, Model
    from anyodm.model.reference_paths import direct_references

    if isinstance(value, Model):
        return (value,)
    if isinstance(value, EmbeddedModel):
        return tuple(direct_references(value))
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple, builtins.set, frozenset)):
        return tuple(instance for item in value for instance in _instances_in(item))
    return ()


def _amount(field: ResolvedField, operation: str, amount: Any) -> Any:
    """An increment/factor: a number checked against the field's type (not its bounds)."""
    if amount is None or isinstance(amount, bool) or not isinstance(amount, _NUMBERS):
        raise field.value_error(f"update.{operation}", amount, "expected a number")
    numbers = [a for a in _alternatives(field) if _is_number_type(a)]
    if not numbers:
        return amount
    errors = []
    for tp in numbers:
        try:
            return codec_for(tp).encode(amount)
        except ValidationError as exc:
            errors.append(validation_reason(exc))
    raise field.value_error(f"update.{operation}", amount, "; ".join(errors))


# ------------------------------------------------------------------ the operators


def set(field: Any, value: Any) -> UpdateOperation:
    """``$set``: the field becomes ``value`` (validated and stored as ``save`` would)."""
    target = _target(field, "set")
    value = _once(value)
    encoded = _field_value(target, "set", value)
    return UpdateOperation("$set", target, encoded, _instances_in(value))


def unset(field: Any) -> UpdateOperation:
    """``$unset``: remove the field; only for fields with a default (documents without it
    must still load)."""
    target = _target(field, "unset")
    if not target.removable:
        raise target.usage_error(
            "update.unset(): the field has no default, so documents without it would no "
            "longer load; set it to None instead (if it is Optional) or give it a default"
        )
    return UpdateOperation("$unset", target, "")


def inc(field: Any, amount: Any) -> UpdateOperation:
    """``$inc``: add ``amount`` to a numeric field."""
    target = _target(field, "inc")
    _numeric(target, "inc")
    return UpdateOperation("$inc", target, _amount(target, "inc", amount))


def mul(field: Any, factor: Any) -> UpdateOperation:
    """``$mul``: multiply a numeric field by ``factor``."""
    target = _target(field, "mul")
    _numeric(target, "mul")
    return UpdateOperation("$mul", target, _amount(target, "mul", factor))


def _comparable(target: ResolvedField, operation: str) -> None:
    bad = [
        a
        for a in _alternatives(target)
        if _is_array(a)
        or (isinstance(a, type) and issubclass(a, (BaseModel, Mapping)))
        or (getattr(a, "__origin__", None) is not None and issubclass(a.__origin__, Mapping))
    ]
    _require(
        target,
        operation,
        not bad or target.reference is not None,
        "a scalar field (number, string, date...)",
    )


def min(field: Any, value: Any) -> UpdateOperation:
    """``$min``: the field becomes ``value`` if ``value`` is smaller."""
    target = _target(field, "min")
    _comparable(target, "min")
    value = _once(value)
    encoded = _field_value(target, "min", value)
    return UpdateOperation("$min", target, encoded, _instances_in(value))


def max(field: Any, value: Any) -> UpdateOperation:
    """``$max``: the field becomes ``value`` if ``value`` is larger."""
    target = _target(field, "max")
    _comparable(target, "max")
    value = _once(value)
    encoded = _field_value(target, "max", value)
    return UpdateOperation("$max", target, encoded, _instances_in(value))


_NO_VALUE: Any = object()


def _once(value: Any) -> Any:
    """An iterator (a generator...) read into a list, so that it is read only once."""
    return list(value) if isinstance(value, Iterator) else value


def _items(target: ResolvedField, operation: str, value: Any, each: Any) -> list[Any]:
    """The values to add: ``[value]``, or ``each`` (any iterable, read once)."""
    if (value is _NO_VALUE) == (each is None):
        raise TypeError(f"update.{operation}() on {target.where} takes a value or each=[...]")
    if each is None:
        return [_once(value)]
    if isinstance(each, (str, bytes, bytearray, Mapping, BaseModel)) or not isinstance(
        each, Iterable
    ):
        raise target.value_error(f"update.{operation}", each, "each= needs a list of values")
    return [_once(item) for item in each]


def _each(target: ResolvedField, operation: str, element: Any, items: list[Any]) -> list[Any]:
    """``items`` as the array field stores its elements."""
    if target.reference is not None:  # a list of references: items stored as keys
        return [_reference_item(target, operation, item) for item in items]
    return [_encode(target, operation, element, item, ()) for item in items]


def push(
    field: Any,
    value: Any = _NO_VALUE,
    *,
    each: Iterable[Any] | None = None,
    position: int | None = None,
    slice: int | None = None,
    sort: Any = None,
) -> UpdateOperation:
    """``$push``: append ``value``, or every value of ``each`` (with MongoDB's
    ``position``, ``slice`` and ``sort`` modifiers), to an array field.

    Always sent as ``{"$each": [...]}``, so a pushed dict is stored as it is, never
    read as ``$push``'s own modifiers."""
    target = _target(field, "push")
    element = _array(target, "push")
    if any(_is_set_type(a) for a in _alternatives(target)):
        raise target.usage_error("update.push(): use add_to_set() on a set field")
    items = _items(target, "push", value, each)
    encoded = _each(target, "push", element, items)
    modifiers: dict[str, Any] = {}
    for name, given in (("$position", position), ("$slice", slice)):
        if given is not None:
            if isinstance(given, bool) or not isinstance(given, int):
                raise target.value_error("update.push", given, f"{name[1:]}= must be an int")
            modifiers[name] = given
    if sort is not None:
        modifiers["$sort"] = _push_sort(target, sort)
    references = _instances_in(items)
    return UpdateOperation("$push", target, {"$each": encoded, **modifiers}, references)


def _is_set_type(annotation: Any) -> bool:
    origin = get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, collections.abc.Set)


def _push_sort(target: ResolvedField, sort: Any) -> Any:
    if sort in (1, -1) and not isinstance(sort, bool):
        return sort
    if isinstance(sort, Mapping) and all(v in (1, -1) for v in sort.values()):
        return {str(k): v for k, v in sort.items()}
    raise target.value_error("update.push", sort, "sort= must be 1, -1 or {sub_field: 1/-1}")


def add_to_set(
    field: Any, value: Any = _NO_VALUE, *, each: Iterable[Any] | None = None
) -> UpdateOperation:
    """``$addToSet``: add ``value`` (or each of ``each``) to an array unless present;
    always sent as ``{"$each": [...]}`` (a dict value is stored as it is)."""
    target = _target(field, "add_to_set")
    element = _array(target, "add_to_set")
    items = _items(target, "add_to_set", value, each)
    encoded = _each(target, "add_to_set", element, items)
    return UpdateOperation("$addToSet", target, {"$each": encoded}, _instances_in(items))


def pull(field: Any, condition: Any) -> UpdateOperation:
    """``$pull``: remove the elements equal to a value, or matching a condition
    (a query on the element model such as ``Address.city == "Paris"``, or an operator
    dict such as ``{"$gt": 3}``).

    A dict the element type accepts is a value, never a condition: a document is sent
    as ``{"$eq": document}``, so only elements equal to it as a whole are removed (a
    bare document would be read as a query on the elements' fields)."""
    target = _target(field, "pull")
    element = _array(target, "pull")
    if isinstance(condition, QueryExpression):
        foreign = [
            m
            for m in condition.models
            if not any(isinstance(e, type) and issubclass(e, m) for e in _unwrap(element))
        ]
        if foreign:
            raise target.usage_error(
                f"update.pull(): the condition is on {foreign[0].__name__}, which is not "
                "the element type of this array"
            )
        return UpdateOperation("$pull", target, dict(condition))
    if _is_operators(condition) and (
        target.reference is not None or not _accepts(element, condition)
    ):
        return UpdateOperation("$pull", target, field._element_condition(condition))
    if target.reference is not None:  # a list of references: an instance or a key
        value = _reference_item(target, "pull", condition)
    else:
        value = _encode(target, "pull", element, condition, ())
    return UpdateOperation("$pull", target, {"$eq": value} if isinstance(value, Mapping) else value)


def _accepts(annotation: Any, value: Any) -> bool:
    """``value`` is a valid value of type ``annotation``."""
    try:
        codec_for(annotation).encode(value)
    except ValidationError:
        return False
    return True


def current_date(field: Any) -> UpdateOperation:
    """``$currentDate``: the field becomes the server's current date and time."""
    target = _target(field, "current_date")
    ok = any(
        _is_any(a) or (isinstance(a, type) and issubclass(a, datetime.datetime))
        for a in _alternatives(target)
    )
    _require(target, "current_date", ok, "a datetime field")
    return UpdateOperation("$currentDate", target, True)


# ------------------------------------------------------------------ assembling


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def build_update(model: type[Model], update: Any, operation: str) -> dict[str, Any]:
    """One operation, a list of them, or a raw dict of ``$``-operators, as one update
    document; ``TypeError``/``InvalidFieldError`` before anything is sent."""
    parts = list(update) if isinstance(update, (list, tuple)) else [update]
    if not parts:
        raise TypeError(f"{operation}() on {model.__name__}: update= is empty")
    result: dict[str, dict[str, Any]] = {}
    paths: list[tuple[str, str]] = []
    for part in parts:
        if isinstance(part, UpdateOperation):
            field = part.field
            if field.model is not model and not issubclass(model, field.model):
                raise InvalidFieldError(
                    model,
                    field.where,
                    f"{operation}() on {model.__name__} got an update of {field.model.__name__}",
                )
            for other, where in paths:
                if _overlap(other, part.path):
                    raise InvalidFieldError(
                        model,
                        field.where,
                        f"{operation}(): updated twice in one update (with {where}); "
                        "MongoDB refuses conflicting paths",
                    )
            paths.append((part.path, field.where))
            result.setdefault(part.operator, {})[part.path] = part.value
        elif isinstance(part, Mapping) and not isinstance(part, QueryExpression):
            _merge_raw(model, result, part, operation)
        else:
            raise TypeError(
                f"{operation}() on {model.__name__}: update= takes update.set(...)-style "
                f"operations, a list of them, or a dict of $-operators, not {part!r:.80}"
            )
    if not result:
        raise TypeError(f"{operation}() on {model.__name__}: update= is empty")
    return result


def referenced_by(update: Any) -> list[tuple[str, Model]]:
    """``(field, instance)`` for each instance whose key the operations of ``update``
    (what :func:`build_update` takes) store."""
    parts = list(update) if isinstance(update, (list, tuple)) else [update]
    return [
        (part.field.where, instance)
        for part in parts
        if isinstance(part, UpdateOperation)
        for instance in part.references
    ]


def _merge_raw(
    model: type[Model],
    result: dict[str, dict[str, Any]],
    raw: Mapping[str, Any],
    operation: str,
) -> None:
    for key, spec in raw.items():
        if key not in _UPDATE_OPERATORS:
            raise TypeError(
                f"{operation}() on {model.__name__}: {key!r} is not an update operator "
                "(a raw update is a dict of $-operators such as {'$set': {...}}; "
                "replacing whole documents is save()'s job)"
            )
        if not isinstance(spec, Mapping) or not spec:
            raise TypeError(f"{operation}() on {model.__name__}: {key} needs a non-empty dict")
        target = result.setdefault(key, {})
        for path, value in spec.items():
            target[str(path)] = value
