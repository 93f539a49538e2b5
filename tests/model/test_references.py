"""The find pipeline and parsing of looked-up references."""

from __future__ import annotations

import pytest

from anyodm.errors import DocumentParsingError
from anyodm.model import Field, Model, Reference
from anyodm.model.references import find_pipeline

from .models import Author, Book, Person, Publisher


def test_no_references_no_pipeline() -> None:
    assert find_pipeline(Person, {"name": 1}, None, 0, None) is None


def test_one_lookup_per_reference_after_narrowing() -> None:
    pipeline = find_pipeline(Author, {"name": {"$eq": "a"}}, [("name", -1)], 5, 10)
    assert pipeline == [
        {"$match": {"name": {"$eq": "a"}}},
        {"$sort": {"name": -1}},
        {"$skip": 5},
        {"$limit": 10},
        {
            "$lookup": {
                "from": "publishers",
                "localField": "publisher",
                "foreignField": "_id",
                "as": "publisher",
            }
        },
        {"$unwind": {"path": "$publisher", "preserveNullAndEmptyArrays": True}},
    ]


def test_nested_references_use_sub_pipelines() -> None:
    pipeline = find_pipeline(Book, {}, None, 0, None)
    assert pipeline is not None
    (lookup, unwind) = pipeline
    assert lookup["$lookup"]["from"] == "author"
    assert lookup["$lookup"]["let"] == {"ref": "$author"}
    inner = lookup["$lookup"]["pipeline"]
    assert inner[0] == {"$match": {"$expr": {"$eq": ["$_id", "$$ref"]}}}
    assert inner[1]["$lookup"]["from"] == "publishers"
    assert unwind == {"$unwind": {"path": "$author", "preserveNullAndEmptyArrays": True}}


def test_filters_reaching_into_references_run_after_lookups() -> None:
    pipeline = find_pipeline(Author, {"publisher.name": "P"}, None, 0, 1)
    assert pipeline is not None
    assert "$lookup" in pipeline[0]
    assert pipeline[-2:] == [{"$match": {"publisher.name": "P"}}, {"$limit": 1}]


def test_reference_key_name() -> None:
    class Review(Model):
        book: Book = Reference(key_name="book_id")

    pipeline = find_pipeline(Review, {}, None, 0, None)
    assert pipeline is not None
    assert pipeline[0]["$lookup"]["as"] == "book_id"
    assert pipeline[0]["$lookup"]["let"] == {"ref": "$book_id"}


def test_parse_looked_up_document() -> None:
    publisher = Publisher(name="P")
    author = Author(name="A", publisher=publisher)
    book = Book(title="T", author=author)
    doc = book.model_dump_doc()
    assert doc["author"] == author.id
    doc["author"] = {**author.model_dump_doc(), "publisher": publisher.model_dump_doc()}
    loaded = Book.model_validate_doc(doc)
    assert loaded == book
    assert loaded.author.publisher.name == "P"


def test_missing_referenced_document() -> None:
    doc = Author(name="A", publisher=Publisher(name="P")).model_dump_doc()
    del doc["publisher"]  # what the $unwind leaves when nothing was found
    with pytest.raises(DocumentParsingError) as info:
        Author.model_validate_doc(doc)
    assert info.value.errors == [("publisher", "referenced Publisher document not found")]


def test_cyclic_references_are_refused() -> None:
    class Left(Model):
        right: Right = Reference()

    class Right(Model):
        left: Left = Reference()

    Left.model_rebuild()
    with pytest.raises(TypeError, match="cyclic"):
        find_pipeline(Right, {}, None, 0, None)

    class Loop(Model):
        name: str = Field(default="")

    assert find_pipeline(Loop, {}, None, 0, None) is None


def test_forward_reference_resolved_later() -> None:
    class Later(Model):
        target: Target = Reference()

    class Target(Model):
        name: str = ""

    Later.model_rebuild()
    assert Later.__anyodm__.references == {"target": Target}
    assert find_pipeline(Later, {}, None, 0, None) is not None
