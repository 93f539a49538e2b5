"""Rewrites of pydantic core schemas.

Three uses, all done once per class, so that each document is handled by pydantic-core
in a single call with no Python loop over fields:

* :func:`adapt_own_schema` (every validation): datetimes truncated to milliseconds and
  aware ones moved to UTC; ``Decimal`` accepts a stored ``Decimal128``; ``re.Pattern``
  accepts a stored BSON regex; ``bytes`` has ``Binary``'s JSON form (base64).
* :func:`doc_validator_schema` (``model_validate_doc``): fields are read from their
  stored key names; UUIDs from BSON binaries; fields with a default factory are required
  unless ``parse_doc_with_default_factories``.
* :func:`doc_serializer_schema` (``model_dump_doc``): fields are written under their
  stored key names; references as the referenced primary key; ``Decimal`` as
  ``Decimal128``, ``UUID`` as a subtype-4 binary, sets as arrays, enums as their values,
  ``extra="allow"`` values converted like query values, and a ``WithBsonSerializer``
  annotation's function where there is one.

Both document schemas name stand-in classes (:mod:`anyodm.model.standins`) in their
``model`` nodes, so pydantic-core compiles them instead of reusing the models' own.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any, cast

from pydantic_core import PydanticCustomError, core_schema, to_jsonable_python

from anyodm.model.bson_types import (
    BSON_SERIALIZER_KEY,
    bytes_schema,
    datetime_to_ms,
    decimal_from_bson,
    decimal_to_bson,
    pattern_from_bson,
    uuid_from_bson,
    uuid_to_bson,
)
from anyodm.model.class_kinds import shape_of
from anyodm.model.fields import odm_options
from anyodm.model.lazy import BackReferencesNotLoaded, NotLoaded
from anyodm.model.query import bson_value
from anyodm.model.standins import standin

__all__ = ["adapt_own_schema", "doc_serializer_schema", "doc_validator_schema"]

Schema = dict[str, Any]
# Keys whose values are data or callables, never sub-schemas.
_OPAQUE = frozenset(
    {"default", "default_factory", "metadata", "examples", "cls", "config", "ref", "members"}
)
_OUR_FUNCTIONS = (datetime_to_ms, decimal_from_bson, pattern_from_bson, uuid_from_bson)
_PATTERN_VALIDATORS = frozenset(
    {"pattern_either_validator", "pattern_str_validator", "pattern_bytes_validator"}
)


def _rewrite(node: Any, visit: Callable[[Schema], Schema], enter: Callable[[Schema], bool]) -> Any:
    """Copy a core schema, passing each sub-schema (children first) through ``visit``.

    Only dicts and lists are copied; ``enter`` decides whether to go inside a schema.
    """
    if isinstance(node, list):
        return [_rewrite(item, visit, enter) for item in node]
    if isinstance(node, tuple):
        return tuple(_rewrite(item, visit, enter) for item in node)
    if not isinstance(node, dict):
        return node
    is_schema = isinstance(node.get("type"), str)
    if is_schema and not enter(node):
        return visit(node)
    new: Schema = {}
    for key, value in node.items():
        if key in _OPAQUE or key == "function":
            new[key] = value
        elif key == "serialization" and isinstance(value, dict):
            # A serializer's own "type" means something else; only its nested
            # return/inner schemas are real schemas.
            ser = dict(value)
            for sub in ("return_schema", "schema"):
                if sub in ser:
                    ser[sub] = _rewrite(ser[sub], visit, enter)
            new[key] = ser
        else:
            new[key] = _rewrite(value, visit, enter)
    return visit(new) if is_schema else new


def _is_ours(node: Schema) -> bool:
    func = node.get("function")
    return isinstance(func, dict) and func.get("function") in _OUR_FUNCTIONS


def _is_pattern(node: Schema) -> bool:
    func = node.get("function")
    if node["type"] != "function-plain" or not isinstance(func, dict):
        return False
    return getattr(func.get("function"), "__name__", "") in _PATTERN_VALIDATORS


def _wrap_after(function: Callable[[Any], Any], node: Schema) -> Schema:
    return cast(Schema, core_schema.no_info_after_validator_function(function, cast(Any, node)))


def _wrap_before(function: Callable[[Any], Any], node: Schema) -> Schema:
    return cast(Schema, core_schema.no_info_before_validator_function(function, cast(Any, node)))


# ------------------------------------------------------------------ every validation


def adapt_own_schema(schema: Schema, cls: type) -> Schema:
    """The model's own schema with the BSON adaptations (idempotent)."""

    def enter(node: Schema) -> bool:
        if _is_ours(node):
            return False
        return not (node["type"] == "model" and node.get("cls") is not cls)

    def visit(node: Schema) -> Schema:
        kind = node["type"]
        if kind == "datetime":
            return _wrap_after(datetime_to_ms, node)
        if kind == "decimal":
            return _wrap_before(decimal_from_bson, node)
        if _is_pattern(node):
            return _wrap_before(pattern_from_bson, node)
        if kind == "bytes" and "serialization" not in node:
            return cast(Schema, bytes_schema(cast(Any, node)))
        if kind == "model-fields":
            for name in _reference_fields(cls):
                field = node["fields"].get(name)
                if field is not None:
                    inner = _accepting_not_loaded(field["schema"], cls, name)
                    field["schema"] = {**inner, "serialization": _LAZY_SER}
        return node

    result: Schema = _rewrite(schema, visit, enter)
    return result


def _reference_fields(cls: type) -> list[str]:
    """The reference fields of a model class (their values may be placeholders)."""
    fields = cls.__dict__.get("__pydantic_fields__") or {}
    return [
        name
        for name, info in fields.items()
        if (options := odm_options(info)) is not None and options.reference
    ]


#: marks the validator letting a reference field hold ``NotLoaded`` placeholders (the
#: document validators, which never meet one, go without it)
_NOT_LOADED_MARK = "anyodm_accepts_not_loaded"


def _accepting_not_loaded(schema: Schema, cls: type, name: str) -> Schema:
    """A reference field's schema that also accepts ``NotLoaded`` placeholders of its
    target (or of a subclass): what a find left unloaded can be assigned, copied and
    validated again (``model_update``, ``model_copy(update=...)``)."""
    kind = schema.get("type")
    if kind in ("default", "nullable"):
        return {**schema, "schema": _accepting_not_loaded(schema["schema"], cls, name)}
    if kind == "list":
        return {**schema, "items_schema": _accepting_not_loaded(schema["items_schema"], cls, name)}

    def validate(value: Any, handler: Any) -> Any:
        if not isinstance(value, NotLoaded):
            return handler(value)
        target = cls.__anyodm__.reference_shapes[name].target  # type: ignore[attr-defined]
        if isinstance(value.model, type) and issubclass(value.model, target):
            return value
        raise PydanticCustomError(
            "not_loaded_target",
            "a NotLoaded placeholder of {got}, not of {target}",
            {"got": getattr(value.model, "__name__", repr(value.model)), "target": target.__name__},
        )

    wrapped = cast(Schema, core_schema.no_info_wrap_validator_function(validate, cast(Any, schema)))
    wrapped["metadata"] = {_NOT_LOADED_MARK: True}
    return wrapped


def _dump_lazy(value: Any, handler: Any, info: Any) -> Any:
    """``model_dump`` of a reference: a ``NotLoaded`` placeholder as its key (a string
    in JSON; an embedded-model key an object of them), loaded instances as usual."""

    def key(placeholder: NotLoaded[Any]) -> Any:
        if info.mode != "json":
            return placeholder.key
        if isinstance(placeholder.key, Mapping):
            return to_jsonable_python(placeholder.key, fallback=str)
        return str(placeholder.key)

    if isinstance(value, NotLoaded):
        return key(value)
    if isinstance(value, list) and any(isinstance(item, NotLoaded) for item in value):
        return [
            key(item)
            if isinstance(item, NotLoaded)
            else (None if item is None else item.model_dump(mode=info.mode))
            for item in value
        ]
    return handler(value)


_LAZY_SER = core_schema.wrap_serializer_function_ser_schema(_dump_lazy, info_arg=True)


# ------------------------------------------------------------------ documents


def _shape(cls: Any) -> Any:
    """The ODM description of a model class (``None`` for plain pydantic models)."""
    return shape_of(cls)


def _always(node: Schema) -> bool:
    return True


def _polymorphic_validator(cls: Any) -> Callable[[Any], Any]:
    """Validation of a nested polymorphic model (a reference to a family's base): each
    document parsed as its own class."""

    def validate(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise PydanticCustomError(
                "model_type",
                "Input should be a valid dictionary or instance of {name}",
                {"name": cls.__name__},
            )
        return cls.model_validate_doc(value)

    return validate


def _lazy_schema(schema: Schema, reference: Any) -> Schema:
    """A reference field's schema from documents when it is not loaded (a lazy one, or
    any with ``references="keys"``): the stored key (or list of keys) becomes
    ``NotLoaded`` placeholders (``None`` stays ``None``); its default is kept."""
    target = reference.target

    def one(value: Any) -> Any:
        if value is None or isinstance(value, (NotLoaded, target)):
            return value
        if isinstance(value, Mapping) and "_id" in value:  # a document, not a key
            return target.model_validate_doc(value)
        return NotLoaded(target, value)

    def validate(value: Any) -> Any:
        if not reference.many:
            return one(value)
        if not isinstance(value, list):
            raise PydanticCustomError("list_type", "Input should be a list of keys")
        return [one(item) for item in value]

    function = cast(Schema, core_schema.no_info_plain_validator_function(validate))
    if schema.get("type") == "default":
        return {**schema, "schema": function}
    return function


def _is_polymorphic(cls: Any) -> bool:
    return getattr(_shape(cls), "family", None) is not None


def _marked_not_loaded(node: Schema) -> bool:
    metadata = node.get("metadata")
    return isinstance(metadata, dict) and bool(metadata.get(_NOT_LOADED_MARK))


def doc_validator_schema(
    schema: Schema, top: type | None = None, keys_only: bool = False
) -> Schema:
    """Validation from stored documents (call with ``by_alias=True, by_name=False``).

    Nested models of a polymorphic family (not ``top``, the model being parsed) are
    parsed by their family's dispatch, so each document gets its own class.
    ``keys_only``: every reference (embedded models' too) is read as its stored key,
    into ``NotLoaded`` placeholders (finds with ``references="keys"``). A back-reference
    missing from the document (not loaded) is a :class:`BackReferencesNotLoaded`.
    """

    def visit(node: Schema) -> Schema:
        kind = node["type"]
        if kind == "function-wrap" and _marked_not_loaded(node):
            return cast(Schema, node["schema"])  # documents hold no placeholders
        if kind == "model" and node["cls"] is not top and _is_polymorphic(node["cls"]):
            function = core_schema.no_info_plain_validator_function(
                _polymorphic_validator(node["cls"])
            )
            if "ref" in node:
                function["ref"] = node["ref"]
            return cast(Schema, function)
        if kind == "uuid":
            return _wrap_before(uuid_from_bson, node)
        if kind == "model" and (shape := _shape(node["cls"])) is not None:
            inner = node["schema"]
            if inner.get("type") == "model-fields":
                fields = {}
                back_references = getattr(shape, "back_reference_names", ())
                for name, field in inner["fields"].items():
                    field = dict(field)
                    field["validation_alias"] = shape.key_names.get(name, name)
                    sub = field["schema"]
                    if name in back_references and sub.get("type") == "default":
                        field["schema"] = {**sub, "default_factory": BackReferencesNotLoaded}
                    elif (
                        not shape.parse_doc_with_default_factories
                        and sub.get("type") == "default"
                        and "default_factory" in sub
                    ):
                        field["schema"] = sub["schema"]
                    reference = getattr(shape, "reference_shapes", {}).get(name)
                    if reference is not None and (reference.lazy or keys_only):
                        field["schema"] = _lazy_schema(field["schema"], reference)
                    fields[name] = field
                node["schema"] = {**inner, "fields": fields}
        if kind == "model":
            return _standin_model(node)
        return node

    result: Schema = _rewrite(schema, visit, _always)
    return result


def _standin_model(node: Schema) -> Schema:
    """A model node naming the stand-in (which creates instances of the real class)."""
    node["cls"] = standin(node["cls"])
    return node


def _pk_of(value: Any) -> Any:
    return None if value is None else value.__anyodm_stored_pk__


def _pks_of(values: Any) -> Any:
    if values is None:
        return None
    return [None if value is None else value.__anyodm_stored_pk__ for value in values]


_REFERENCE_SER = core_schema.any_schema(
    serialization=core_schema.plain_serializer_function_ser_schema(_pk_of)
)
_REFERENCE_LIST_SER = core_schema.any_schema(
    serialization=core_schema.plain_serializer_function_ser_schema(_pks_of)
)


def _extra_to_bson(value: Any) -> Any:
    return bson_value(value)


#: how values of ``extra="allow"`` fields are stored: converted like query values
_EXTRA_SER = core_schema.any_schema(
    serialization=core_schema.plain_serializer_function_ser_schema(_extra_to_bson)
)


def _allows_extra(model_node: Schema) -> bool:
    """A model node whose fields keep extra values (``extra="allow"``) with no own schema."""
    config = model_node.get("config") or {}
    inner = model_node["schema"]
    return (
        config.get("extra_fields_behavior") == "allow"
        and isinstance(inner, dict)
        and inner.get("type") == "model-fields"
        and "extras_schema" not in inner
    )


def _bson_serializer(node: Schema) -> Callable[[Any], Any] | None:
    metadata = node.get("metadata")
    if isinstance(metadata, dict):
        function = metadata.get(BSON_SERIALIZER_KEY)
        if callable(function):
            return cast(Callable[[Any], Any], function)
    return None


def doc_serializer_schema(schema: Schema) -> Schema:
    """Serialization to stored documents (call with ``by_alias=True``)."""

    def visit(node: Schema) -> Schema:
        kind = node["type"]
        if kind == "model" and _allows_extra(node):
            node["schema"] = {**node["schema"], "extras_schema": _EXTRA_SER}
        if (function := _bson_serializer(node)) is not None:
            node["serialization"] = core_schema.plain_serializer_function_ser_schema(function)
        elif kind == "decimal":
            node["serialization"] = core_schema.plain_serializer_function_ser_schema(
                decimal_to_bson
            )
        elif kind == "uuid":
            node["serialization"] = core_schema.plain_serializer_function_ser_schema(uuid_to_bson)
        elif kind in ("set", "frozenset"):
            items = node.get("items_schema", core_schema.any_schema())
            node["serialization"] = core_schema.plain_serializer_function_ser_schema(
                list, return_schema=core_schema.list_schema(items)
            )
        elif kind == "enum":
            node["serialization"] = core_schema.plain_serializer_function_ser_schema(
                operator.attrgetter("value")
            )
        elif kind == "model-fields" and node.get("extra_behavior") == "allow":
            node.setdefault("extras_schema", _EXTRA_SER)
        elif kind == "model" and (shape := _shape(node["cls"])) is not None:
            inner = node["schema"]
            if inner.get("type") == "model-fields":
                fields = {}
                for name, field in inner["fields"].items():
                    field = dict(field)
                    field["serialization_alias"] = shape.key_names.get(name, name)
                    if name in shape.reference_names:
                        many = shape.reference_shapes[name].many
                        field["schema"] = _REFERENCE_LIST_SER if many else _REFERENCE_SER
                    fields[name] = field
                node["schema"] = {**inner, "fields": fields}
        if kind == "model":
            node["cls"] = standin(node["cls"])
        return node

    result: Schema = _rewrite(schema, visit, _always)
    return result
