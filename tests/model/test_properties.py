"""Property tests: any valid instance survives dump -> (BSON) -> parse unchanged."""

# ruff: noqa: RUF012 - pydantic field defaults (ruff cannot tell Model is pydantic)

from __future__ import annotations

import datetime
from decimal import Decimal

import bson
from bson.codec_options import CodecOptions
from hypothesis import given, settings
from hypothesis import strategies as st

from anyodm.model import Binary, EmbeddedModel, Field, Int64, Model, ObjectId


class Point(EmbeddedModel):
    x: int
    label: str = Field(default="", key_name="lbl")


class Inner(EmbeddedModel):
    point: Point | None = None
    points: list[Point] = []


class Sample(Model):
    text: str
    number: float
    count: Int64 | None = None
    amount: Decimal
    when: datetime.datetime
    maybe_when: datetime.datetime | None = None
    data: bytes
    binary: Binary | None = None
    inner: Inner | None = None
    grid: list[list[int]] = []
    named: dict[str, Point] = {}
    inners: list[Inner | None] = []
    pair: tuple[int, str] = (0, "")
    ref_id: ObjectId | None = None


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
keys = texts.filter(lambda k: k and not k.startswith("$") and "." not in k)
points = st.builds(Point, x=st.integers(-(2**31), 2**31 - 1), label=texts)
inners = st.builds(Inner, point=st.none() | points, points=st.lists(points, max_size=3))
naive = st.datetimes(
    min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(2200, 1, 1)
)
decimals = st.decimals(
    allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20
)
samples = st.builds(
    Sample,
    text=texts,
    number=st.floats(allow_nan=False),
    count=st.none() | st.integers(-(2**63), 2**63 - 1).map(Int64),
    amount=decimals,
    when=naive,
    maybe_when=st.none() | naive.map(lambda d: d.replace(tzinfo=datetime.timezone.utc)),
    data=st.binary(max_size=20),
    binary=st.none() | st.builds(Binary, st.binary(max_size=8), st.sampled_from([0, 5, 128])),
    inner=st.none() | inners,
    grid=st.lists(st.lists(st.integers(-100, 100), max_size=3), max_size=3),
    named=st.dictionaries(keys, points, max_size=3),
    inners=st.lists(st.none() | inners, max_size=3),
    pair=st.tuples(st.integers(-5, 5), texts),
    ref_id=st.none() | st.builds(ObjectId),
)


@settings(max_examples=150, deadline=None)
@given(samples)
def test_dump_parse_round_trip(sample: Sample) -> None:
    assert Sample.model_validate_doc(sample.model_dump_doc()) == sample


@settings(max_examples=150, deadline=None)
@given(samples)
def test_bson_round_trip(sample: Sample) -> None:
    raw = bson.encode(sample.model_dump_doc())
    back = Sample.model_validate_doc(bson.decode(raw, CodecOptions(tz_aware=False)))
    # the driver returns naive UTC datetimes by default: compare in UTC
    expected = sample.model_copy()
    if sample.maybe_when is not None:
        expected.maybe_when = sample.maybe_when.replace(tzinfo=None)
    assert back == expected


@given(decimals)
def test_decimal_stored_as_decimal128(value: Decimal) -> None:
    sample_doc = {"amount": value}
    assert isinstance(
        Sample.model_construct(**sample_doc).model_dump_doc(include={"amount"})["amount"],
        bson.Decimal128,
    )
