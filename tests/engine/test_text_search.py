"""Text search: ``query.text`` as a filter, ``query.text_score()`` as a sort, a
``query.TextScore`` view field reading the score, text indexes from ``Index(kind=)``;
the combinations MongoDB refuses are refused before anything is sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from pymongo import MongoClient, monitoring

from anyodm import Engine, Field, Index, Model, Reference, SyncEngine, query
from anyodm.core.find import make_filter_spec, make_find_spec
from anyodm.errors import InvalidFieldError
from anyodm.model import ODMConfigDict
from anyodm.model.query import build_filter
from tests.engine.conftest import AwaitableSyncEngine


class Article(Model):
    title: str
    body: str = ""
    year: int = 2000
    tags: list[str] = Field(default_factory=list)
    rating: int = Field(default=0, key_name="stars")
    model_config = ODMConfigDict(
        collection="articles",
        indexes=lambda: [
            Index(Article.title, Article.body, kind="text", weights={Article.title: 5})
        ],
    )


class Journal(Model):
    name: str
    model_config = ODMConfigDict(collection="journals")


class Paper(Model):
    title: str
    journal: Journal = Reference()
    model_config = ODMConfigDict(collection="papers")


class Hit(BaseModel):
    title: str
    score: query.TextScore


class Clash(BaseModel):
    rating: int
    stars: query.TextScore


SEARCH = {"$text": {"$search": "fox"}}


class Finds(monitoring.CommandListener):
    """The find commands a client sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.sent.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(params=["async", "sync"])
def seen(
    request: pytest.FixtureRequest, mongodb_uri: str, mongo_database: Any
) -> Iterator[tuple[Any, Finds]]:
    """An engine (async, or the sync one behind awaitable methods) whose finds are seen."""
    finds = Finds()
    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[finds])
    try:
        if request.param == "async":
            yield Engine(client=client, database=mongo_database.name), finds
        else:
            sync = SyncEngine(client=client, database=mongo_database.name)
            yield AwaitableSyncEngine(sync), finds
    finally:
        client.close()


# -- building ----------------------------------------------------------------------------


def test_text_builds_a_text_search() -> None:
    assert query.text("fox") == SEARCH
    assert query.text(
        "fox", language="english", case_sensitive=True, diacritic_sensitive=False
    ) == {
        "$text": {
            "$search": "fox",
            "$language": "english",
            "$caseSensitive": True,
            "$diacriticSensitive": False,
        }
    }
    assert query.text_score() == {"__text_score": {"$meta": "textScore"}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"search": 3}, r"searches a str, not 3"),
        ({"search": "a", "language": ""}, r"language must be a language name"),
        ({"search": "a", "case_sensitive": 1}, r"case_sensitive must be True, False or None"),
        ({"search": "a", "diacritic_sensitive": "no"}, r"diacritic_sensitive must be True"),
    ],
)
def test_bad_text_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        query.text(**kwargs)


def test_a_text_search_stays_at_the_top_level_of_the_filter() -> None:
    recent = Article.year > 2010
    assert query.text("fox") & recent == {**SEARCH, "year": {"$gt": 2010}}
    assert recent & query.text("fox") & (Article.year < 2020) == {
        **SEARCH,
        "$and": [{"year": {"$gt": 2010}}, {"year": {"$lt": 2020}}],
    }
    assert build_filter(Article, query.text("fox"), recent) == {**SEARCH, "year": {"$gt": 2010}}
    assert query.text("fox") | recent == {"$or": [SEARCH, {"year": {"$gt": 2010}}]}


def test_combinations_mongodb_refuses_are_refused_when_built() -> None:
    with pytest.raises(TypeError, match=r"at most one text search"):
        query.text("fox") & query.text("dog")
    with pytest.raises(TypeError, match=r"at most one text search"):
        query.or_(query.text("fox"), Article.year > 1) & query.text("dog")
    with pytest.raises(TypeError, match=r"at most one text search"):
        build_filter(Article, query.text("fox"), {"$text": {"$search": "dog"}})
    with pytest.raises(TypeError, match=r"^nor_\(\): MongoDB refuses a text search"):
        query.nor_(query.text("fox"))
    with pytest.raises(TypeError, match=r"Article\.tags: elem_match\(\) cannot hold a text"):
        Article.tags.elem_match(query.text("fox"))


def test_a_text_score_without_a_text_search_is_refused() -> None:
    with pytest.raises(TypeError, match=r"^find\(\) on Article: the sort uses the text score"):
        make_find_spec(Article, (), query.text_score(), 0, None, "find")
    with pytest.raises(TypeError, match=r"^find_one\(\) on Article: the sort uses"):
        make_find_spec(Article, (Article.year > 1,), query.text_score(), 0, 1, "find_one")
    with pytest.raises(TypeError, match=r"^find\(\) on Article: the projection reads the text"):
        make_find_spec(Article, (), None, 0, None, "find", projection=Hit)
    spec = make_find_spec(
        Article, (query.text("fox"),), (query.text_score(), Article.year.desc()), 0, None, "find"
    )
    assert spec.sort == [("__text_score", {"$meta": "textScore"}), ("year", -1)]


def test_a_view_reads_the_score_under_its_own_name() -> None:
    spec = make_find_spec(Article, (query.text("fox"),), None, 0, None, "find", projection=Hit)
    assert spec.projection == {"title": 1, "score": {"$meta": "textScore"}, "_id": 0}
    with pytest.raises(InvalidFieldError, match=r"Article\.stars: projection Clash reads the"):
        make_find_spec(Article, (query.text("x"),), None, 0, None, "find", projection=Clash)


def test_a_search_with_references_runs_first_in_the_pipeline() -> None:
    spec = make_find_spec(Paper, (query.text("fox"),), query.text_score(), 0, None, "find")
    assert spec.pipeline is not None
    assert spec.pipeline[0] == {"$match": {"$text": {"$search": "fox"}}}
    assert spec.pipeline[1] == {"$sort": {"__text_score": {"$meta": "textScore"}}}
    with pytest.raises(InvalidFieldError, match=r"Paper\.journal\.name: find\(\) cannot combine"):
        make_find_spec(Paper, (query.text("x"), {"journal.name": "n"}), None, 0, None, "find")
    with pytest.raises(InvalidFieldError, match=r"count\(\) cannot combine a text search"):
        make_filter_spec(Paper, (query.text("x"), {"journal.name": "n"}), "count")


def test_a_text_index_is_declared_with_index_kind() -> None:
    (index,) = Article.__anyodm__.indexes
    assert index.document["key"] == {"title": "text", "body": "text"}
    assert index.document["weights"] == {"title": 5}
    assert Index("loc", kind="2dsphere").to_index_model(Article).document["key"] == {
        "loc": "2dsphere"
    }
    with pytest.raises(TypeError, match=r"Index\(kind=\.\.\.\) is one of 'text'"):
        Index(Article.title, kind="fulltext")  # type: ignore[arg-type]


# -- on the server -----------------------------------------------------------------------


async def _articles(engine: Any) -> None:
    await engine.configure_database([Article])
    await engine.save_all(
        [
            Article(title="The quick brown fox", body="a story", year=2001),
            Article(title="Lazy dog", body="the dog sleeps; no fox here", year=2015),
            Article(title="Fox, fox and fox", body="fox fox fox fox", year=2020),
            Article(title="Nothing to see", body="really", year=2021),
        ]
    )


async def test_find_by_text(seen: tuple[Any, Finds]) -> None:
    engine, finds = seen
    await _articles(engine)
    indexes = engine.database["articles"].index_information()
    assert any(spec["key"] == [("title", "text"), ("body", "text")] for spec in indexes.values())
    found = await engine.find(Article, query.text("fox"), sort=query.text_score())
    assert {a.title for a in found} == {"The quick brown fox", "Lazy dog", "Fox, fox and fox"}
    recent = await engine.find(Article, query.text("FOX"), Article.year > 2010)
    assert {a.title for a in recent} == {"Lazy dog", "Fox, fox and fox"}
    best = await engine.find_one(Article, query.text("fox dog"), sort=query.text_score())
    assert best is not None
    assert await engine.find(Article, query.text("unicorn")) == []
    sent = [(command["filter"], command.get("sort")) for command in finds.sent]
    assert sent[0] == ({"$text": {"$search": "fox"}}, {"__text_score": {"$meta": "textScore"}})
    assert sent[1] == ({"$text": {"$search": "FOX"}, "year": {"$gt": 2010}}, None)


@pytest.mark.needs_real_mongodb(
    reason="the embedded server's projection with a $meta score drops the other fields"
)
async def test_a_view_reads_the_text_score(engine: Any) -> None:
    await _articles(engine)
    hits = await engine.find(Article, query.text("fox"), projection=Hit)
    scores = {hit.title: hit.score for hit in hits}
    assert set(scores) == {"The quick brown fox", "Lazy dog", "Fox, fox and fox"}
    assert all(isinstance(score, float) and score > 0 for score in scores.values())
    assert scores["Fox, fox and fox"] > scores["Lazy dog"]


@pytest.mark.needs_real_mongodb(
    reason="the embedded server runs $text in finds only (not in aggregations, counts or "
    "writes) and does not sort by the score"
)
async def test_text_search_everywhere_a_filter_goes(engine: Any) -> None:
    await _articles(engine)
    found = await engine.find(Article, query.text("fox"), sort=query.text_score())
    assert found[0].title == "Fox, fox and fox"
    assert await engine.count(Article, query.text("fox")) == 3
    hits = await engine.find(Article, query.text("fox"), sort=query.text_score(), projection=Hit)
    assert hits[0].title == "Fox, fox and fox"
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    journal = Journal(name="j")
    await engine.save_all(
        [Paper(title="fox tales", journal=journal), Paper(title="x", journal=journal)]
    )
    engine.database["papers"].create_index([("title", "text")])
    (paper,) = await engine.find(Paper, query.text("fox"), sort=query.text_score())
    assert paper.journal.name == "j"
    assert await engine.remove(Article, query.text("dog")) == 1


async def test_a_change_stream_refuses_a_text_search(anyodm_engine: Engine) -> None:
    with pytest.raises(ValueError, match=r"cannot filter change events with \$text"):
        anyodm_engine.watch(Article, query.text("fox"))
