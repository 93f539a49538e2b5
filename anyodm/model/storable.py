"""What BSON can store: field types checked when a model class is created, values
checked before they are sent.

The class check is a deny-list of leaf types whose values ``model_dump_doc`` leaves as
Python objects the BSON encoder refuses (``datetime.date``, ``time``, ``timedelta``,
``complex``, ``collections.deque``, IP addresses and networks, paths, URLs, secrets),
plus ``dict``/``Mapping`` keys that are not strings. It follows unions, ``Optional``,
``Annotated``, containers, ``NewType`` and type aliases; embedded models check their
own fields, and the fields of plain pydantic models, dataclasses and typed dicts are
not followed. A field with a serializer (``WithBsonSerializer``, ``PlainSerializer``,
``WrapSerializer``, ``@field_serializer``, ``@model_serializer``) is trusted to produce
storable values. Values no type can vouch for (``Any``, ``object``, a too large
``int``) are checked by encoding them.
"""

from __future__ import annotations

import collections
import datetime
import enum
import ipaddress
import pathlib
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeGuard, Union, cast, get_args, get_origin

import bson
import pydantic
import pydantic_core
import typing_extensions
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.errors import BSONError
from pydantic.fields import FieldInfo

from anyodm.errors import InvalidValueError
from anyodm.model.bson_types import BSON_SUBSTITUTES, WithBsonSerializer

__all__ = ["UNENCODABLE", "field_type_problem", "unstorable_error", "value_problem"]

#: what ``bson.encode`` raises for a value it cannot store (a too large int included)
UNENCODABLE = (BSONError, OverflowError, ValueError)

#: leaf types BSON cannot store once dumped, and what to use instead (first match wins:
#: ``datetime.datetime`` is a ``datetime.date``)
_DENIED: tuple[tuple[tuple[Any, ...], str | None], ...] = (
    ((datetime.datetime,), None),
    ((datetime.date, pydantic.PastDate, pydantic.FutureDate), "use datetime.datetime"),
    ((datetime.time,), "use datetime.datetime or str"),
    ((datetime.timedelta,), "use a float of seconds"),
    ((complex,), "use two floats or str"),
    ((collections.deque,), "use list"),
    (
        (
            ipaddress.IPv4Address,
            ipaddress.IPv6Address,
            ipaddress.IPv4Network,
            ipaddress.IPv6Network,
            pydantic.IPvAnyAddress,
            pydantic.IPvAnyInterface,
            pydantic.IPvAnyNetwork,
            pathlib.PurePath,
            pydantic.AnyUrl,
            pydantic.MongoDsn,
            pydantic.NatsDsn,
            pydantic.PostgresDsn,
            pydantic_core.Url,
            pydantic_core.MultiHostUrl,
            pydantic.SecretStr,
        ),
        "use str",
    ),
    ((pydantic.SecretBytes,), "use bytes"),
    ((pydantic.Secret,), "use the secret's own type"),
)

_ALIASES: tuple[type, ...] = (typing_extensions.TypeAliasType,)
if sys.version_info >= (3, 12):
    _ALIASES += (typing.TypeAliasType,)
_BSON_TYPES = tuple(BSON_SUBSTITUTES)
_SERIALIZERS = (pydantic.PlainSerializer, pydantic.WrapSerializer)
_PYTHON_MODE = ("always", "unless-none")  # a serializer's ``when_used`` that applies here


class _Refused(Exception):
    """A part of an annotation BSON cannot store: what it is and what to use."""

    def __init__(self, what: str, advice: str) -> None:
        self.what = what
        self.advice = advice


def _is_class(annotation: Any) -> TypeGuard[type]:
    """A class, not a generic alias (``list[int]`` passes ``isinstance(_, type)`` on 3.10)."""
    return isinstance(annotation, type) and get_origin(annotation) is None


def _name(annotation: Any) -> str:
    """``datetime.date``, ``pathlib.Path``, ``pydantic.HttpUrl``, ``complex``, ``Level``,
    ``list[datetime.date]``."""
    if not _is_class(annotation):
        return repr(annotation).replace("typing.", "")
    package = annotation.__module__.split(".")[0]
    if package == "builtins" or not (
        package in sys.stdlib_module_names or package.startswith("pydantic")
    ):
        return annotation.__qualname__
    return f"{package}.{annotation.__qualname__}"


def _serialized(metadata: typing.Iterable[Any]) -> bool:
    """Metadata holding a serializer that applies to ``model_dump_doc``."""
    return any(
        isinstance(item, WithBsonSerializer)
        or (isinstance(item, _SERIALIZERS) and item.when_used in _PYTHON_MODE)
        for item in metadata
    )


def _check(annotation: Any, seen: set[int]) -> None:
    """Raise ``_Refused`` for the first part of ``annotation`` BSON cannot store."""
    if isinstance(annotation, typing.NewType):
        _check(annotation.__supertype__, seen)
        return
    if isinstance(annotation, _ALIASES):
        if id(annotation) not in seen:  # a recursive alias names itself
            seen.add(id(annotation))
            _check(cast(Any, annotation).__value__, seen)
        return
    origin = get_origin(annotation)
    if origin is None:
        _check_class(annotation)
        return
    _check_class(origin)  # deque[int]
    if origin is Literal:
        return
    args = get_args(annotation)
    if origin is typing.Annotated:
        if not _serialized(annotation.__metadata__):
            _check(args[0], seen)
        return
    if isinstance(origin, type) and issubclass(origin, Mapping) and args:
        if not _str_key(args[0]):
            raise _Refused(f"{_name(args[0])} keys", "use dict[str, ...]")
        args = args[1:]
    elif isinstance(origin, _ALIASES):
        _check(origin, seen)
    for arg in args:
        if arg is not Ellipsis:
            _check(arg, seen)


def _check_class(annotation: Any) -> None:
    if _is_class(annotation):
        for kinds, advice in _DENIED:
            if issubclass(annotation, kinds):
                if advice is not None:
                    raise _Refused(_name(annotation), advice)
                return


def _str_key(key: Any) -> bool:
    """A dict key type whose values are stored as strings (or that cannot be told)."""
    if key is Any or key is object or isinstance(key, (typing.TypeVar, typing.ForwardRef, str)):
        return True
    if _is_class(key):
        if issubclass(key, enum.Enum):
            return all(isinstance(member.value, str) for member in key)
        if issubclass(key, str):
            return True
        # a class with its own pydantic schema (not a BSON or denied one) may give a str
        return hasattr(key, "__get_pydantic_core_schema__") and not issubclass(
            key, (*_BSON_TYPES, *(kind for kinds, _ in _DENIED for kind in kinds))
        )
    origin = get_origin(key)
    if origin is Literal:
        values = [v.value if isinstance(v, enum.Enum) else v for v in get_args(key)]
        return all(isinstance(value, str) for value in values)
    if origin is typing.Annotated:
        return _serialized(key.__metadata__) or _str_key(get_args(key)[0])
    if origin in (Union, types.UnionType):
        return all(_str_key(arg) for arg in get_args(key))
    if isinstance(key, typing.NewType):
        return _str_key(key.__supertype__)
    return isinstance(key, _ALIASES)


def _has_serializer(model: type[Any], field: str, info: FieldInfo) -> bool:
    decorators = model.__pydantic_decorators__
    if decorators.model_serializers:
        return True
    for decorator in decorators.field_serializers.values():
        applies = field in decorator.info.fields or "*" in decorator.info.fields
        if applies and decorator.info.when_used in _PYTHON_MODE:
            return True
    return _serialized(info.metadata)


def field_type_problem(model: type[Any], field: str, info: FieldInfo) -> str | None:
    """Why a field's type cannot be stored (naming it and what to use), or None."""
    if info.exclude is True or _has_serializer(model, field, info):
        return None
    try:
        _check(info.annotation, set())
    except _Refused as refused:
        annotation = _name(info.annotation)
        inside = "" if annotation == refused.what else f" (in {annotation})"
        return (
            f"{refused.what}{inside} cannot be stored in BSON: {refused.advice} (or give "
            "the field a serializer returning a storable value)"
        )
    return None


# ------------------------------------------------------------------ values

#: for checks made without a collection's codec options: a native ``uuid.UUID`` passes
#: (whether the driver accepts one is its codec options' choice)
_CHECK_OPTIONS: CodecOptions[Any] = CodecOptions(uuid_representation=UuidRepresentation.STANDARD)


def value_problem(value: Any) -> str | None:
    """Why BSON cannot store ``value`` (the encoder's message), or None."""
    try:
        bson.encode({"": value}, codec_options=_CHECK_OPTIONS)
    except UNENCODABLE as exc:
        return str(exc)
    return None


def unstorable_error(
    model: type[Any], doc: Mapping[str, Any], codec_options: CodecOptions[Any]
) -> InvalidValueError:
    """The error for a document to store that BSON refused, naming the first field of
    ``doc`` (stored key names) whose value it cannot encode."""
    fields = {key: name for name, key in model.__anyodm__.key_names.items()}
    for key, value in doc.items():
        try:
            bson.encode({key: value}, codec_options=codec_options)
        except UNENCODABLE as exc:
            top = key.split(".")[0]
            field = f"{model.__name__}.{fields.get(top, top)}"
            return InvalidValueError(
                model, field, f"holds {value!r:.80}, which BSON cannot store ({exc})"
            )
    return InvalidValueError(model, model.__name__, "the document cannot be stored in BSON")
