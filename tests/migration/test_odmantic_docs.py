"""ODMantic's documented examples (FastAPI usage, engine, modeling), ported by changing
only the imports. Where a line had to change beyond an import, a comment says why; each
such difference is a row of docs/migrating-from-odmantic.md.

ODMantic builds its engines on Motor: ``AIOEngine(client=AsyncIOMotorClient(uri),
database=...)`` becomes ``AIOEngine(client=MongoClient(uri), database=...)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, List, Optional  # noqa: UP035 - as ODMantic's docs write them

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from pymongo import MongoClient

from anyodm import AIOEngine, EmbeddedModel, Field, Model, ObjectId, Reference, SyncEngine, query

# --------------------------------------------------------------- "Usage with FastAPI"


class Tree(Model):
    name: str
    average_size: float
    discovery_year: int


class TreePatchSchema(BaseModel):
    name: Optional[str] = None  # noqa: UP045
    average_size: Optional[float] = None  # noqa: UP045
    discovery_year: Optional[int] = None  # noqa: UP045


def tree_api(engine: AIOEngine) -> FastAPI:
    app = FastAPI()

    @app.put("/trees/", response_model=Tree)
    async def create_tree(tree: Tree) -> Any:
        await engine.save(tree)
        return tree

    @app.get("/trees/", response_model=List[Tree])  # noqa: UP006
    async def get_trees() -> Any:
        return await engine.find(Tree)

    @app.get("/trees/count", response_model=int)
    async def count_trees() -> Any:
        return await engine.count(Tree)

    @app.get("/trees/{id}", response_model=Tree)
    async def get_tree_by_id(id: ObjectId) -> Any:
        tree = await engine.find_one(Tree, Tree.id == id)
        if tree is None:
            raise HTTPException(404)
        return tree

    @app.patch("/trees/{id}", response_model=Tree)
    async def update_tree_by_id(id: ObjectId, patch: TreePatchSchema) -> Any:
        tree = await engine.find_one(Tree, Tree.id == id)
        if tree is None:
            raise HTTPException(404)
        tree.model_update(patch)
        await engine.save(tree)
        return tree

    @app.delete("/trees/{id}", response_model=Tree)
    async def delete_tree_by_id(id: ObjectId) -> Any:
        tree = await engine.find_one(Tree, Tree.id == id)
        if tree is None:
            raise HTTPException(404)
        await engine.delete(tree)
        return tree

    return app


@pytest.fixture
async def http(mongodb_uri: str, mongo_database: Any) -> AsyncIterator[httpx.AsyncClient]:
    client: MongoClient[Any] = MongoClient(mongodb_uri)  # ODMantic: AsyncIOMotorClient
    engine = AIOEngine(client=client, database=mongo_database.name)
    transport = httpx.ASGITransport(app=tree_api(engine))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        client.close()


async def test_fastapi_tree_api(http: httpx.AsyncClient) -> None:
    created = await http.put(
        "/trees/", json={"name": "Spruce", "average_size": 5.1, "discovery_year": 1995}
    )
    assert created.status_code == 200, created.text
    tree = created.json()
    assert len(tree["id"]) == 24
    await http.put("/trees/", json={"name": "Pine", "average_size": 3.3, "discovery_year": 1990})
    assert (await http.get("/trees/count")).json() == 2
    assert len((await http.get("/trees/")).json()) == 2
    assert (await http.get(f"/trees/{tree['id']}")).json() == tree
    assert (await http.get(f"/trees/{ObjectId()}")).status_code == 404

    patched = await http.patch(f"/trees/{tree['id']}", json={"average_size": 6.0})
    assert patched.json() == {**tree, "average_size": 6.0}
    assert (await http.get(f"/trees/{tree['id']}")).json()["average_size"] == 6.0

    deleted = await http.delete(f"/trees/{tree['id']}")
    assert deleted.json()["name"] == "Spruce"
    assert (await http.get("/trees/count")).json() == 1


def test_fastapi_openapi_schema_of_the_model() -> None:
    schema = tree_api(AIOEngine(client=MongoClient(connect=False))).openapi()
    tree = schema["components"]["schemas"]["Tree"]
    assert set(tree["properties"]) == {"id", "name", "average_size", "discovery_year"}
    assert Tree.__pydantic_model__ is Tree  # ODMantic's FastAPI-facing model


# --------------------------------------------------------------- "Modeling" and "Engine"


class Publisher(Model):
    name: str
    founded: int = Field(ge=1440)
    location: Optional[str] = None  # noqa: UP045


class Book(Model):
    title: str
    pages: int
    publisher: Publisher = Reference()


class CapitalCity(EmbeddedModel):
    name: str
    population: int


class Country(Model):
    name: str
    currency_name: str = Field(key_name="currency")
    capital_city: CapitalCity
    model_config = {"collection": "countries"}  # noqa: RUF012


class Player(Model):
    name: str = Field(primary_field=True)
    level: int = 0


async def test_engine_and_modeling_examples(engine: Any) -> None:
    hachette = Publisher(name="Hachette Livre", founded=1826, location="FR")
    harper = Publisher(name="HarperCollins", founded=1989, location="US")
    books = [
        Book(title="They Didn't See Us Coming", pages=304, publisher=hachette),
        Book(title="This Isn't Happening", pages=256, publisher=hachette),
        Book(title="Prodigal Summer", pages=464, publisher=harper),
    ]
    await engine.save_all(books)  # the publishers are saved too
    assert await engine.count(Publisher) == 2

    big = await engine.find(Book, Book.pages > 300, sort=query.desc(Book.pages))
    assert [b.title for b in big] == ["Prodigal Summer", "They Didn't See Us Coming"]
    in_fr = await engine.find(Publisher, Publisher.location.in_(["FR", "DE"]))
    assert [p.name for p in in_fr] == ["Hachette Livre"]
    some = await engine.find(Book, query.and_(Book.pages >= 250, Book.pages <= 310))
    assert len(some) == 2
    first = await engine.find_one(Book, Book.publisher == hachette, sort=Book.pages)
    assert first.title == "This Isn't Happening"
    assert first.publisher == hachette
    page = await engine.find(Book, sort=Book.title, skip=1, limit=1)
    assert [b.title for b in page] == ["They Didn't See Us Coming"]

    first.pages = 260
    await engine.save(first)
    assert (await engine.find_one(Book, Book.id == first.id)).pages == 260
    await engine.delete(first)
    assert await engine.remove(Book, Book.pages > 400) == 1
    assert await engine.count(Book) == 1

    france = Country(
        name="France", currency_name="Euro", capital_city=CapitalCity(name="Paris", population=2)
    )
    await engine.save(france)
    raw = engine.database["countries"].find_one()
    assert raw["currency"] == "Euro"
    assert raw["capital_city"] == {"name": "Paris", "population": 2}
    assert await engine.find_one(Country, Country.capital_city.name == "Paris") == france

    await engine.save(Player(name="Leeroy Jenkins", level=3))
    assert engine.database["player"].find_one()["_id"] == "Leeroy Jenkins"


def test_sync_engine_example(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    engine.save(Tree(name="Oak", average_size=20, discovery_year=1000))
    trees = engine.find(Tree, Tree.average_size > 10)
    assert [t.name for t in trees] == ["Oak"]
    oak = engine.find_one(Tree)
    oak.model_update({"discovery_year": 1001})
    engine.save(oak)
    assert engine.find_one(Tree).discovery_year == 1001
