"""Every value a query or an update sends is in the form ``save`` stores it (SPEC S10):
encoded through the field's codec, never read as an operator, and an iterable argument
is read exactly once. Pure building, no server."""

# ruff: noqa: RUF012 - pydantic field defaults (ruff cannot tell Model is pydantic)

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any

import bson
import pytest
from hypothesis import given, settings
from pydantic import ValidationInfo, field_serializer, field_validator

from anyodm import Field, Model, Reference, query, update
from anyodm.bson import WithBsonSerializer
from anyodm.errors import InvalidValueError

from .models import Address, Author, Book, Person, Publisher
from .test_properties import Sample, samples

#: an int stored as its decimal string (the int validator reads it back)
Code = Annotated[int, WithBsonSerializer(str)]


class Tagged(Model):
    code: Code
    tag: str = ""
    codes: list[Code] = []
    count: int = Field(0, ge=0)
    messages: list[dict[str, Any]] = []

    @field_serializer("tag")
    def _upper(self, value: str) -> str:
        return value.upper()


class Shelf(Model):
    publishers: list[Publisher] = Reference()


class Span(Model):
    start: int = 0
    end: int = 0

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: int, info: ValidationInfo) -> int:
        if value < info.data["start"]:  # needs the whole model
            raise ValueError("end before start")
        return value


class ReadOnce:
    """An iterable that can be iterated only once (like a generator)."""

    def __init__(self, *items: Any) -> None:
        self.items = items
        self.reads = 0

    def __iter__(self) -> Iterator[Any]:
        self.reads += 1
        if self.reads > 1:
            raise AssertionError("iterated twice")
        return iter(self.items)


# ------------------------------------------------------------------ queries


def test_comparisons_send_the_stored_form_of_a_bson_serializer_field() -> None:
    assert (Tagged.code == 42) == {"code": {"$eq": "42"}}
    assert (Tagged.code != 42) == {"code": {"$ne": "42"}}
    assert (Tagged.code > 1) == {"code": {"$gt": "1"}}
    assert (Tagged.code >= 1) == {"code": {"$gte": "1"}}
    assert (Tagged.code < 1) == {"code": {"$lt": "1"}}
    assert (Tagged.code <= 1) == {"code": {"$lte": "1"}}
    assert query.eq(Tagged.code, 7) == {"code": {"$eq": "7"}}
    assert Tagged.code.in_([1, 2]) == {"code": {"$in": ["1", "2"]}}
    assert Tagged.code.not_in([1]) == {"code": {"$nin": ["1"]}}
    # the stored form itself is accepted back, as the field's validator reads it
    assert (Tagged.code == "42") == {"code": {"$eq": "42"}}


def test_comparisons_send_the_stored_form_of_a_field_serializer_field() -> None:
    assert (Tagged.tag == "abc") == {"tag": {"$eq": "ABC"}}
    assert Tagged.tag.in_(["a", "b"]) == {"tag": {"$in": ["A", "B"]}}
    assert Tagged.tag.not_in(["a"]) == {"tag": {"$nin": ["A"]}}
    assert Tagged(code=1, tag="abc").model_dump_doc()["tag"] == "ABC"


def test_array_operators_encode_elements_through_the_element_type() -> None:
    assert Tagged.codes.contains(3) == {"codes": {"$elemMatch": {"$eq": "3"}}}
    assert Tagged.codes.all([3, 4]) == {"codes": {"$all": ["3", "4"]}}
    assert Tagged.codes.in_([3]) == {"codes": {"$in": ["3"]}}
    assert (Tagged.codes == 3) == {"codes": {"$eq": "3"}}  # an element
    assert (Tagged.codes == [3, 4]) == {"codes": {"$eq": ["3", "4"]}}  # the whole array
    assert Tagged.codes.elem_match({"$gt": 3, "$in": [4, 5]}) == {
        "codes": {"$elemMatch": {"$gt": "3", "$in": ["4", "5"]}}
    }
    assert Person.scores.elem_match({"$gt": 3}) == {"scores": {"$elemMatch": {"$gt": 3}}}


def test_query_values_match_what_update_set_stores() -> None:
    for field, value in [
        (Tagged.code, 5),
        (Tagged.tag, "x"),
        (Tagged.codes, [1, 2]),
        (Person.balance, Decimal("1.5")),
        (Person.address, Address(city="c", zip_code="z")),
    ]:
        stored = update.set(field, value).value
        assert (field == value) == {str(field): {"$eq": stored}}


def test_references_compare_by_the_stored_key() -> None:
    publisher = Publisher(name="p")
    assert (Author.publisher == publisher) == {"publisher": {"$eq": publisher.id}}
    # a key given as its hex string is sent as the ObjectId the reference stores
    assert (Author.publisher == str(publisher.id)) == {"publisher": {"$eq": publisher.id}}
    assert Author.publisher.in_([publisher, str(publisher.id)]) == {
        "publisher": {"$in": [publisher.id, publisher.id]}
    }


def test_values_the_type_refuses_are_sent_as_given_never_as_operators() -> None:
    assert (Book.title == {"$ne": None}) == {"title": {"$eq": {"$ne": None}}}
    assert (Tagged.count > -1) == {"count": {"$gt": -1}}  # outside Field(ge=0)
    assert (Tagged.code == "not a number") == {"code": {"$eq": "not a number"}}
    assert Person.tags.in_(["a", 3]) == {"tags": {"$in": ["a", 3]}}
    # a field validator that needs the whole model cannot run on a lone value
    assert (Span.end > 3) == {"end": {"$gt": 3}}
    with pytest.raises(ValueError, match=r"Person\.id.*ObjectId"):
        _ = Person.id == "nope"


def test_in_and_not_in_read_a_generator_once() -> None:
    assert Book.title.in_(x for x in ["a", "b"]) == {"title": {"$in": ["a", "b"]}}
    assert Book.title.not_in(x for x in ["a", "b"]) == {"title": {"$nin": ["a", "b"]}}
    assert Person.tags.all(x for x in ["a"]) == {"tags": {"$all": ["a"]}}
    assert query.not_in(Tagged.code, ReadOnce(1, 2)) == {"code": {"$nin": ["1", "2"]}}
    assert Book.title.in_({"a": 1}.keys()) == {"title": {"$in": ["a"]}}


@pytest.mark.parametrize("values", ["ab", b"ab", {"a": 1}, Publisher(name="p"), 3])
@pytest.mark.parametrize("operation", ["in_", "not_in", "all"])
def test_a_single_value_where_a_list_is_expected_is_a_type_error(
    operation: str, values: Any
) -> None:
    with pytest.raises(TypeError, match=rf"Person\.tags\.{operation}\(\).*list of values"):
        getattr(Person.tags, operation)(values)


def test_a_string_is_not_a_list_of_characters() -> None:
    with pytest.raises(TypeError, match="not a list of its characters"):
        Book.title.in_("abc")


@settings(max_examples=100, deadline=None)
@given(sample=samples)
def test_equality_sends_what_save_stores_for_each_field(sample: Sample) -> None:
    doc = sample.model_dump_doc()
    for name in Sample.model_fields:
        key = Sample.__anyodm__.key_names[name]
        value = getattr(sample, name)
        sent = bson.encode(getattr(Sample, name) == value)  # as the driver sends it
        assert sent == bson.encode({key: {"$eq": doc[key]}}), name
        sent = bson.encode(getattr(Sample, name).in_([value]))
        assert sent == bson.encode({key: {"$in": [doc[key]]}}), name


# ------------------------------------------------------------------ updates


def test_push_and_add_to_set_always_send_each() -> None:
    assert update.push(Person.tags, "a").as_dict() == {"$push": {"tags": {"$each": ["a"]}}}
    assert update.add_to_set(Person.tags, "a").as_dict() == {
        "$addToSet": {"tags": {"$each": ["a"]}}
    }
    assert update.push(Tagged.codes, 3).as_dict() == {"$push": {"codes": {"$each": ["3"]}}}


def test_a_pushed_dict_is_stored_literally_not_read_as_modifiers() -> None:
    hostile = {"$each": [1, 2]}
    assert update.push(Tagged.messages, hostile).as_dict() == {
        "$push": {"messages": {"$each": [{"$each": [1, 2]}]}}
    }
    assert update.add_to_set(Tagged.messages, hostile).as_dict() == {
        "$addToSet": {"messages": {"$each": [{"$each": [1, 2]}]}}
    }
    assert update.push(Tagged.messages, {"$slice": 1}, slice=-3).as_dict() == {
        "$push": {"messages": {"$each": [{"$slice": 1}], "$slice": -3}}
    }


def test_push_and_add_to_set_read_each_once() -> None:
    assert update.push(Tagged.codes, each=(c for c in [1, 2])).value == {"$each": ["1", "2"]}
    assert update.add_to_set(Person.tags, each=ReadOnce("a", "b")).value == {"$each": ["a", "b"]}
    assert update.push(Person.tags, each=iter(["x"])).value == {"$each": ["x"]}
    assert update.set(Person.scores, (n for n in [1, 2])).value == [1, 2]


def test_instances_given_in_a_generator_are_still_checked_when_sent() -> None:
    publishers = [Publisher(name="p"), Publisher(name="q")]
    operation = update.set(Shelf.publishers, (p for p in publishers))
    assert operation.value == [p.id for p in publishers]
    assert operation.references == tuple(publishers)  # checked as saved before sending
    operation = update.push(Shelf.publishers, each=(p for p in publishers))
    assert operation.references == tuple(publishers)


@pytest.mark.parametrize("each", ["ab", {"a": 1}, 3])
def test_each_needs_a_list(each: Any) -> None:
    with pytest.raises(InvalidValueError, match="each= needs a list") as caught:
        update.push(Person.tags, each=each)
    assert caught.value.field == "Person.tags"


def test_pull_compares_a_document_whole() -> None:
    # a bare document would be a query on the elements' fields (and read its "$" keys)
    assert update.pull(Tagged.messages, {"a": 1}).as_dict() == {
        "$pull": {"messages": {"$eq": {"a": 1}}}
    }
    # on list[dict] a dict of "$" keys is a value too
    assert update.pull(Tagged.messages, {"$gt": 1}).as_dict() == {
        "$pull": {"messages": {"$eq": {"$gt": 1}}}
    }
    assert update.pull(Person.addresses, Address(city="c")).as_dict() == {
        "$pull": {"addresses": {"$eq": {"city": "c", "zip": ""}}}
    }
    assert update.pull(Person.tags, "a").as_dict() == {"$pull": {"tags": "a"}}
    assert update.pull(Person.tags, "$").as_dict() == {"$pull": {"tags": "$"}}
    assert update.pull(Person.scores, 3).as_dict() == {"$pull": {"scores": 3}}


def test_pull_conditions_encode_their_values() -> None:
    assert update.pull(Tagged.codes, {"$gte": 3, "$in": [7]}).as_dict() == {
        "$pull": {"codes": {"$gte": "3", "$in": ["7"]}}
    }
    assert update.pull(Person.scores, {"$gt": 3}).as_dict() == {"$pull": {"scores": {"$gt": 3}}}
    assert update.pull(Person.addresses, Address.city == "c").as_dict() == {
        "$pull": {"addresses": {"city": {"$eq": "c"}}}
    }


def test_set_of_a_dict_with_dollar_keys_stays_a_literal_value() -> None:
    assert update.set(Tagged.messages, [{"$set": 1}]).as_dict() == {
        "$set": {"messages": [{"$set": 1}]}
    }
