"""Parsing stored documents and dumping instances to documents."""

# ruff: noqa: RUF012 - pydantic field defaults (ruff cannot tell Model is pydantic)

from __future__ import annotations

import datetime
import enum
import re
import uuid
from decimal import Decimal

import bson
import pytest
from bson.codec_options import CodecOptions

from anyodm.errors import DocumentParsingError
from anyodm.model import Decimal128, EmbeddedModel, Int64, Model, ObjectId, Regex

from .models import Address, Person

UTC = datetime.timezone.utc


def bson_round_trip(doc: dict[str, object], tz_aware: bool = False) -> dict[str, object]:
    raw = bson.encode(doc)
    decoded: dict[str, object] = bson.decode(raw, CodecOptions(tz_aware=tz_aware))
    return decoded


def test_parse_and_dump_round_trip_through_bson() -> None:
    person = Person(
        name="Ann",
        address=Address(city="Paris", zip_code="75001"),
        addresses=[Address(city="Lyon")],
        by_label={"home": Address(city="Nice")},
        tags=["a", "b"],
        born=datetime.datetime(2000, 1, 2, 3, 4, 5, 123000),
        balance=Decimal("12.50"),
        blob=b"\x00\x01",
    )
    doc = person.model_dump_doc()
    assert doc["_id"] == person.id
    assert doc["address"] == {"city": "Paris", "zip": "75001"}
    assert isinstance(doc["balance"], bson.Decimal128)
    back = Person.model_validate_doc(bson_round_trip(doc))
    assert back == person
    assert back.balance == Decimal("12.50")


def test_optional_embedded_model_none_and_missing() -> None:
    oid = ObjectId()
    assert Person.model_validate_doc({"_id": oid, "name": "x", "address": None}).address is None
    assert Person.model_validate_doc({"_id": oid, "name": "x"}).address is None
    person = Person.model_validate_doc({"_id": oid, "name": "x", "address": {"city": "P"}})
    assert person.address == Address(city="P")


def test_containers_of_embedded_models() -> None:
    class Shelf(Model):
        listed: list[Address] = []
        pair: tuple[Address, Address] | None = None
        frozen: frozenset[str] = frozenset()
        mapping: dict[str, Address | None] = {}
        nested: list[list[Address]] = []

    shelf = Shelf(
        listed=[Address(city="a")],
        pair=(Address(city="b"), Address(city="c", zip_code="9")),
        frozen=frozenset({"x"}),
        mapping={"k": Address(city="d"), "n": None},
        nested=[[Address(city="e")], []],
    )
    doc = shelf.model_dump_doc()
    assert doc["pair"][1] == {"city": "c", "zip": "9"}
    assert doc["frozen"] == ["x"]
    assert doc["nested"] == [[{"city": "e", "zip": ""}], []]
    assert Shelf.model_validate_doc(bson_round_trip(doc)) == shelf


def test_datetimes_are_utc_with_millisecond_precision() -> None:
    paris = datetime.timezone(datetime.timedelta(hours=2))
    person = Person(name="x", born=datetime.datetime(2020, 5, 1, 12, 0, 0, 123456, tzinfo=paris))
    assert person.born == datetime.datetime(2020, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert person.born is not None
    assert person.born.tzinfo is UTC
    naive = Person(name="x", born=datetime.datetime(2020, 5, 1, 12, 0, 0, 999999))
    assert naive.born == datetime.datetime(2020, 5, 1, 12, 0, 0, 999000)
    person.born = datetime.datetime(2021, 1, 1, 0, 0, 0, 1500)
    assert person.born == datetime.datetime(2021, 1, 1, 0, 0, 0, 1000)
    # through BSON: an aware value comes back as the driver returns it (naive UTC by default)
    back = Person.model_validate_doc(
        bson_round_trip(Person(name="x", born=person.born).model_dump_doc())
    )
    assert back.born == person.born


def test_bson_types_accept_driver_values_and_python_spellings() -> None:
    class Values(Model):
        d128: Decimal128
        big: Int64
        pattern: Regex
        compiled: re.Pattern[str]
        ident: uuid.UUID
        color: Color

    value = Values(
        d128="1.25",  # type: ignore[arg-type]
        big=5,  # type: ignore[arg-type]
        pattern="^a",  # type: ignore[arg-type]
        compiled="^b",  # type: ignore[arg-type]
        ident=uuid.UUID(int=7),
        color=Color.RED,
    )
    assert value.d128 == bson.Decimal128("1.25")
    assert isinstance(value.big, bson.int64.Int64)
    assert value.pattern.pattern == "^a"
    doc = value.model_dump_doc()
    assert doc["ident"] == bson.Binary.from_uuid(uuid.UUID(int=7))
    assert doc["color"] == "red"
    decoded = bson_round_trip(doc)
    assert isinstance(decoded["compiled"], bson.regex.Regex)
    back = Values.model_validate_doc(decoded)
    assert back.ident == uuid.UUID(int=7)
    assert back.compiled.pattern == "^b"
    assert back.color is Color.RED
    assert back.d128 == value.d128


class Color(enum.Enum):
    RED = "red"


def test_plain_bson_annotations_are_substituted() -> None:
    class Legacy(Model):
        other: bson.ObjectId
        amount: bson.Decimal128 | None = None

    oid = bson.ObjectId()
    legacy = Legacy(other=str(oid), amount=Decimal("2"))  # type: ignore[arg-type]
    assert legacy.other == oid
    assert legacy.amount == bson.Decimal128("2")
    assert isinstance(oid, ObjectId)


def test_json_output_and_schema() -> None:
    person = Person(name="x", balance=Decimal("1.5"))
    data = person.model_dump(mode="json")
    assert data["id"] == str(person.id)
    assert data["balance"] == "1.5"
    schema = Person.model_json_schema()
    assert schema["properties"]["id"]["type"] == "string"
    assert Person.model_validate_json(person.model_dump_json()) == person


def test_parsing_error_names_model_and_every_path() -> None:
    doc = {
        "_id": "nope",
        "name": 3,
        "addresses": [{"city": "ok"}, {"city": 5}],
        "address": {"zip": 1},
    }
    with pytest.raises(DocumentParsingError) as info:
        Person.model_validate_doc(doc)
    err = info.value
    assert err.model is Person
    paths = [path for path, _ in err.errors]
    assert paths == ["_id", "name", "address.city", "address.zip", "addresses.1.city"]
    assert "Person" in str(err)


def test_document_with_python_names_is_not_accepted_as_stored_keys() -> None:
    with pytest.raises(DocumentParsingError, match="zip"):
        Address.model_validate_doc({"city": "x", "zip_code": 5, "zip": 4})


def test_model_dump_doc_include_exclude() -> None:
    person = Person(name="x")
    assert set(person.model_dump_doc(include={"id", "name"})) == {"_id", "name"}
    assert "name" not in person.model_dump_doc(exclude={"name"})


def test_embedded_model_in_plain_field_types() -> None:
    class Wrapper(EmbeddedModel):
        inner: Address | None = None

    class Holder(Model):
        wrappers: list[Wrapper | None] = []

    holder = Holder(wrappers=[Wrapper(inner=Address(city="x", zip_code="1")), None])
    doc = holder.model_dump_doc()
    assert doc["wrappers"] == [{"inner": {"city": "x", "zip": "1"}}, None]
    assert Holder.model_validate_doc(doc) == holder
