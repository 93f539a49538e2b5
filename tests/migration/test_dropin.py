"""What an application ported from ODMantic (or Beanie) meets: ODMantic's checks and
refusals, kept the same, each on ``Engine`` (trio, asyncio) and ``SyncEngine``."""

from __future__ import annotations

from typing import Any

import pytest

import anyodm
from anyodm import (
    AIOTransaction,
    EmbeddedModel,
    Engine,
    Field,
    Model,
    ObjectId,
    Reference,
    SessionStateError,
    SyncEngine,
    SyncTransaction,
    Transaction,
    query,
    update,
)
from anyodm.model import ODMConfigDict
from anyodm.query import QueryExpression, SortExpression


class Item(Model):
    name: str


# -- Transaction(session) takes a started session ------------------------------------------


async def test_transaction_refuses_a_session_not_started(anyodm_engine: Engine) -> None:
    session = anyodm_engine.session()
    for make in (Transaction, AIOTransaction):
        with pytest.raises(RuntimeError, match="provided session is not started") as caught:
            make(session)
        assert isinstance(caught.value, SessionStateError)
    with pytest.raises(RuntimeError, match="provided session is not started"):
        Transaction(anyodm_engine, session=session)
    await session.start()
    await session.end()
    with pytest.raises(RuntimeError, match="provided session is not started"):
        Transaction(session)  # ended: not started any more


async def test_transaction_leaves_the_session_it_did_not_start_open(
    anyodm_engine: Engine,
) -> None:
    async with anyodm_engine.session() as session:
        async with Transaction(session) as tx:
            await tx.save(Item(name="a"))
        assert session.is_started
        assert await session.count(Item) == 1


def test_sync_transaction_refuses_a_session_not_started(anyodm_sync_engine: SyncEngine) -> None:
    session = anyodm_sync_engine.session()
    with pytest.raises(RuntimeError, match="provided session is not started") as caught:
        SyncTransaction(session)
    assert isinstance(caught.value, SessionStateError)
    with pytest.raises(RuntimeError, match="provided session is not started"):
        SyncTransaction(anyodm_sync_engine, session=session)
    with anyodm_sync_engine.session() as started:
        with SyncTransaction(started) as tx:
            tx.save(Item(name="a"))
        assert started.is_started
        assert started.count(Item) == 1


# -- model_update never drops the primary key ------------------------------------------------


def test_model_update_refuses_another_primary_key() -> None:
    item = Item(name="a")
    with pytest.raises(ValueError, match=r"Item.model_update: the primary key 'id'"):
        item.model_update({"id": ObjectId(), "name": "b"})
    assert item.name == "a"  # nothing applied
    item.model_update({"id": item.id, "name": "b"})  # the same key changes nothing
    item.model_update({"id": ObjectId(), "name": "c"}, exclude={"id"})
    assert item.name == "c"


# -- checks made when a model class is created -----------------------------------------------


class Part(EmbeddedModel):
    size: int


def test_a_default_that_does_not_validate_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Bad\.count: the default 'many' is not a valid int"):

        class Bad(Model):
            count: int = "many"  # type: ignore[assignment]

    with pytest.raises(TypeError, match=r"Bad\.size: the default -1"):

        class Bad(Model):  # type: ignore[no-redef]
            size: int = Field(default=-1, ge=0)

    class Good(Model):
        count: int = 1
        note: str | None = None
        parts: list[Part] = Field(default_factory=list)

    assert Good().count == 1


@pytest.mark.parametrize("name", ["model_dump_doc", "model_validate_doc", "model_update", "doc"])
def test_a_field_named_like_a_method_is_refused(name: str) -> None:
    with pytest.raises(TypeError, match=rf"Bad\.{name}: '{name}' is the name of a method"):
        type(Model)("Bad", (Model,), {"__annotations__": {name: int}, "__module__": __name__})


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"validate_assignment": False}, "validate_assignment"),
        ({"revalidate_instances": "always"}, "revalidate_instances"),
    ],
)
def test_pydantic_options_a_document_model_cannot_use(config: Any, key: str) -> None:
    with pytest.raises(TypeError, match=rf"Bad: model_config\['{key}'\]"):
        type(Model)(
            "Bad",
            (Model,),
            {"__annotations__": {"x": int}, "model_config": config, "__module__": __name__},
        )
    with pytest.raises(TypeError, match=rf"BadPart: model_config\['{key}'\]"):
        type(EmbeddedModel)(
            "BadPart",
            (EmbeddedModel,),
            {"__annotations__": {"x": int}, "model_config": config, "__module__": __name__},
        )


@pytest.mark.parametrize(
    "annotation", [list[Part], set[int], tuple[Part, ...], list[Part] | None, frozenset[str]]
)
def test_an_array_primary_key_is_refused(annotation: Any) -> None:
    with pytest.raises(TypeError, match=r"Bad\.key: a primary field cannot be a"):
        type(Model)(
            "Bad",
            (Model,),
            {
                "__annotations__": {"key": annotation},
                "key": Field(primary_field=True),
                "__module__": __name__,
            },
        )


def test_a_system_collection_name_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Bad: invalid collection name 'system.users'"):

        class Bad(Model):
            model_config = ODMConfigDict(collection="system.users")

    with pytest.raises(TypeError, match=r"Bad: invalid collection name 'system.x'"):

        class Bad(Model):  # type: ignore[no-redef]
            __collection__ = "system.x"


# -- references have no order; sorts are fields; empty queries and sorts ---------------------


class Publisher(Model):
    name: str


class Book(Model):
    title: str
    pages: int = 0
    publisher: Publisher = Reference()
    publishers: list[Publisher] = Reference(default_factory=list)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Book.publisher < ObjectId(),
        lambda: Book.publisher <= ObjectId(),
        lambda: Book.publisher > ObjectId(),
        lambda: Book.publisher >= ObjectId(),
        lambda: Book.publishers > ObjectId(),
        lambda: query.gt(Book.publisher, ObjectId()),
        lambda: query.lte(Book.publisher, ObjectId()),
        lambda: Book.publisher.match("^a"),  # type: ignore[attr-defined]
        lambda: query.match(Book.publishers, "^a"),
    ],
)
def test_order_and_regex_on_a_reference_are_refused(build: Any) -> None:
    with pytest.raises(TypeError, match=r"Book\.publishers? is a reference to Publisher: "):
        build()


async def test_references_compare_by_equality(engine: Any) -> None:
    ace = Publisher(name="ace")
    await engine.save(Book(title="a", publisher=ace))
    assert await engine.count(Book, Book.publisher == ace) == 1
    assert await engine.count(Book, query.in_(Book.publisher, [ace.id])) == 1


@pytest.mark.parametrize(
    "sort", ["title", ("title", "pages"), ("title", -1), [("title", 1)], (Book.title, "pages")]
)
async def test_a_sort_by_names_is_refused(engine: Any, sort: Any) -> None:
    with pytest.raises(TypeError, match=r"cannot sort Book by .*a sort is a field"):
        await engine.find(Book, sort=sort)
    with pytest.raises(TypeError, match="cannot sort Book by"):
        await engine.find_one(Book, sort=sort)


async def test_empty_query_and_sort_expressions(engine: Any) -> None:
    ace = Publisher(name="ace")
    await engine.save_all([Book(title="b", publisher=ace), Book(title="a", publisher=ace)])
    assert QueryExpression() == {}
    assert SortExpression() == {}
    assert await engine.count(Book, QueryExpression()) == 2
    found = await engine.find(Book, QueryExpression(), sort=SortExpression())
    assert sorted(book.title for book in found) == ["a", "b"]
    found = await engine.find(Book, sort=(SortExpression(), Book.title, {"pages": 1}))
    assert [book.title for book in found] == ["a", "b"]


# -- the revision is readable; NotLoaded is exported ------------------------------------------


class Versioned(Model):
    value: int = 0

    model_config = ODMConfigDict(optimistic_concurrency=True)


async def test_the_revision_of_an_instance(engine: Any) -> None:
    item = Versioned()
    assert anyodm.revision(item) is None  # never loaded or saved
    await engine.save(item)
    assert anyodm.revision(item) == 1
    item.value = 2
    await engine.save(item)
    assert anyodm.revision(item) == 2
    loaded = await engine.find_one(Versioned)
    assert anyodm.revision(loaded) == 2
    await engine.update_one(
        Versioned, Versioned.id == item.id, update=update.inc(Versioned.value, 1)
    )
    reloaded = await engine.find_one(Versioned)
    assert anyodm.revision(reloaded) == 3
    assert anyodm.revision(loaded) == 2  # what that instance knows: stale now
    with pytest.raises(TypeError, match=r"Item keeps no revision"):
        anyodm.revision(Item(name="a"))


def test_not_loaded_is_exported() -> None:
    from anyodm.model.lazy import NotLoaded

    assert anyodm.NotLoaded is NotLoaded
    assert "NotLoaded" in anyodm.__all__
