"""The workloads, written once over a small per-client interface.

A client implements a handful of primitives (save one, save many, find one by id, fetch
all, update one field, drop the write collection).  The loops, the untimed preparation
and the clocks live here, so every client is measured the same way.  Sync clients run
the 64 concurrent finds on 64 threads; async clients on 64 tasks of their event loop.

A worker process opens its client and warms it up once (``prepare_sync`` /
``prepare_async``), then runs one workload at a time when asked (``run_sync_workload`` /
``run_async_workload``), so the runner can interleave the clients measurement by
measurement.  A client without a primitive (``fetch_big``) skips that workload.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.common import (
    Sample,
    Sizes,
    atimed,
    idle_stall,
    make_fields,
    timed,
    with_stall_ticker,
)

WORKLOADS = (
    "insert_one",
    "bulk_insert",
    "find_one",
    "fetch",
    "fetch_10k",
    "update",
    "concurrent_find_one",
)

WARMUP_OPS = 30


class SyncBench:
    """Primitives of a blocking client (see the module doc)."""

    name = ""
    label = ""
    library = ""
    backend = "sync"

    def open(self, write_uri: str, read_uri: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def make_items(self, fields: list[dict[str, Any]]) -> list[Any]:
        raise NotImplementedError

    def insert_each(self, items: list[Any]) -> None:
        raise NotImplementedError

    def insert_bulk(self, items: list[Any]) -> None:
        raise NotImplementedError

    def find_by_id(self, oid: Any) -> Any:
        raise NotImplementedError

    def fetch_all(self) -> list[Any]:
        raise NotImplementedError

    def fetch_big(self) -> list[Any]:
        """Every document of the big read collection (optional: else the workload is skipped)."""
        raise NotImplementedError

    def load_for_update(self, ids: list[Any]) -> list[Any]:
        raise NotImplementedError

    def update_each(self, items: list[Any], value: int) -> None:
        raise NotImplementedError

    def drop_write(self) -> None:
        raise NotImplementedError


class AsyncBench:
    """Primitives of an async client; ``backend`` is "asyncio" or "trio"."""

    name = ""
    label = ""
    library = ""
    backend = "asyncio"

    async def open(self, write_uri: str, read_uri: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def make_items(self, fields: list[dict[str, Any]]) -> list[Any]:
        raise NotImplementedError

    async def insert_each(self, items: list[Any]) -> None:
        raise NotImplementedError

    async def insert_bulk(self, items: list[Any]) -> None:
        raise NotImplementedError

    async def find_by_id(self, oid: Any) -> Any:
        raise NotImplementedError

    async def fetch_all(self) -> list[Any]:
        raise NotImplementedError

    async def fetch_big(self) -> list[Any]:
        """Every document of the big read collection (optional: else the workload is skipped)."""
        raise NotImplementedError

    async def load_for_update(self, ids: list[Any]) -> list[Any]:
        raise NotImplementedError

    async def update_each(self, items: list[Any], value: int) -> None:
        raise NotImplementedError

    async def drop_write(self) -> None:
        raise NotImplementedError


def _id_sequence(ids: list[Any], count: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    return [rng.choice(ids) for _ in range(count)]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


# -- sync --------------------------------------------------------------------------------


def _overrides(bench: Any, primitive: str, base: type) -> bool:
    return getattr(type(bench), primitive) is not getattr(base, primitive)


def prepare_sync(
    bench: SyncBench, write_uri: str, read_uri: str, ids: list[Any], seed: int
) -> None:
    """Open the client and warm it up: connections, validators, schema caches."""
    bench.open(write_uri, read_uri)
    for oid in ids[:WARMUP_OPS]:
        _check(bench.find_by_id(oid) is not None, f"{bench.name}: warm-up find failed")
    bench.fetch_all()
    if _overrides(bench, "fetch_big", SyncBench):
        bench.fetch_big()
    bench.drop_write()
    bench.insert_each(bench.make_items(make_fields(WARMUP_OPS, seed + 1000)))
    bench.drop_write()


def run_sync_workload(
    bench: SyncBench, workload: str, ids: list[Any], sizes: Sizes, seed: int
) -> Sample | None:
    """One measurement of ``workload`` (None: the client lacks what it needs)."""
    if workload == "fetch_10k" and not _overrides(bench, "fetch_big", SyncBench):
        return None
    gc.collect()
    return _SYNC[workload](bench, ids, sizes, seed)


def _sync_insert_one(bench: SyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    items = bench.make_items(make_fields(sizes.insert_one, seed))
    bench.drop_write()
    sample = timed(len(items), lambda: bench.insert_each(items))
    bench.drop_write()
    return sample


def _sync_bulk(bench: SyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    items = bench.make_items(make_fields(sizes.bulk_insert, seed + 1))
    bench.drop_write()
    sample = timed(len(items), lambda: bench.insert_bulk(items))
    bench.drop_write()
    return sample


def _sync_find_one(bench: SyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    seq = _id_sequence(ids, sizes.find_one, seed)
    find = bench.find_by_id

    def loop() -> None:
        for oid in seq:
            find(oid)

    return timed(len(seq), loop)


def _sync_fetch(bench: SyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    counts: list[int] = []

    def loop() -> None:
        for _ in range(sizes.fetch_times):
            counts.append(len(bench.fetch_all()))

    sample = timed(sizes.fetch_times * sizes.fetch_docs, loop)
    _check(all(c == sizes.fetch_docs for c in counts), f"{bench.name}: fetched {counts}")
    return sample


def _sync_fetch_big(bench: SyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    kept: list[list[Any]] = []  # freed after the clock stops, as in the async version
    sample = timed(sizes.fetch_big_docs, lambda: kept.append(bench.fetch_big()))
    counts = [len(docs) for docs in kept]
    kept.clear()
    _check(counts == [sizes.fetch_big_docs], f"{bench.name}: fetched {counts}")
    return sample


def _sync_update(bench: SyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    items = bench.load_for_update(ids[: sizes.update])
    value = random.randrange(1, 2**30)  # new values: no client may skip an unchanged write
    return timed(len(items), lambda: bench.update_each(items, value))


def _sync_concurrent(bench: SyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    tasks, per_task = sizes.concurrent_tasks, sizes.concurrent_per_task
    seqs = [_id_sequence(ids, per_task, seed + t) for t in range(tasks)]
    find = bench.find_by_id

    def worker(seq: list[Any]) -> None:
        for oid in seq:
            find(oid)

    with ThreadPoolExecutor(tasks) as pool:
        list(pool.map(lambda _: None, range(tasks)))  # start the threads untimed

        def run() -> None:
            list(pool.map(worker, seqs))

        return timed(tasks * per_task, run)


_SYNC: dict[str, Callable[[SyncBench, list[Any], Sizes, int], Sample]] = {
    "insert_one": _sync_insert_one,
    "bulk_insert": _sync_bulk,
    "find_one": _sync_find_one,
    "fetch": _sync_fetch,
    "fetch_10k": _sync_fetch_big,
    "update": _sync_update,
    "concurrent_find_one": _sync_concurrent,
}


# -- async -------------------------------------------------------------------------------


async def prepare_async(
    bench: AsyncBench, write_uri: str, read_uri: str, ids: list[Any], seed: int
) -> None:
    """Open the client and warm it up (see :func:`prepare_sync`)."""
    await bench.open(write_uri, read_uri)
    for oid in ids[:WARMUP_OPS]:
        _check(await bench.find_by_id(oid) is not None, f"{bench.name}: warm-up find failed")
    await bench.fetch_all()
    if _overrides(bench, "fetch_big", AsyncBench):
        await bench.fetch_big()
    await bench.drop_write()
    await bench.insert_each(bench.make_items(make_fields(WARMUP_OPS, seed + 1000)))
    await bench.drop_write()


async def run_async_workload(
    bench: AsyncBench, workload: str, ids: list[Any], sizes: Sizes, seed: int
) -> Sample | None:
    """One measurement of ``workload`` (None: the client lacks what it needs)."""
    if workload == "fetch_10k" and not _overrides(bench, "fetch_big", AsyncBench):
        return None
    gc.collect()
    sample: Sample = await _ASYNC[workload](bench, ids, sizes, seed)
    return sample


async def _async_insert_one(bench: AsyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    items = bench.make_items(make_fields(sizes.insert_one, seed))
    await bench.drop_write()
    sample = await atimed(len(items), lambda: bench.insert_each(items))
    await bench.drop_write()
    return sample


async def _async_bulk(bench: AsyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    items = bench.make_items(make_fields(sizes.bulk_insert, seed + 1))
    await bench.drop_write()
    sample = await atimed(len(items), lambda: bench.insert_bulk(items))
    await bench.drop_write()
    return sample


async def _async_find_one(bench: AsyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    seq = _id_sequence(ids, sizes.find_one, seed)
    find = bench.find_by_id

    async def loop() -> None:
        for oid in seq:
            await find(oid)

    return await atimed(len(seq), loop)


async def _async_fetch(bench: AsyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    counts: list[int] = []

    async def loop() -> None:
        for _ in range(sizes.fetch_times):
            counts.append(len(await bench.fetch_all()))

    sample = await atimed(sizes.fetch_times * sizes.fetch_docs, loop)
    _check(all(c == sizes.fetch_docs for c in counts), f"{bench.name}: fetched {counts}")

    # The loop stall, measured on its own fetch (the ticker costs CPU of its own).  The
    # result is kept until the ticker has stopped: freeing thousands of objects is the
    # caller's own work on its own thread, not the fetch's.
    kept: list[Any] = []

    async def one_fetch() -> None:
        docs = await bench.fetch_all()
        counts.append(len(docs))
        kept.append(docs)

    gc.collect()
    sample.stall_ms = await with_stall_ticker(one_fetch)
    kept.clear()
    # The same ticker on an idle loop for as long as one fetch: the machine's own noise.
    sample.extra["idle_stall_ms"] = await idle_stall(sample.wall / sizes.fetch_times)
    return sample


async def _async_fetch_big(bench: AsyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    counts: list[int] = []
    kept: list[Any] = []

    async def one_fetch() -> None:
        docs = await bench.fetch_big()
        counts.append(len(docs))
        kept.append(docs)

    sample = await atimed(sizes.fetch_big_docs, one_fetch)
    kept.clear()
    gc.collect()
    sample.stall_ms = await with_stall_ticker(one_fetch)  # as in _async_fetch
    kept.clear()
    sample.extra["idle_stall_ms"] = await idle_stall(sample.wall)
    _check(counts == [sizes.fetch_big_docs] * 2, f"{bench.name}: fetched {counts}")
    return sample


async def _async_update(bench: AsyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    items = await bench.load_for_update(ids[: sizes.update])
    value = random.randrange(1, 2**30)  # new values: no client may skip an unchanged write
    return await atimed(len(items), lambda: bench.update_each(items, value))


async def _async_concurrent(bench: AsyncBench, ids: list[Any], sizes: Sizes, seed: int) -> Sample:
    import anyio

    tasks, per_task = sizes.concurrent_tasks, sizes.concurrent_per_task
    seqs = [_id_sequence(ids, per_task, seed + t) for t in range(tasks)]
    find = bench.find_by_id

    async def worker(seq: list[Any]) -> None:
        for oid in seq:
            await find(oid)

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            for seq in seqs:
                tg.start_soon(worker, seq)

    return await atimed(tasks * per_task, run)


_ASYNC: dict[str, Callable[..., Any]] = {
    "insert_one": _async_insert_one,
    "bulk_insert": _async_bulk,
    "find_one": _async_find_one,
    "fetch": _async_fetch,
    "fetch_10k": _async_fetch_big,
    "update": _async_update,
    "concurrent_find_one": _async_concurrent,
}
