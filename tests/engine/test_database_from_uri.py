"""Without ``database=``, the engines use the database the connection string names
(as PyMongo's ``get_default_database()``), else ``test``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest

from anyodm import Engine, Model, SyncEngine


class Note(Model):
    text: str


def with_database(uri: str, name: str) -> str:
    """``uri`` with ``name`` as its path (its options kept)."""
    base, sep, options = uri.partition("?")
    scheme, _, rest = base.partition("://")
    hosts = rest.split("/", 1)[0]
    return f"{scheme}://{hosts}/{name}{sep}{options}"


@pytest.fixture
def named_database(mongo_client: pymongo.MongoClient[dict[str, Any]]) -> Iterator[str]:
    name = "anyodm_test_uri_" + uuid.uuid4().hex[:12]
    try:
        yield name
    finally:
        mongo_client.drop_database(name)


def test_with_database_keeps_options() -> None:
    uri = with_database("mongodb://a:1,b:2/?replicaSet=rs0", "shop")
    assert uri == "mongodb://a:1,b:2/shop?replicaSet=rs0"
    assert with_database("mongodb://h:1", "shop") == "mongodb://h:1/shop"


def test_sync_engine_writes_to_the_database_of_the_connection_string(
    mongodb_uri: str, named_database: str, mongo_client: pymongo.MongoClient[dict[str, Any]]
) -> None:
    with SyncEngine(with_database(mongodb_uri, named_database)) as engine:
        assert engine.database_name == named_database
        assert engine.database.name == named_database
        engine.save(Note(text="hello"))
    assert mongo_client[named_database].note.count_documents({}) == 1


async def test_async_engine_writes_to_the_database_of_the_connection_string(
    mongodb_uri: str, named_database: str, mongo_client: pymongo.MongoClient[dict[str, Any]]
) -> None:
    async with Engine(with_database(mongodb_uri, named_database)) as engine:
        assert engine.database_name == named_database
        await engine.save(Note(text="hello"))
    assert mongo_client[named_database].note.count_documents({}) == 1


@pytest.mark.parametrize("engine_class", [Engine, SyncEngine])
def test_a_client_built_from_a_connection_string_with_a_database(
    engine_class: Any, mongodb_uri: str
) -> None:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        with_database(mongodb_uri, "shop"), connect=False
    )
    try:
        assert engine_class(client).database_name == "shop"
        assert engine_class(client, database="other").database_name == "other"
    finally:
        client.close()


@pytest.mark.parametrize("engine_class", [Engine, SyncEngine])
def test_database_argument_wins_and_test_is_the_last_resort(engine_class: Any) -> None:
    named = pymongo.MongoClient("mongodb://127.0.0.1:1/shop", connect=False)
    plain = pymongo.MongoClient("mongodb://127.0.0.1:1/", connect=False)
    try:
        assert engine_class(named, database="books").database_name == "books"
        assert engine_class(plain).database_name == "test"
        assert engine_class(plain, "books").database_name == "books"
    finally:
        named.close()
        plain.close()


@pytest.mark.parametrize("engine_class", [Engine, SyncEngine])
def test_a_bad_database_name_is_refused(engine_class: Any) -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        engine_class("mongodb://127.0.0.1:1/", database="a.b")
