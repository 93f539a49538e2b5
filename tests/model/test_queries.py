"""Field expressions, combinators, sorts and the engines' builders."""

from __future__ import annotations

import re
from decimal import Decimal

import bson
import pytest

from anyodm import query
from anyodm.model.query import SortExpression, build_filter, build_sort

from .models import Address, Author, Book, Person, Publisher


def test_comparisons() -> None:
    assert (Book.title == "x") == {"title": {"$eq": "x"}}
    assert (Book.title != "x") == {"title": {"$ne": "x"}}
    assert (Book.pages > 1) == {"pages": {"$gt": 1}}
    assert (Book.pages >= 1) == {"pages": {"$gte": 1}}
    assert (Book.pages < 1) == {"pages": {"$lt": 1}}
    assert (Book.pages <= 1) == {"pages": {"$lte": 1}}
    assert query.gt(Book.pages, 3) == {"pages": {"$gt": 3}}


def test_equality_never_turns_user_input_into_an_operator() -> None:
    hostile = {"$ne": None}
    assert (Book.title == hostile) == {"title": {"$eq": {"$ne": None}}}
    assert query.eq(Book.title, hostile) == {"title": {"$eq": {"$ne": None}}}


def test_values_are_stored_forms() -> None:
    assert (Person.balance == Decimal("1.5")) == {"balance": {"$eq": bson.Decimal128("1.5")}}
    publisher = Publisher(name="p")
    assert (Author.publisher == publisher) == {"publisher": {"$eq": publisher.id}}
    assert (Person.address == Address(city="c", zip_code="z")) == {
        "address": {"$eq": {"city": "c", "zip": "z"}}
    }


def test_in_not_in_exists_match() -> None:
    assert Book.title.in_(["a", "b"]) == {"title": {"$in": ["a", "b"]}}
    assert Book.title.not_in(("a",)) == {"title": {"$nin": ["a"]}}
    assert Book.title.exists() == {"title": {"$exists": True}}
    assert Book.title.match(r"^A") == {"title": {"$regex": "^A"}}
    assert Book.title.match(re.compile("a", re.I)) == {"title": {"$regex": "a", "$options": "i"}}
    assert Person.tags.match("x") == {"tags": {"$regex": "x"}}
    with pytest.raises(TypeError, match="list of values"):
        Book.title.in_("abc")


def test_operator_type_checks_name_the_field() -> None:
    with pytest.raises(TypeError, match=r"Book\.pages.*match"):
        Book.pages.match("x")
    with pytest.raises(TypeError, match=r"Book\.title.*all"):
        Book.title.all(["x"])
    with pytest.raises(TypeError, match=r"Person\.name.*size"):
        Person.name.size(1)
    with pytest.raises(TypeError, match=r"Person\.tags.*non-negative"):
        Person.tags.size(-1)


def test_array_operators() -> None:
    assert Person.tags.all(["a", "b"]) == {"tags": {"$all": ["a", "b"]}}
    assert query.size(Person.tags, 2) == {"tags": {"$size": 2}}
    assert Person.addresses.elem_match(Address.city == "P", Address.zip_code == "1") == {
        "addresses": {"$elemMatch": {"$and": [{"city": {"$eq": "P"}}, {"zip": {"$eq": "1"}}]}}
    }
    assert Person.scores.elem_match({"$gt": 3, "$lt": 9}) == {
        "scores": {"$elemMatch": {"$gt": 3, "$lt": 9}}
    }
    with pytest.raises(TypeError, match="element type"):
        Person.addresses.elem_match(Book.title == "x")


def test_nested_paths_use_stored_keys() -> None:
    assert (Person.address.city == "Paris") == {"address.city": {"$eq": "Paris"}}
    assert (Person.address.zip_code == "1") == {"address.zip": {"$eq": "1"}}
    assert (Person.addresses.zip_code == "1") == {"addresses.zip": {"$eq": "1"}}
    assert (Person.by_label == {}) == {"by_label": {"$eq": {}}}
    with pytest.raises(AttributeError, match="reference"):
        _ = Author.publisher.name


def test_combinators() -> None:
    a, b, c = Book.pages > 1, Book.pages < 9, Book.title == "x"
    assert (a & b) == {"$and": [{"pages": {"$gt": 1}}, {"pages": {"$lt": 9}}]}
    assert (a & b & c) == {"$and": [dict(a), dict(b), dict(c)]}
    assert (a | c) == {"$or": [dict(a), dict(c)]}
    assert query.nor_(a, c) == {"$nor": [dict(a), dict(c)]}
    assert ({"raw": 1} | a) == {"$or": [{"raw": 1}, dict(a)]}
    assert (a & {"raw": 1}) == {"$and": [dict(a), {"raw": 1}]}
    assert query.and_(a) == dict(a)


def test_build_filter() -> None:
    assert build_filter(Book) == {}
    assert build_filter(Book, Book.title == "x") == {"title": {"$eq": "x"}}
    assert build_filter(Book, Book.title == "x", {"pages": 3}) == {
        "$and": [{"title": {"$eq": "x"}}, {"pages": 3}]
    }
    with pytest.raises(TypeError, match=r"Person.*Book"):
        build_filter(Book, Person.name == "x")
    with pytest.raises(TypeError, match=r"Person.*Book"):
        build_filter(Book, (Book.title == "x") | (Person.name == "y"))
    with pytest.raises(TypeError, match="plain class"):
        build_filter(Book, True)


def test_build_sort() -> None:
    assert build_sort(Book, None) is None
    assert build_sort(Book, Book.pages) == [("pages", 1)]
    assert build_sort(Book, Book.pages.desc()) == [("pages", -1)]
    assert build_sort(Book, query.asc(Book.pages)) == [("pages", 1)]
    assert build_sort(Book, (Book.title, query.desc(Book.pages))) == [("title", 1), ("pages", -1)]
    assert build_sort(Book, {"pages": -1}) == [("pages", -1)]
    assert build_sort(Book, [{"pages": -1}, Book.title]) == [("pages", -1), ("title", 1)]
    assert build_sort(Book, SortExpression()) is None
    with pytest.raises(TypeError, match="Person"):
        build_sort(Book, Person.name)
    with pytest.raises(ValueError, match="direction"):
        build_sort(Book, {"pages": 2})
    with pytest.raises(TypeError):
        build_sort(Book, 3)
    assert build_sort(Person, {"address.zip": 1}) == [("address.zip", 1)]
    # names, and tuples of them, are refused as ODMantic refuses them
    for wrong in ("pages", ("pages", "title"), [("pages", -1)], ("pages", -1), (Book.pages, "id")):
        with pytest.raises(TypeError, match=r"cannot sort Book by .*a sort is a field"):
            build_sort(Book, wrong)


def test_inherited_fields_are_accepted() -> None:
    class SpecialBook(Book):
        extra: int = 0

    assert build_filter(SpecialBook, Book.title == "x") == {"title": {"$eq": "x"}}
    assert build_sort(SpecialBook, SpecialBook.extra) == [("extra", 1)]
