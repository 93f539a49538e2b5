"""Queries that would mean one thing to a find and another to the other operations are
refused: typed paths through a reference (at any depth), back-references anywhere in a
query, sort or index, and (except for ``count``, which runs the find's pipeline) raw
filters or sorts reaching into referenced documents."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import IndexModel

from anyodm import Index, Model, update
from anyodm.errors import InvalidFieldError
from anyodm.model import ODMConfigDict
from anyodm.model.index import model_indexes
from tests.references.conftest import engine
from tests.references.models import (
    Author,
    Book,
    Manual,
    Org,
    Paper,
    PaperMeta,
    Part,
    Reviewer,
    Scholar,
    Volume,
)

__all__ = ["engine"]


# -- typed paths ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "where", "target"),
    [
        (lambda: Book.authors.name, r"Book\.authors", "Author"),
        (lambda: Book.editor.name, r"Book\.editor", "Author"),
        (lambda: Manual.parts.reviewers.name, r"Manual\.parts\.reviewers", "Reviewer"),
        (lambda: Manual.parts.reviewers.org, r"Manual\.parts\.reviewers", "Reviewer"),
        (lambda: Part.reviewers.name, r"Part\.reviewers", "Reviewer"),
        (lambda: Volume.chapters.authors.name, r"Volume\.chapters\.authors", "Author"),
        (lambda: Volume.lead.authors.id, r"Volume\.lead\.authors", "Author"),
        (lambda: Paper.meta.lead.name, r"Paper\.meta\.lead", "Scholar"),
        (lambda: Paper.reviews.by.name, r"Paper\.reviews\.by", "Scholar"),
        (lambda: Paper.extra.second.name, r"Paper\.extra\.second", "Scholar"),
    ],
)
def test_a_typed_path_through_a_reference_is_refused_at_any_depth(
    build: Any, where: str, target: str
) -> None:
    with pytest.raises(AttributeError, match=rf"{where} is a reference to {target}: queries"):
        build()


def test_a_reference_itself_is_still_queried_by_its_key() -> None:
    reviewer = Reviewer(name="r", org=Org(name="o"))
    assert (Manual.parts.reviewers.contains(reviewer)) == {
        "parts.reviewers": {"$elemMatch": {"$eq": reviewer.id}}
    }
    assert (Paper.meta.lead == Scholar(name="s", id=reviewer.id)) == {
        "meta.lead": {"$eq": reviewer.id}
    }
    assert (Volume.chapters.authors.in_([reviewer.id])) == {"chapters.by": {"$in": [reviewer.id]}}


@pytest.mark.parametrize(
    "build",
    [
        lambda: Scholar.led == [],
        lambda: Scholar.led != [],
        lambda: Scholar.led.in_([]),
        lambda: Scholar.led.not_in([]),
        lambda: Scholar.led.exists(),
        lambda: Scholar.led.size(0),
        lambda: Scholar.led.all([]),
        lambda: Scholar.led.contains(1),
        lambda: Scholar.led.elem_match({"title": "p"}),
        lambda: Scholar.led.match("x"),
    ],
)
def test_a_back_reference_is_refused_in_a_query(build: Any) -> None:
    with pytest.raises(InvalidFieldError, match=r"Scholar\.led: a query .*back-reference"):
        build()


def test_a_back_reference_is_refused_in_sorts_indexes_and_paths() -> None:
    from anyodm.model.query import build_sort

    for sort in (Scholar.led, {"led": 1}, (Scholar.name, {"led": -1})):
        with pytest.raises(InvalidFieldError, match=r"Scholar\.led: a sort .*back-reference"):
            build_sort(Scholar, sort)
    with pytest.raises(InvalidFieldError, match=r"Scholar\.led: a sort"):
        Scholar.led.desc()
    with pytest.raises(InvalidFieldError, match=r"Scholar\.led: an index"):
        Index(Scholar.led).key_list(Scholar)
    with pytest.raises(AttributeError, match=r"Scholar\.led is a back-reference"):
        _ = Scholar.led.title
    assert build_sort(Scholar, (Scholar.name, {"_id": 1})) == [("name", 1), ("_id", 1)]


async def test_a_back_reference_query_or_sort_sends_nothing(engine: Any) -> None:
    await engine.save(Paper(title="p", meta=PaperMeta(lead=Scholar(name="ann"))))
    with pytest.raises(InvalidFieldError, match=r"Scholar\.led"):
        await engine.find_one(Scholar, sort=Scholar.led.desc())
    with pytest.raises(InvalidFieldError, match=r"Scholar\.led"):
        await engine.find_one_and_update(
            Scholar, sort={"led": -1}, update=update.set(Scholar.name, "x")
        )
    with pytest.raises(InvalidFieldError, match=r"Scholar\.led"):
        await engine.find_one_and_delete(Scholar, sort={"led": 1})
    assert [d["name"] for d in engine.database["scholar"].find()] == ["ann"]


# -- raw filters and sorts into referenced documents -----------------------------------


async def _books(engine: Any) -> None:
    a, b = Author(name="a"), Author(name="b")
    await engine.save_all([Book(title="ba", authors=[a]), Book(title="bb", authors=[b], editor=a)])


def _titles(engine: Any) -> list[str]:
    return sorted(d["title"] for d in engine.database["book"].find())


@pytest.mark.parametrize(
    "query",
    [
        {"authors.name": {"$ne": "a"}},
        {"authors.name": "a"},
        {"editor.name": {"$exists": True}},
        {"$or": [{"title": "zz"}, {"authors.name": "b"}]},
        {"$and": [{"title": {"$ne": "zz"}}, {"editor.name": {"$ne": "a"}}]},
    ],
)
async def test_count_agrees_with_find_on_a_raw_filter_into_references(
    engine: Any, query: dict[str, Any]
) -> None:
    await _books(engine)
    found = await engine.find(Book, query)
    assert await engine.count(Book, query) == len(found)
    assert await engine.count(Book, query, Book.title == "bb") == len(
        await engine.find(Book, query, Book.title == "bb")
    )


async def test_count_through_embedded_references_agrees_with_find(engine: Any) -> None:
    org = Org(name="o")
    r1, r2 = Reviewer(name="r1", org=org), Reviewer(name="r2", org=org)
    await engine.save_all(
        [
            Manual(title="m1", parts=[Part(title="1", reviewers=[r1])]),
            Manual(title="m2", parts=[Part(title="2", reviewers=[r1, r2])]),
            Manual(title="m3"),
        ]
    )
    for query in (
        {"parts.reviewers.name": "r1"},
        {"parts.reviewers.name": {"$ne": "r1"}},
        {"parts.reviewers.org.name": "o"},
    ):
        assert await engine.count(Manual, query) == len(await engine.find(Manual, query))


async def test_every_write_refuses_a_raw_filter_into_references(engine: Any) -> None:
    await _books(engine)
    before = list(engine.database["book"].find(sort=[("_id", 1)]))
    query = {"authors.name": {"$ne": "a"}}
    set_title = update.set(Book.title, "X")
    calls = [
        lambda: engine.remove(Book, query),
        lambda: engine.remove(Book, query, just_one=True),
        lambda: engine.update_one(Book, query, update=set_title),
        lambda: engine.update_many(Book, query, update=set_title),
        lambda: engine.update_many(Book, query, update=set_title, upsert=True),
        lambda: engine.find_one_and_update(Book, query, update=set_title),
        lambda: engine.find_one_and_delete(Book, query),
        lambda: engine.distinct(Book, Book.title, query),
    ]
    for call in calls:
        with pytest.raises(InvalidFieldError, match=r"Book\.authors\.name: \w+\(\) cannot"):
            await call()
    assert list(engine.database["book"].find(sort=[("_id", 1)])) == before


async def test_a_write_refuses_a_raw_sort_into_references(engine: Any) -> None:
    await _books(engine)
    before = list(engine.database["book"].find(sort=[("_id", 1)]))
    by_author = {"authors.name": -1}
    assert [b.title for b in await engine.find(Book, sort=by_author)] == ["bb", "ba"]
    with pytest.raises(InvalidFieldError, match=r"Book\.authors\.name: find_one_and_delete"):
        await engine.find_one_and_delete(Book, sort=by_author)
    with pytest.raises(InvalidFieldError, match=r"Book\.editor\.name: find_one_and_update"):
        await engine.find_one_and_update(
            Book, sort={"editor.name": 1}, update=update.set(Book.title, "X")
        )
    assert list(engine.database["book"].find(sort=[("_id", 1)])) == before


async def test_writes_on_stored_keys_still_work(engine: Any) -> None:
    await _books(engine)
    a = await engine.find_one(Author, Author.name == "a")
    assert a is not None
    assert await engine.count(Book, {"authors": a.id}) == 1
    result = await engine.update_many(
        Book, Book.authors.contains(a), update=update.set(Book.title, "by a")
    )
    assert result.matched == 1
    assert await engine.remove(Book, {"editor": a.id}) == 1
    assert _titles(engine) == ["by a"]


def test_a_count_in_a_transaction_runs_the_finds_pipeline(anyodm_sync_engine: Any) -> None:
    engine = anyodm_sync_engine
    engine.save_all([Book(title="ba", authors=[Author(name="a")])])
    with engine.transaction() as tx:
        tx.save(Book(title="bb", authors=[Author(name="a")]))
        assert tx.count(Book, {"authors.name": "a"}) == 2
    assert engine.count(Book, {"authors.name": "a"}) == 2


# -- a subclass index always covers only its class --------------------------------------


class Crate(Model):
    model_config = ODMConfigDict(polymorphic=True, collection="query_paths_crates")
    label: str = ""


class Tin(Crate):
    model_config = ODMConfigDict(
        indexes=lambda: [
            Index(Tin.size, name="by_t", partialFilterExpression={"_t": {"$exists": True}}),
            Index(Tin.size, name="by_size", partialFilterExpression={"size": {"$gt": 0}}),
            IndexModel(
                [("size", 1)],
                name="by_and",
                partialFilterExpression={"$and": [{"size": {"$gt": 0}}, {"label": "x"}]},
            ),
        ]
    )
    size: int = 0


class SmallTin(Tin):
    pass


def test_a_subclass_index_combines_its_own_partial_filter_with_the_class() -> None:
    spec = Tin.model_config.get("indexes")
    documents = {index.document["name"]: index.document for index in model_indexes(Tin, spec)}
    own_t = {"$and": [{"_t": {"$in": ["Tin", "SmallTin"]}}, {"_t": {"$exists": True}}]}
    assert documents["by_t"]["partialFilterExpression"] == own_t
    assert documents["by_size"]["partialFilterExpression"] == {
        "_t": {"$in": ["Tin", "SmallTin"]},
        "size": {"$gt": 0},
    }
    assert documents["by_and"]["partialFilterExpression"] == {  # one top-level $and
        "$and": [{"_t": {"$in": ["Tin", "SmallTin"]}}, {"size": {"$gt": 0}}, {"label": "x"}]
    }
