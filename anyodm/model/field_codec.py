"""One field of a model, resolved from its proxy, and its value codec.

Server-side operations name fields with proxies (``Order.address.city``) and carry
values that must be stored exactly as ``save`` stores them.  :func:`resolve_field`
walks the proxy's path through the model to the field's pydantic ``FieldInfo``;
:class:`FieldCodec` validates a value with the field's type and constraints and
encodes it with the same schema rewrites as ``model_dump_doc`` (stored key names,
``Decimal128``, UUID binaries, datetimes truncated to milliseconds in UTC, enum
values); ``decode`` reads a stored value back as ``model_validate_doc`` would.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast, get_args, get_origin

import bson
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import (
    CoreSchema,
    PydanticSerializationError,
    PydanticUndefined,
    SchemaSerializer,
    SchemaValidator,
)
from typing_extensions import ParamSpec

from anyodm.errors import InvalidFieldError, InvalidValueError
from anyodm.model.bson_types import ObjectId
from anyodm.model.query import FieldProxy, _is_any, _is_array, _unwrap, bson_value
from anyodm.model.schema import adapt_own_schema, doc_serializer_schema, doc_validator_schema

if TYPE_CHECKING:
    from anyodm.model.model import Model

_P = ParamSpec("_P")
_R = TypeVar("_R")


def cached(maxsize: int) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """``functools.lru_cache(maxsize=...)``, typed as keeping the function's signature.

    Its arguments here are model classes, which are hashable; pyright cannot tell (it
    reads a pydantic model's ``__hash__ = None``, which is its instances').
    """
    return cast("Callable[[Callable[_P, _R]], Callable[_P, _R]]", functools.lru_cache(maxsize))


__all__ = [
    "FieldCodec",
    "QueryCodec",
    "ResolvedField",
    "codec_for",
    "query_codec",
    "resolve_field",
    "resolve_name",
]


class ResolvedField:
    """What an operation needs to know about the field a proxy names."""

    __slots__ = (
        "_codec",
        "annotation",
        "info",
        "model",
        "owner",
        "path",
        "primary",
        "reference",
        "through_array",
        "where",
    )

    def __init__(
        self,
        model: type[Model],
        owner: type[BaseModel],
        path: str,
        where: str,
        info: FieldInfo,
        primary: bool,
        reference: type[Model] | None,
        through_array: bool,
    ) -> None:
        #: the model the operation runs on
        self.model: type[Model] = model
        #: the (embedded) model class that declares the field
        self.owner: type[BaseModel] = owner
        #: stored dotted path ("address.city")
        self.path: str = path
        #: "Order.address.city", for error messages
        self.where: str = where
        self.info: FieldInfo = info
        self.annotation: Any = info.annotation
        self.primary: bool = primary
        #: the referenced model for a ``Reference()`` field
        self.reference: type[Model] | None = reference
        #: the path goes through an array of embedded models
        self.through_array: bool = through_array
        self._codec: FieldCodec | None = None  # see field_codec()

    def usage_error(self, reason: str) -> InvalidFieldError:
        return InvalidFieldError(self.model, self.where, reason)

    def value_error(self, operation: str, value: Any, reason: str) -> InvalidValueError:
        return InvalidValueError(
            self.model, self.where, f"{operation}() got {value!r:.80}: {reason}"
        )

    @property
    def removable(self) -> bool:
        """Documents without this field still load (it has a default to fill in)."""
        info = self.info
        if info.default is not PydanticUndefined:
            return True
        if info.default_factory is not None:
            shape = getattr(self.owner, "__anyodm__", None)
            return bool(getattr(shape, "parse_doc_with_default_factories", False))
        return False


def _embedded_alternatives(annotation: Any) -> Iterable[tuple[type[BaseModel], bool]]:
    """The model classes a field holds directly (False) or as array elements (True)."""
    for alt in _unwrap(annotation):
        if isinstance(alt, type) and issubclass(alt, BaseModel):
            yield alt, False
        elif _is_array(alt):
            for arg in get_args(alt):
                for element in _unwrap(arg):
                    if isinstance(element, type) and issubclass(element, BaseModel):
                        yield element, True


def resolve_field(model: type[Model], field: Any, operation: str) -> ResolvedField:
    """The field ``field`` (a proxy of ``model`` or a parent of it) names."""
    if not isinstance(field, FieldProxy):
        raise TypeError(
            f"{operation}() on {model.__name__} needs a model field such as "
            f"{model.__name__}.<field>, not {field!r:.80}"
        )
    owner_model: type[Any] = field._model
    if not (isinstance(owner_model, type) and issubclass(model, owner_model)):
        raise InvalidFieldError(
            model,
            f"{owner_model.__name__}.{field._name}",
            f"{operation}() on {model.__name__} got a field of {owner_model.__name__}",
        )
    return resolve_name(model, field._name, operation)


@cached(maxsize=2048)
def resolve_name(model: type[Model], name: str, operation: str) -> ResolvedField:
    """The field named by python attribute names ``a.b.c`` of ``model`` (cached: models
    do not change once built)."""
    names = name.split(".")
    cls: type[BaseModel] = model
    keys: list[str] = []
    through_array = False
    info: FieldInfo | None = None
    where = model.__name__
    for depth, part in enumerate(names):
        fields = cls.model_fields
        if part not in fields:
            raise InvalidFieldError(
                model, f"{where}.{part}", f"{operation}(): {cls.__name__} has no field {part!r}"
            )
        where = f"{where}.{part}"
        info = fields[part]
        shape = getattr(cls, "__anyodm__", None)
        if part in getattr(shape, "back_reference_names", ()):
            raise InvalidFieldError(
                model, where, f"{operation}(): a back-reference is read-only and never stored"
            )
        keys.append(shape.key_names[part] if shape is not None else part)
        if depth == len(names) - 1:
            break
        refs = getattr(shape, "reference_names", ())
        if part in refs:
            raise InvalidFieldError(
                model, where, f"{operation}() cannot reach into a referenced document"
            )
        subs = [
            (sub, in_array)
            for sub, in_array in _embedded_alternatives(info.annotation)
            if names[depth + 1] in sub.model_fields
        ]
        if not subs:
            raise InvalidFieldError(
                model, where, f"{operation}(): no sub-field {names[depth + 1]!r} here"
            )
        cls, in_array = subs[0]
        through_array = through_array or in_array
    assert info is not None
    shape = getattr(cls, "__anyodm__", None)
    primary = cls is model and getattr(shape, "primary_field", None) == names[-1]
    reference = None
    if cls is model and names[-1] in model.__anyodm__.reference_names:
        reference = model.__anyodm__.references[names[-1]]
    return ResolvedField(model, cls, ".".join(keys), where, info, primary, reference, through_array)


# ------------------------------------------------------------------ codecs


class FieldCodec:
    """Validates and encodes values of one type as a save would store them.

    Built from a type annotation, or from a field's own core schema (``schema=``), which
    carries the model's field validators and serializers too.
    """

    __slots__ = ("_decoder", "_encoder", "_serializer")

    def __init__(self, annotation: Any = None, *, schema: Any = None) -> None:
        if schema is None:
            schema = TypeAdapter(annotation).core_schema
        own = adapt_own_schema(dict(schema), object)
        self._encoder = SchemaValidator(cast(CoreSchema, own))
        self._serializer = SchemaSerializer(cast(CoreSchema, doc_serializer_schema(own)))
        self._decoder = SchemaValidator(cast(CoreSchema, doc_validator_schema(own)))

    def encode(self, value: Any) -> Any:
        """The stored form of ``value``; ``ValidationError`` if it does not fit."""
        return self._serializer.to_python(self._encoder.validate_python(value), by_alias=True)

    def decode(self, raw: Any) -> Any:
        """A stored value read back into the field's python type."""
        return self._decoder.validate_python(raw, by_alias=True, by_name=False)


@functools.lru_cache(maxsize=1024)
def _codec(annotation: Any) -> FieldCodec:
    return FieldCodec(annotation)


def _unwrap_to_fields(schema: Any) -> tuple[dict[str, Any], list[Any] | None]:
    """The ``model-fields`` schema inside a model's core schema, and its definitions."""
    definitions: list[Any] | None = None
    node = schema
    for _ in range(32):
        kind = node.get("type")
        if kind == "model-fields":
            return node, definitions
        if kind == "definitions":
            definitions = list(node["definitions"]) + (definitions or [])
            node = node["schema"]
        elif kind == "definition-ref":
            ref = node["schema_ref"]
            node = next(d for d in definitions or () if d.get("ref") == ref)
        elif isinstance(node.get("schema"), dict):
            node = node["schema"]
        else:
            break
    raise LookupError("no model-fields schema")


class _OwnedFieldCodec(FieldCodec):
    """A field's codec that can fall back on its model to serialize: a method
    ``@field_serializer`` needs a model instance (``self``)."""

    __slots__ = ("_name", "_owner")

    def __init__(self, owner: type[BaseModel], name: str, schema: Any) -> None:
        super().__init__(schema=schema)
        self._owner = owner
        self._name = name

    def encode(self, value: Any) -> Any:
        validated = self._encoder.validate_python(value)
        try:
            return self._serializer.to_python(validated, by_alias=True)
        except PydanticSerializationError:
            holder = self._owner.model_construct(**{self._name: validated})
            dump = getattr(holder, "model_dump_doc", None)
            if dump is None:
                return holder.model_dump(include={self._name}, by_alias=True).popitem()[1]
            return dump(include={self._name}).popitem()[1]


@cached(maxsize=1024)
def _field_codec(owner: type[BaseModel], name: str) -> FieldCodec:
    fields, definitions = _unwrap_to_fields(owner.__pydantic_core_schema__)
    schema = fields["fields"][name]["schema"]
    if definitions:
        schema = {"type": "definitions", "schema": schema, "definitions": definitions}
    return _OwnedFieldCodec(owner, name, schema)


def field_codec(field: ResolvedField) -> FieldCodec:
    """The codec of a resolved field: its own schema in its model (constraints, field
    validators and serializers included), or its annotation if that cannot be found.
    Kept on the field (resolved fields are cached, and updates use it on every call)."""
    codec = field._codec
    if codec is None:
        name = field.where.rsplit(".", 1)[-1]
        try:
            codec = _field_codec(field.owner, name)
        except (LookupError, TypeError):
            codec = codec_for(field.annotation, field.info.metadata)
        field._codec = codec
    return codec


class QueryCodec:
    """The values a query compares with one field, in the form ``save`` stores them.

    A value the field's type does not accept (a bound outside its constraints, a dict
    compared with a string...), or compared with an untyped (``Any``) field, is sent as
    given, in its generic BSON form (:func:`bson_value`): a query may ask for what no
    valid document holds, and it then matches nothing.
    """

    __slots__ = ("_array", "_element", "_field", "_key", "_plain")

    def __init__(
        self,
        field: FieldCodec | None = None,
        element: FieldCodec | None = None,
        *,
        array: bool = False,
        key: FieldCodec | None = None,
        plain: frozenset[type] = frozenset(),
    ) -> None:
        self._field = field  # the whole field (None: values as given)
        self._element = element  # an element of an array field
        self._array = array
        self._key = key  # the referenced primary key of a reference field
        #: value types the field stores as they are (nothing to validate or convert)
        self._plain = plain

    def value(self, value: Any) -> Any:
        """A value compared with the field; for an array field (which MongoDB matches
        whole or by element) an element unless it is an array of the field's type."""
        if type(value) in self._plain:
            return value
        if self._key is not None:
            return self._reference(value)
        if self._array and not isinstance(value, _ARRAYS):
            return self.element(value)
        encoded = _encoded(self._field, value)
        if encoded is _REFUSED:
            return self.element(value) if self._array else bson_value(value)
        return encoded

    def element(self, value: Any) -> Any:
        """A value compared with the elements of an array field."""
        if self._key is not None:
            return self._reference(value)
        encoded = _encoded(self._element, value)
        return bson_value(value) if encoded is _REFUSED else encoded

    def condition(self, condition: Mapping[str, Any]) -> dict[str, Any]:
        """An operator dict on the elements (``{"$gt": 3}``) with its comparison
        values encoded; other operators as given."""
        result = {}
        for op, value in condition.items():
            if op in _COMPARISONS:
                value = self.element(value)
            elif op in _LISTS and isinstance(value, (list, tuple)):
                value = [self.element(item) for item in value]
            result[op] = value
        return result

    def _reference(self, value: Any) -> Any:
        if isinstance(value, BaseModel):
            return bson_value(value)  # an instance: its stored primary key
        if isinstance(value, _ARRAYS):
            return [self._reference(item) for item in value]
        encoded = _encoded(self._key, value)
        return bson_value(value) if encoded is _REFUSED else encoded


_REFUSED: Any = object()
_ARRAYS = (list, tuple, set, frozenset)
_COMPARISONS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})
_LISTS = frozenset({"$in", "$nin"})


def _encoded(codec: FieldCodec | None, value: Any) -> Any:
    if codec is None:
        return _REFUSED
    try:
        encoded = codec.encode(value)
    except (ValidationError, TypeError, LookupError, AttributeError):
        # refused, or a field validator that needs the whole model (``info.data``)
        return _REFUSED
    return bson_value(encoded)  # what BSON cannot hold in untyped (Any) parts, as before


@cached(maxsize=2048)
def query_codec(model: type[Model], name: str, target: type[Model] | None) -> QueryCodec:
    """The (cached) query codec of field ``name`` (``a.b.c``) of ``model``; ``target``:
    the referenced model of a reference field."""
    try:
        field = resolve_name(model, name, "query")
        if target is not None:
            pk = target.__anyodm__.primary_field
            return QueryCodec(key=field_codec(resolve_name(target, pk, "query")))
        whole = None if _untyped(field.annotation) else field_codec(field)
        element = element_annotation(field.annotation)
        if element is None:
            return QueryCodec(whole, plain=_stored_as_is(field))
        return QueryCodec(whole, None if _untyped(element) else codec_for(element), array=True)
    except (LookupError, TypeError, NameError, InvalidFieldError):  # no codec for the type:
        return QueryCodec()  # values are sent as given


#: field types whose values of exactly that type are stored as they are
_AS_IS: dict[Any, frozenset[type]] = {
    str: frozenset({str}),
    int: frozenset({int}),
    float: frozenset({float}),
    bool: frozenset({bool}),
    bson.ObjectId: frozenset({bson.ObjectId, ObjectId}),
    ObjectId: frozenset({bson.ObjectId, ObjectId}),
}


def _stored_as_is(field: ResolvedField) -> frozenset[type]:
    """The value types a query may send as they are for ``field``: its type's own, when
    the field is exactly ``str``/``int``/``float``/``bool``/``ObjectId`` (or optional),
    with no constraint, validator or serializer (of the field or of its model)."""
    annotation = field.annotation
    if get_origin(annotation) in (typing.Union, types.UnionType):  # Annotated stays whole
        alternatives = [alt for alt in get_args(annotation) if alt is not type(None)]
    else:
        alternatives = [annotation]
    if len(alternatives) != 1 or field.info.metadata:
        return frozenset()
    decorators = field.owner.__pydantic_decorators__
    if (
        decorators.field_serializers
        or decorators.model_serializers
        or decorators.field_validators
        or decorators.model_validators
    ):
        return frozenset()
    return _AS_IS.get(alternatives[0], frozenset())


def _untyped(annotation: Any) -> bool:
    """``Any`` (or ``object``, an unresolved name): its values are sent as given."""
    return any(_is_any(alt) for alt in _unwrap(annotation))


def _annotated(annotation: Any, metadata: Iterable[Any]) -> Any:
    extra = tuple(m for m in metadata if type(m).__module__ != "anyodm.model.fields")
    if not extra:
        return annotation
    args = (annotation, *extra)
    return Annotated[args]


def codec_for(annotation: Any, metadata: Iterable[Any] = ()) -> FieldCodec:
    """The (cached) codec of ``annotation`` with the field's constraints ``metadata``."""
    key = _annotated(annotation, metadata)
    try:
        return _codec(key)
    except TypeError:  # unhashable metadata
        return FieldCodec(key)


def element_annotation(annotation: Any) -> Any | None:
    """The element type of an array annotation (``list[X]`` -> ``X``), or None."""
    elements = [
        args[0]
        for alt in _unwrap(annotation)
        if _is_array(alt) and (args := [a for a in get_args(alt) if a is not Ellipsis])
    ]
    if not elements:
        arrays = [alt for alt in _unwrap(annotation) if _is_array(alt)]
        return Any if arrays else None
    if len(elements) == 1:
        return elements[0]
    return typing.Union[tuple(elements)]  # noqa: UP007 - built at runtime


def is_optional(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return is_optional(get_args(annotation)[0])
    return annotation is None or type(None) in get_args(annotation)


def validation_reason(exc: ValidationError) -> str:
    """pydantic's messages, one line."""
    return "; ".join(
        (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "") + e["msg"]
        for e in exc.errors(include_url=False)
    )
