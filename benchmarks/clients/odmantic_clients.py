"""ODMantic: its ``AIOEngine`` (Motor, asyncio) and its ``SyncEngine`` (PyMongo)."""

# No ``from __future__ import annotations``: the model classes are built inside a
# function, and ODMantic resolves their annotations eagerly.
from datetime import datetime
from typing import Any, Optional

from odmantic import AIOEngine, EmbeddedModel, Model, SyncEngine, query

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
        notes: Optional[str] = None  # noqa: UP045 (ODMantic's own spelling)
        rating: int

        model_config = {"collection": collection}  # noqa: RUF012

    return Person


PersonW = _person(WRITE_COLLECTION)
PersonR = _person(READ_COLLECTION)
PersonBig = _person(BIG_COLLECTION)


class ODManticAsync(AsyncBench):
    name = "odmantic_async"
    label = "ODMantic AIOEngine"
    library = "odmantic"
    backend = "asyncio"

    async def open(self, write_uri: str, read_uri: str) -> None:
        from motor.motor_asyncio import AsyncIOMotorClient

        self.wclient: Any = AsyncIOMotorClient(write_uri)
        self.rclient: Any = AsyncIOMotorClient(read_uri)
        self.wengine = AIOEngine(client=self.wclient, database=WRITE_DB)
        self.rengine = AIOEngine(client=self.rclient, database=READ_DB)

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
        return await self.rengine.find(PersonR, query.in_(PersonR.id, ids))

    async def update_each(self, items: list[Any], value: int) -> None:
        save = self.rengine.save
        for i, item in enumerate(items):
            item.counter = value + i
            await save(item)

    async def drop_write(self) -> None:
        await self.wengine.get_collection(PersonW).drop()


class ODManticSync(SyncBench):
    name = "odmantic_sync"
    label = "ODMantic SyncEngine"
    library = "odmantic"

    def open(self, write_uri: str, read_uri: str) -> None:
        from pymongo import MongoClient

        self.wclient: Any = MongoClient(write_uri)
        self.rclient: Any = MongoClient(read_uri)
        self.wengine = SyncEngine(client=self.wclient, database=WRITE_DB)
        self.rengine = SyncEngine(client=self.rclient, database=READ_DB)

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
        return list(self.rengine.find(PersonR))

    def fetch_big(self) -> list[Any]:
        return list(self.rengine.find(PersonBig))

    def load_for_update(self, ids: list[Any]) -> list[Any]:
        return list(self.rengine.find(PersonR, query.in_(PersonR.id, ids)))

    def update_each(self, items: list[Any], value: int) -> None:
        save = self.rengine.save
        for i, item in enumerate(items):
            item.counter = value + i
            save(item)

    def drop_write(self) -> None:
        self.wengine.get_collection(PersonW).drop()
