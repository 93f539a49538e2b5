"""Beanie (2.x, on PyMongo's ``AsyncMongoClient``, asyncio)."""

# No ``from __future__ import annotations``: the document classes are built inside a
# function and their annotations must be resolvable there.
from datetime import datetime
from typing import Any, Optional

from beanie import Document, init_beanie
from beanie.operators import In
from pydantic import BaseModel
from pymongo import AsyncMongoClient

from benchmarks.common import READ_COLLECTION, READ_DB, WRITE_COLLECTION, WRITE_DB
from benchmarks.driver import AsyncBench


class Address(BaseModel):
    street: str
    city: str
    postcode: str
    country: str


def _person(collection: str) -> Any:
    class Person(Document):
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

        class Settings:
            name = collection

    return Person


PersonW = _person(WRITE_COLLECTION)
PersonR = _person(READ_COLLECTION)


class BeanieAsync(AsyncBench):
    name = "beanie"
    label = "Beanie"
    library = "beanie"
    backend = "asyncio"

    async def open(self, write_uri: str, read_uri: str) -> None:
        self.wclient: Any = AsyncMongoClient(write_uri)
        self.rclient: Any = AsyncMongoClient(read_uri)
        await init_beanie(database=self.wclient[WRITE_DB], document_models=[PersonW])
        await init_beanie(database=self.rclient[READ_DB], document_models=[PersonR])

    async def close(self) -> None:
        await self.wclient.close()
        await self.rclient.close()

    def make_items(self, fields: list[dict[str, Any]]) -> list[Any]:
        return [PersonW(**f) for f in fields]

    async def insert_each(self, items: list[Any]) -> None:
        for item in items:
            await item.insert()

    async def insert_bulk(self, items: list[Any]) -> None:
        await PersonW.insert_many(items)

    async def find_by_id(self, oid: Any) -> Any:
        return await PersonR.get(oid)

    async def fetch_all(self) -> list[Any]:
        return await PersonR.find_all().to_list()

    async def load_for_update(self, ids: list[Any]) -> list[Any]:
        return await PersonR.find(In(PersonR.id, ids)).to_list()

    async def update_each(self, items: list[Any], value: int) -> None:
        for i, item in enumerate(items):
            await item.set({PersonR.counter: value + i})

    async def drop_write(self) -> None:
        await PersonW.get_pymongo_collection().drop()
