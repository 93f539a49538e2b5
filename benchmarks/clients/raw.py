"""Raw PyMongo: the sync client (the baseline of every ratio), the same client called
through ``anyio.to_thread.run_sync`` (the floor of any thread-based async design), and
PyMongo's own ``AsyncMongoClient``.  They handle plain dicts: no models at all."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from pymongo import AsyncMongoClient, MongoClient

from benchmarks.common import (
    BIG_COLLECTION,
    READ_COLLECTION,
    READ_DB,
    WRITE_COLLECTION,
    WRITE_DB,
    as_document,
)
from benchmarks.driver import AsyncBench, SyncBench

#: The thread floor gets as many threads as anyodm's Engine (the pool size, 100).
FLOOR_THREADS = 100


class PyMongoSync(SyncBench):
    name = "pymongo_sync"
    label = "PyMongo (sync)"
    library = "pymongo"

    def open(self, write_uri: str, read_uri: str) -> None:
        self.wclient: MongoClient[Any] = MongoClient(write_uri)
        self.rclient: MongoClient[Any] = MongoClient(read_uri)
        self.wcoll = self.wclient[WRITE_DB][WRITE_COLLECTION]
        self.rcoll = self.rclient[READ_DB][READ_COLLECTION]
        self.bigcoll = self.rclient[READ_DB][BIG_COLLECTION]

    def close(self) -> None:
        self.wclient.close()
        self.rclient.close()

    def make_items(self, fields: list[dict[str, Any]]) -> list[Any]:
        return [as_document(f) for f in fields]

    def insert_each(self, items: list[Any]) -> None:
        insert = self.wcoll.insert_one
        for doc in items:
            insert(doc)

    def insert_bulk(self, items: list[Any]) -> None:
        self.wcoll.insert_many(items)

    def find_by_id(self, oid: Any) -> Any:
        return self.rcoll.find_one({"_id": oid})

    def fetch_all(self) -> list[Any]:
        return self.rcoll.find({}).to_list()

    def fetch_big(self) -> list[Any]:
        return self.bigcoll.find({}).to_list()

    def load_for_update(self, ids: list[Any]) -> list[Any]:
        return list(ids)

    def update_each(self, items: list[Any], value: int) -> None:
        update = self.rcoll.update_one
        for i, oid in enumerate(items):
            update({"_id": oid}, {"$set": {"counter": value + i}})

    def drop_write(self) -> None:
        self.wcoll.drop()


class PyMongoThreads(AsyncBench):
    """Each PyMongo call in ``anyio.to_thread.run_sync`` with a 100-thread limiter."""

    library = "pymongo"

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = f"pymongo_threads_{backend}"
        self.label = f"PyMongo in anyio threads ({backend})"
        self.sync = PyMongoSync()

    async def open(self, write_uri: str, read_uri: str) -> None:
        self.limiter = anyio.CapacityLimiter(FLOOR_THREADS)
        self.sync.open(write_uri, read_uri)

    async def _call(self, func: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)

    async def close(self) -> None:
        self.sync.close()

    def make_items(self, fields: list[dict[str, Any]]) -> list[Any]:
        return [as_document(f) for f in fields]

    async def insert_each(self, items: list[Any]) -> None:
        insert = self.sync.wcoll.insert_one
        for doc in items:
            await self._call(insert, doc)

    async def insert_bulk(self, items: list[Any]) -> None:
        await self._call(self.sync.wcoll.insert_many, items)

    async def find_by_id(self, oid: Any) -> Any:
        return await self._call(self.sync.rcoll.find_one, {"_id": oid})

    async def fetch_all(self) -> list[Any]:
        return await self._call(lambda: self.sync.rcoll.find({}).to_list())  # type: ignore[no-any-return]

    async def fetch_big(self) -> list[Any]:
        return await self._call(lambda: self.sync.bigcoll.find({}).to_list())  # type: ignore[no-any-return]

    async def load_for_update(self, ids: list[Any]) -> list[Any]:
        return list(ids)

    async def update_each(self, items: list[Any], value: int) -> None:
        update = self.sync.rcoll.update_one
        for i, oid in enumerate(items):
            await self._call(partial(update, {"_id": oid}, {"$set": {"counter": value + i}}))

    async def drop_write(self) -> None:
        await self._call(self.sync.wcoll.drop)


class PyMongoAsync(AsyncBench):
    name = "pymongo_async"
    label = "PyMongo AsyncMongoClient"
    library = "pymongo"
    backend = "asyncio"

    async def open(self, write_uri: str, read_uri: str) -> None:
        self.wclient: AsyncMongoClient[Any] = AsyncMongoClient(write_uri)
        self.rclient: AsyncMongoClient[Any] = AsyncMongoClient(read_uri)
        self.wcoll = self.wclient[WRITE_DB][WRITE_COLLECTION]
        self.rcoll = self.rclient[READ_DB][READ_COLLECTION]
        self.bigcoll = self.rclient[READ_DB][BIG_COLLECTION]

    async def close(self) -> None:
        await self.wclient.close()
        await self.rclient.close()

    def make_items(self, fields: list[dict[str, Any]]) -> list[Any]:
        return [as_document(f) for f in fields]

    async def insert_each(self, items: list[Any]) -> None:
        insert = self.wcoll.insert_one
        for doc in items:
            await insert(doc)

    async def insert_bulk(self, items: list[Any]) -> None:
        await self.wcoll.insert_many(items)

    async def find_by_id(self, oid: Any) -> Any:
        return await self.rcoll.find_one({"_id": oid})

    async def fetch_all(self) -> list[Any]:
        return await self.rcoll.find({}).to_list()

    async def fetch_big(self) -> list[Any]:
        return await self.bigcoll.find({}).to_list()

    async def load_for_update(self, ids: list[Any]) -> list[Any]:
        return list(ids)

    async def update_each(self, items: list[Any], value: int) -> None:
        update = self.rcoll.update_one
        for i, oid in enumerate(items):
            await update({"_id": oid}, {"$set": {"counter": value + i}})

    async def drop_write(self) -> None:
        await self.wcoll.drop()
