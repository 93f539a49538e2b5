"""Field types BSON cannot store are refused when the class is created; so are lazy
references inside embedded models."""

# ruff: noqa: RUF012 - pydantic field defaults (ruff cannot tell Model is pydantic)

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import ipaddress
import pathlib
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Generic, Literal, NewType, Optional, TypeVar

import bson
import pytest
from pydantic import (
    ByteSize,
    HttpUrl,
    PastDate,
    PlainSerializer,
    SecretStr,
    TypeAdapter,
    field_serializer,
)
from typing_extensions import TypeAliasType

from anyodm import EmbeddedModel, Field, Model, Reference, update
from anyodm.errors import InvalidValueError
from anyodm.model import WithBsonSerializer

T = TypeVar("T")


class Level(enum.IntEnum):
    LOW = 1


class Color(enum.Enum):
    RED = "red"


class Writer(Model):
    name: str


def _define(base: type[Any], annotation: Any) -> type[Any]:
    return type(base)("Holder", (base,), {"__annotations__": {"field": annotation}})


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day)


Day = NewType("Day", datetime.date)
Days = TypeAliasType("Days", list[datetime.date])
DAY = datetime.date(2024, 5, 17)

# annotation, a value of it, what the error names, the advice
REFUSED: list[tuple[Any, Any, str, str]] = [
    (datetime.date, DAY, "datetime.date", "use datetime.datetime"),
    (datetime.time, datetime.time(8), "datetime.time", "use datetime.datetime or str"),
    (datetime.timedelta, datetime.timedelta(1), "datetime.timedelta", "float of seconds"),
    (complex, 1j, "complex", "two floats"),
    (dict[int, str], {1: "a"}, "int keys", r"use dict\[str, \.\.\.\]"),
    (Mapping[uuid.UUID, int], {uuid.uuid4(): 1}, "uuid.UUID keys", r"dict\[str, \.\.\.\]"),
    (dict[Level, str], {Level.LOW: "a"}, "Level keys", r"dict\[str, \.\.\.\]"),
    (dict[Literal[1, 2], str], {1: "a"}, "keys", r"dict\[str, \.\.\.\]"),
    (dict[tuple[int, int], str], {(1, 2): "a"}, "keys", r"dict\[str, \.\.\.\]"),
    (list[datetime.date], [DAY], r"datetime.date \(in list\[datetime.date\]\)", "datetime"),
    (Optional[datetime.date], DAY, r"datetime.date \(in Optional", "datetime"),  # noqa: UP045
    (datetime.date | None, DAY, r"datetime.date \(in datetime.date \| None\)", "datetime"),
    (dict[str, list[datetime.time]], {"a": [datetime.time(1)]}, "datetime.time", "str"),
    (tuple[int, datetime.date], (1, DAY), "datetime.date", "datetime"),
    (Sequence[datetime.timedelta], [datetime.timedelta(1)], "timedelta", "float"),
    (collections.deque[int], [1], "collections.deque", "use list"),
    (Annotated[datetime.date, "doc"], DAY, "datetime.date", "datetime"),
    (Day, DAY, "datetime.date", "datetime"),
    (Days, [DAY], r"datetime.date \(in Days\)", "datetime"),
    (PastDate, DAY, "pydantic.PastDate", "use datetime.datetime"),
    (HttpUrl, "https://example.com", "pydantic.HttpUrl", "use str"),
    (ipaddress.IPv4Address, "10.0.0.1", "ipaddress.IPv4Address", "use str"),
    (ipaddress.IPv6Network, "::/64", "ipaddress.IPv6Network", "use str"),
    (pathlib.Path, "/tmp/x", "pathlib.Path", "use str"),
    (SecretStr, "hush", "pydantic.SecretStr", "use str"),
    # a serializer for JSON only leaves documents alone
    (Annotated[datetime.date, PlainSerializer(str, when_used="json")], DAY, "date", "datetime"),
]


@pytest.mark.parametrize(("annotation", "value", "named", "advice"), REFUSED)
@pytest.mark.parametrize("base", [Model, EmbeddedModel])
def test_unstorable_field_types_are_refused_at_class_creation(
    base: type[Any], annotation: Any, value: Any, named: str, advice: str
) -> None:
    dumped = TypeAdapter(annotation).dump_python(TypeAdapter(annotation).validate_python(value))
    with pytest.raises(Exception, match=r"cannot encode|string keys"):  # really unstorable
        bson.encode({"field": dumped})
    with pytest.raises(TypeError, match=rf"^Holder\.field: .*{named}.*BSON.*{advice}"):
        _define(base, annotation)


def test_the_error_suggests_a_serializer() -> None:
    with pytest.raises(TypeError, match=r"or give the field a serializer"):
        _define(Model, datetime.date)


def test_a_parametrized_generic_embedded_model_is_checked() -> None:
    class Box(EmbeddedModel, Generic[T]):
        item: T

    assert Box[int](item=1).model_dump_doc() == {"item": 1}
    with pytest.raises(TypeError, match=r"Box\[date\]\.item: datetime\.date"):
        Box[datetime.date]


def _to_datetime(day: datetime.date) -> datetime.datetime:
    return _midnight(day)


# annotation, a value of it
ACCEPTED: list[tuple[Any, Any]] = [
    (datetime.datetime, datetime.datetime(2024, 1, 1)),
    (decimal.Decimal, decimal.Decimal("1.5")),
    (uuid.UUID, uuid.uuid4()),
    (bytes, b"x"),
    (re.Pattern, re.compile("a")),
    (Color, Color.RED),
    (Level, Level.LOW),
    (Literal["a", "b"], "a"),
    (set[int], {1}),
    (frozenset[str], frozenset({"a"})),
    (tuple[int, str], (1, "a")),
    (dict[str, int], {"a": 1}),
    (dict[Color, int], {Color.RED: 1}),
    (dict[Literal["a"], int], {"a": 1}),
    (dict[Any, int], {"a": 1}),
    (collections.Counter[str], {"a": 1}),
    (collections.OrderedDict[str, int], {"a": 1}),
    (Any, "anything"),
    (object, 1),
    (ByteSize, 1024),
    (float, 1.5),
    (Annotated[datetime.date, PlainSerializer(_to_datetime)], DAY),
    (Annotated[datetime.date, WithBsonSerializer(_to_datetime)], DAY),
    (list[Annotated[datetime.date, PlainSerializer(_to_datetime)]], [DAY]),
    (dict[Annotated[int, PlainSerializer(str)], str], {1: "a"}),
]


@pytest.mark.parametrize(("annotation", "value"), ACCEPTED)
def test_storable_types_and_serialized_fields_are_accepted(annotation: Any, value: Any) -> None:
    holder = _define(Model, annotation)
    bson.encode(holder(field=value).model_dump_doc())
    _define(EmbeddedModel, annotation)


def test_a_field_serializer_is_trusted() -> None:
    class Diary(Model):
        day: datetime.date
        days: list[datetime.date] = []
        hidden: datetime.date | None = Field(default=None, exclude=True)  # never stored

        @field_serializer("day", "days")
        def as_datetime(self, value: Any) -> Any:
            if isinstance(value, list):
                return [_midnight(day) for day in value]
            return _midnight(value)

    doc = Diary(day=DAY, days=[DAY], hidden=DAY).model_dump_doc()
    assert doc == {"_id": doc["_id"], "day": _midnight(DAY), "days": [_midnight(DAY)]}
    bson.encode(doc)
    with pytest.raises(TypeError, match=r"^Later\.other: datetime\.date"):

        class Later(Diary):  # the serializer is inherited, for its own fields only
            other: datetime.date


def test_a_lazy_reference_in_an_embedded_model_is_refused() -> None:
    only_top_level = r"a lazy reference .* top-level field of a Model only"
    with pytest.raises(TypeError, match=rf"^Note\.by: {only_top_level}"):

        class Note(EmbeddedModel):
            by: Writer | None = Reference(default=None, lazy=True)

    with pytest.raises(TypeError, match=r"^Notes\.by: a lazy reference"):

        class Notes(EmbeddedModel):
            by: list[Writer] = Reference(default_factory=list, lazy=True)

    class EagerNote(EmbeddedModel):  # an eager one is fine
        by: Writer | None = Reference(default=None)

    class Memo(Model):
        note: EagerNote
        writer: Writer | None = Reference(default=None, lazy=True)  # top level: fine

    assert Memo.__anyodm__.reference_shapes["writer"].lazy


class Loose(Model):
    extra: Any = None
    items: list[Any] = []


def test_an_update_with_an_unstorable_value_is_refused_when_built() -> None:
    with pytest.raises(InvalidValueError, match=r"Loose\.extra: update\.set\(\).*cannot encode"):
        update.set(Loose.extra, DAY)
    with pytest.raises(InvalidValueError, match=r"Loose\.items: update\.push\(\)"):
        update.push(Loose.items, {1: "a"})
    update.set(Loose.extra, {"day": _midnight(DAY)})  # storable: fine
