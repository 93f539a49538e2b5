"""BSON value types usable as pydantic field types.

Every type validates the value the driver returns with a cheap ``isinstance`` check in
pydantic-core (no Python call), accepts the usual Python spellings, serializes to JSON
(an ``ObjectId`` as its hex string) and has a JSON schema, so models carrying them can be
FastAPI request and response models.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import bson
import bson.binary
import bson.decimal128
import bson.errors
import bson.int64
import bson.regex
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

__all__ = [
    "Binary",
    "Decimal128",
    "Int64",
    "ObjectId",
    "Regex",
    "WithBsonSerializer",
    "bytes_schema",
    "datetime_to_ms",
    "decimal_from_bson",
    "pattern_from_bson",
    "uuid_from_bson",
]

_RE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


class _BSONTypeMeta(type):
    """``isinstance(value, ObjectId)`` is true for the driver's plain ``bson`` values too."""

    __bson_base__: type

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls.__bson_base__)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls.__bson_base__)


def _python_schema(base: type, convert: Any) -> core_schema.CoreSchema:
    """The driver's value passes an ``isinstance`` check; anything else goes through ``convert``."""
    return core_schema.union_schema(
        [
            core_schema.is_instance_schema(base),
            core_schema.no_info_plain_validator_function(convert),
        ],
        mode="left_to_right",
        custom_error_type="bson_type",
        custom_error_message=f"Input should be a valid {base.__name__}",
    )


def _bson_schema(
    base: type, convert: Any, json_input: core_schema.CoreSchema, to_json: Any
) -> core_schema.CoreSchema:
    return core_schema.json_or_python_schema(
        python_schema=_python_schema(base, convert),
        json_schema=core_schema.chain_schema(
            [json_input, core_schema.no_info_plain_validator_function(convert)]
        ),
        serialization=core_schema.plain_serializer_function_ser_schema(to_json, when_used="json"),
    )


# --------------------------------------------------------------------------- ObjectId


def _to_object_id(value: Any) -> bson.ObjectId:
    if isinstance(value, bson.ObjectId):
        return value
    if isinstance(value, (str, bytes)):
        try:
            return bson.ObjectId(value)
        except (bson.errors.InvalidId, TypeError):
            pass
    raise PydanticCustomError(
        "object_id", "Input should be an ObjectId or its 24 character hex string"
    )


class ObjectId(bson.ObjectId, metaclass=_BSONTypeMeta):
    """A MongoDB ObjectId; ``ObjectId()`` makes a new one.

    Fields accept ObjectIds and their 24-character hex strings; JSON output is the hex
    string.  ``isinstance(bson.ObjectId(), ObjectId)`` holds, so the driver's values count.
    """

    __bson_base__: ClassVar[type] = bson.ObjectId
    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _bson_schema(bson.ObjectId, _to_object_id, core_schema.str_schema(), str)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": "^[0-9a-fA-F]{24}$",
            "examples": ["5f85f36d6dfecacc68428a46"],
        }


# --------------------------------------------------------------------------- Decimal128


def _to_decimal128(value: Any) -> bson.decimal128.Decimal128:
    if isinstance(value, bson.decimal128.Decimal128):
        return value
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, (decimal.Decimal, str, int)) and not isinstance(value, bool):
        try:
            return bson.decimal128.Decimal128(value)
        except (decimal.InvalidOperation, ValueError, TypeError):
            pass
    raise PydanticCustomError("decimal128", "Input should be a valid Decimal128 value")


def _decimal128_to_json(value: bson.decimal128.Decimal128) -> str:
    return str(value.to_decimal())


class Decimal128(bson.decimal128.Decimal128, metaclass=_BSONTypeMeta):
    """A BSON Decimal128 field type; accepts ``Decimal``, ``str``, ``int`` and ``float``."""

    __bson_base__: ClassVar[type] = bson.decimal128.Decimal128
    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        json_input = core_schema.union_schema(
            [core_schema.str_schema(), core_schema.float_schema()]
        )
        return _bson_schema(
            bson.decimal128.Decimal128, _to_decimal128, json_input, _decimal128_to_json
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"anyOf": [{"type": "number"}, {"type": "string", "format": "decimal"}]}


# --------------------------------------------------------------------------- Int64

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _to_int64(value: Any) -> bson.int64.Int64:
    if isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX:
        return bson.int64.Int64(value)
    raise PydanticCustomError("int64", "Input should be an integer fitting in 64 bits")


class Int64(bson.int64.Int64, metaclass=_BSONTypeMeta):
    """A 64-bit integer always stored as BSON int64."""

    __bson_base__: ClassVar[type] = bson.int64.Int64
    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _bson_schema(bson.int64.Int64, _to_int64, core_schema.int_schema(), int)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "integer", "minimum": _INT64_MIN, "maximum": _INT64_MAX}


# --------------------------------------------------------------------------- Binary


def _to_binary(value: Any) -> bson.binary.Binary:
    if isinstance(value, bson.binary.Binary):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        binary: bson.binary.Binary = bson.binary.Binary(bytes(value), 0)
        return binary
    raise PydanticCustomError("binary", "Input should be bytes or a BSON Binary")


def _binary_from_json(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise PydanticCustomError("binary", "Input should be a base64 string") from None


def _binary_to_json(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def bytes_schema(node: core_schema.CoreSchema) -> core_schema.CoreSchema:
    """A ``bytes`` field with ``Binary``'s JSON form (base64 out, base64 in)."""
    json_input = core_schema.no_info_after_validator_function(
        _binary_from_json, core_schema.str_schema()
    )
    return core_schema.json_or_python_schema(
        python_schema=node,
        json_schema=json_input,
        serialization=core_schema.plain_serializer_function_ser_schema(
            _binary_to_json, when_used="json"
        ),
    )


class Binary(bson.binary.Binary, metaclass=_BSONTypeMeta):
    """BSON binary data with its subtype; JSON form is base64 (subtype 0 on input)."""

    __bson_base__: ClassVar[type] = bson.binary.Binary
    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        json_input = core_schema.no_info_after_validator_function(
            _binary_from_json, core_schema.str_schema()
        )
        return _bson_schema(bson.binary.Binary, _to_binary, json_input, _binary_to_json)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "base64"}


# --------------------------------------------------------------------------- Regex


def _to_regex(value: Any) -> bson.regex.Regex[Any]:
    if isinstance(value, bson.regex.Regex):
        return value
    if isinstance(value, re.Pattern):
        return bson.regex.Regex.from_native(value)
    if isinstance(value, str):
        try:
            re.compile(value)
        except re.error as exc:
            raise PydanticCustomError(
                "regex", "Input should be a valid regular expression: {error}", {"error": str(exc)}
            ) from None
        return bson.regex.Regex(value)
    raise PydanticCustomError("regex", "Input should be a regular expression")


def _regex_to_json(value: bson.regex.Regex[Any]) -> str:
    return str(value.pattern)


class Regex(bson.regex.Regex[Any], metaclass=_BSONTypeMeta):
    """A BSON regular expression (pattern and flags), kept uncompiled."""

    __bson_base__: ClassVar[type] = bson.regex.Regex
    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _bson_schema(bson.regex.Regex, _to_regex, core_schema.str_schema(), _regex_to_json)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "regex"}


# ------------------------------------------------- conversions used by the schema rewrites


def datetime_to_ms(value: _dt.datetime) -> _dt.datetime:
    """Truncate to whole milliseconds (BSON's precision); an aware value is moved to UTC."""
    tz = value.tzinfo
    if tz is not None and tz is not _dt.timezone.utc:
        if tz.utcoffset(value) is None:
            value = value.replace(tzinfo=None)
        else:
            value = value.astimezone(_dt.timezone.utc)
    micro = value.microsecond
    if micro % 1000:
        value = value.replace(microsecond=micro - micro % 1000)
    return value


def decimal_from_bson(value: Any) -> Any:
    """A stored ``Decimal128`` becomes a ``Decimal``; anything else is left to pydantic."""
    if isinstance(value, bson.decimal128.Decimal128):
        return value.to_decimal()
    return value


def decimal_to_bson(value: decimal.Decimal) -> bson.decimal128.Decimal128:
    return bson.decimal128.Decimal128(value)


def uuid_from_bson(value: Any) -> Any:
    """A stored UUID binary (subtype 3 or 4) becomes a ``uuid.UUID``."""
    if isinstance(value, bson.binary.Binary) and value.subtype in (3, 4):
        return value.as_uuid(value.subtype)
    return value


def uuid_to_bson(value: uuid.UUID) -> bson.binary.Binary:
    return bson.binary.Binary.from_uuid(value)


def pattern_from_bson(value: Any) -> Any:
    """A stored BSON regex becomes a compiled ``re.Pattern``."""
    if isinstance(value, bson.regex.Regex):
        flags = value.flags if isinstance(value.flags, int) else 0
        return re.compile(value.pattern, flags)
    return value


def regex_flags(flags: int) -> str:
    """Python ``re`` flags as MongoDB ``$options`` letters."""
    return "".join(letter for letter, flag in _RE_FLAGS.items() if flags & flag)


#: bson types users may write in annotations, and their validating counterparts here.
BSON_SUBSTITUTES: dict[type, type] = {
    bson.ObjectId: ObjectId,
    bson.decimal128.Decimal128: Decimal128,
    bson.int64.Int64: Int64,
    bson.binary.Binary: Binary,
    bson.regex.Regex: Regex,
}


# --------------------------------------------------------------------------- custom BSON forms


@dataclass(frozen=True)
class WithBsonSerializer:
    """``Annotated`` metadata giving a type its stored (BSON) form.

    ``Annotated[Color, WithBsonSerializer(lambda c: c.hex)]``: ``model_dump_doc`` (and so
    every save) stores ``function(value)``; ``model_dump`` and JSON are unchanged. The
    field's validator must accept the stored form back when a document is read.
    """

    bson_serializer: Callable[[Any], Any]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        metadata = {**(schema.get("metadata") or {}), BSON_SERIALIZER_KEY: self.bson_serializer}
        return cast(core_schema.CoreSchema, {**schema, "metadata": metadata})


#: where a ``WithBsonSerializer`` function is kept in a core schema's metadata
BSON_SERIALIZER_KEY = "anyodm_bson_serializer"
