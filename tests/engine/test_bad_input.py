"""Bad input raises a clear error before anything is sent to the server."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import EmbeddedModel, Engine, SyncEngine
from tests.engine.models import Address, Author, Book


class Stranger:
    pass


@pytest.fixture
def no_server_engine() -> SyncEngine:
    # Nothing may reach a server: this one does not exist.
    return SyncEngine("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=1&connect=false")


def test_query_on_a_field_of_another_model(no_server_engine: SyncEngine) -> None:
    with pytest.raises(TypeError, match="Book"):
        no_server_engine.find(Author, Book.title == "x")


def test_unknown_sort_key(no_server_engine: SyncEngine) -> None:
    with pytest.raises((TypeError, ValueError), match="sort"):
        no_server_engine.find(Author, sort="not_a_field")


@pytest.mark.parametrize(("skip", "limit"), [(-1, None), (0, -5), ("1", None), (0, 1.5)])
def test_negative_or_non_int_skip_limit(
    no_server_engine: SyncEngine, skip: Any, limit: Any
) -> None:
    with pytest.raises(ValueError, match=r"skip|limit"):
        no_server_engine.find(Author, skip=skip, limit=limit)


@pytest.mark.parametrize("thing", [Stranger(), {"name": "x"}, Address(street="s", city="c")])
def test_saving_something_that_is_not_a_model(no_server_engine: SyncEngine, thing: Any) -> None:
    with pytest.raises(TypeError, match="Model"):
        no_server_engine.save(thing)
    with pytest.raises(TypeError, match="Model"):
        no_server_engine.save_all([thing])


@pytest.mark.parametrize("target", [Stranger, Address, "author", EmbeddedModel])
def test_find_on_something_that_is_not_a_model_class(
    no_server_engine: SyncEngine, target: Any
) -> None:
    with pytest.raises(TypeError, match="Model subclass"):
        no_server_engine.find(target)


async def test_async_engine_checks_before_sending() -> None:
    engine = Engine("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=1&connect=false")
    with pytest.raises(TypeError, match="Book"):
        await engine.find_one(Author, Book.title == "x")
    with pytest.raises(ValueError, match="skip"):
        engine.find(Author, skip=-1)
    with pytest.raises(TypeError, match="Model"):
        await engine.save(Stranger())  # type: ignore[arg-type]
    await engine.aclose()


# -- queries that would silently match everything or nothing (issue 10, item 16) ----------


async def test_remove_with_a_none_query_deletes_nothing(engine: Any) -> None:
    await engine.save(Author(name="kept", age=1))
    with pytest.raises(TypeError, match="None"):
        await engine.remove(Author, None)
    assert await engine.count(Author) == 1


async def test_an_invalid_object_id_string_is_refused(engine: Any) -> None:
    with pytest.raises(ValueError, match=r"Author\.id .*not a valid ObjectId"):
        await engine.find_one(Author, Author.id == "not-an-objectid")


async def test_a_valid_object_id_string_matches(engine: Any) -> None:
    author = await engine.save(Author(name="found", age=1))
    found = await engine.find_one(Author, Author.id == str(author.id))
    assert found is not None
    assert found.name == "found"
    assert await engine.count(Author, Author.id.in_([str(author.id)])) == 1
