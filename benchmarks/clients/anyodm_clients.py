"""anyodm: ``Engine`` (on asyncio and on trio) and ``SyncEngine``."""

# No ``from __future__ import annotations``: the model classes are built inside a
# function and their annotations must be resolvable there.
from datetime import datetime
from typing import Any, Optional

from pymongo import MongoClient

from anyodm import EmbeddedModel, Engine, Model, SyncEngine
from benchmarks.common import (
    BIG_COLLECTION,
    READ_COLLECTION,
    READ_DB,
    WRITE_COLLECTION,
    WRITE_DB,
)
from benchmarks.driver import AsyncBench, SyncBench


class Address(EmbeddedModel):
    street: str
    city: str
    postcode: str
    country: str


def _person(collection: str) -> Any:
    class Person(Model):
        name: str
        email: str
        age: int
        score: float
        active: bool
        created: datetime
        tags: list[str]
        address: Address
        counter: int
        category: str
        notes: Optional[str] = None  # noqa: UP045
        rating: int

        model_config = {"collection": collection}  # noqa: RUF012

    return Person


PersonW = _person(WRITE_COLLECTION)
PersonR = _person(READ_COLLECTION)
PersonBig = _person(BIG_COLLECTION)


class AnyODMAsync(AsyncBench):
    library = "anyodm"

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = f"anyodm_{backend}"
        self.label = f"anyodm Engine ({backend})"

    async def open(self, write_uri: str, read_uri: str) -> None:
        self.wclient: MongoClient[Any] = MongoClient(write_uri)
        self.rclient: MongoClient[Any] = MongoClient(read_uri)
        self.wengine = Engine(self.wclient, database=WRITE_DB)
        self.rengine = Engine(self.rclient, database=READ_DB)

    async def close(self) -> None:
        self.wclient.close()
        self.rclient.close()

    def make_items(self, fields: list[dict[str, Any]]) -> list[Any]:
        # New instances as users make them: the model generates the primary key.
        return [PersonW(**{k: v for k, v in f.items() if k != "id"}) for f in fields]

    async def insert_each(self, items: list[Any]) -> None:
        save = self.wengine.save
        for item in items:
            await save(item)

    async def insert_bulk(self, items: list[Any]) -> None:
        await self.wengine.save_all(items)

    async def find_by_id(self, oid: Any) -> Any:
        return await self.rengine.find_one(PersonR, PersonR.id == oid)

    async def fetch_all(self) -> list[Any]:
        return await self.rengine.find(PersonR)

    async def fetch_big(self) -> list[Any]:
        return await self.rengine.find(PersonBig)

    async def load_for_update(self, ids: list[Any]) -> list[Any]:
        return await self.rengine.find(PersonR, PersonR.id.in_(ids))

    async def update_each(self, items: list[Any], value: int) -> None:
        save = self.rengine.save
        for i, item in enumerate(items):
            item.counter = value + i
            await save(item)

    async def drop_write(self) -> None:
        self.wengine.get_collection(PersonW).drop()  # untimed, so blocking is fine here


class AnyODMSync(SyncBench):
    name = "anyodm_sync"
    label = "anyodm SyncEngine"
    library = "anyodm"

    def open(self, write_uri: str, read_uri: str) -> None:
        self.wclient: MongoClient[Any] = MongoClient(write_uri)
        self.rclient: MongoClient[Any] = MongoClient(read_uri)
        self.wengine = SyncEngine(self.wclient, database=WRITE_DB)
        self.rengine = SyncEngine(self.rclient, database=READ_DB)

    def close(self) -> None:
        self.wclient.close()
        self.rclient.close()

    def make_items(self, fields: list[dict[str, Any]]) -> list[Any]:
        # New instances as users make them: the model generates the primary key.
        return [PersonW(**{k: v for k, v in f.items() if k != "id"}) for f in fields]

    def insert_each(self, items: list[Any]) -> None:
        save = self.wengine.save
        for item in items:
            save(item)

    def insert_bulk(self, items: list[Any]) -> None:
        self.wengine.save_all(items)

    def find_by_id(self, oid: Any) -> Any:
        return self.rengine.find_one(PersonR, PersonR.id == oid)

    def fetch_all(self) -> list[Any]:
        return self.rengine.find(PersonR).to_list()

    def fetch_big(self) -> list[Any]:
        return self.rengine.find(PersonBig).to_list()

    def load_for_update(self, ids: list[Any]) -> list[Any]:
        return self.rengine.find(PersonR, PersonR.id.in_(ids)).to_list()

    def update_each(self, items: list[Any], value: int) -> None:
        save = self.rengine.save
        for i, item in enumerate(items):
            item.counter = value + i
            save(item)

    def drop_write(self) -> None:
        self.wengine.get_collection(PersonW).drop()
