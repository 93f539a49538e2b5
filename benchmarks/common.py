"""What every benchmarked client shares: the document shape, the sizes, the clocks.

The common document has 12 fields besides its ``_id``: scalars of the usual BSON types,
a ``datetime``, a list of strings and an embedded address document.  Each client maps it
to its own model class (see ``benchmarks/clients/``); the raw PyMongo clients use the
dicts as they are.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from bson import ObjectId

#: Database names on the two embedded servers (or on $MONGODB_URI's server).
WRITE_DB = "anyodm_bench_write"
READ_DB = "anyodm_bench_read"
#: Collections: the write workloads start each measurement on an empty one.
WRITE_COLLECTION = "people_write"
READ_COLLECTION = "people_read"
#: The large read collection of the ``fetch_10k`` workload (same documents, more of them).
BIG_COLLECTION = "people_read_big"

CATEGORIES = ("books", "music", "films", "games", "garden", "tools", "travel")
CITIES = ("Paris", "Lyon", "Nantes", "Lille", "Rennes", "Nice", "Dijon", "Brest")


@dataclass(frozen=True)
class Sizes:
    """How much work one measurement does (full run, or ``--quick``)."""

    insert_one: int = 500
    bulk_insert: int = 1000
    find_one: int = 2000
    fetch_docs: int = 1000  # documents in the read collection
    fetch_times: int = 3  # fetches of every document per measurement
    fetch_big_docs: int = 10_000  # documents in the big read collection (one fetch each)
    update: int = 500
    concurrent_tasks: int = 64
    concurrent_per_task: int = 20

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            insert_one=100,
            bulk_insert=200,
            find_one=300,
            fetch_docs=1000,
            fetch_times=1,
            fetch_big_docs=2000,
            update=100,
            concurrent_tasks=64,
            concurrent_per_task=5,
        )


def make_fields(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` documents as model field values (primary key under ``"id"``)."""
    rng = random.Random(seed)
    base = dt.datetime(2024, 1, 1)
    out = []
    for i in range(count):
        created = base + dt.timedelta(seconds=rng.randrange(0, 86_400 * 365))
        out.append(
            {
                "id": ObjectId(),
                "name": f"Person {i:05d}",
                "email": f"person{i}@example.org",
                "age": rng.randrange(18, 90),
                "score": round(rng.random() * 100, 3),
                "active": rng.random() < 0.7,
                "created": created.replace(microsecond=(rng.randrange(1000)) * 1000),
                "tags": [rng.choice(CATEGORIES) for _ in range(5)],
                "address": {
                    "street": f"{rng.randrange(1, 200)} rue des Lilas",
                    "city": rng.choice(CITIES),
                    "postcode": f"{rng.randrange(10000, 99999)}",
                    "country": "FR",
                },
                "counter": 0,
                "category": rng.choice(CATEGORIES),
                "notes": None if rng.random() < 0.5 else "likes long walks " * 3,
                "rating": rng.randrange(0, 6),
            }
        )
    return out


def as_document(fields: dict[str, Any]) -> dict[str, Any]:
    """The stored document of one set of field values (``id`` -> ``_id``)."""
    doc = dict(fields)
    doc["_id"] = doc.pop("id")
    doc["address"] = dict(doc["address"])
    doc["tags"] = list(doc["tags"])
    return doc


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Sample:
    """One measurement: ``ops`` operations in ``wall`` seconds using ``cpu`` CPU seconds."""

    ops: int
    wall: float
    cpu: float
    stall_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Clock:
    """Wall time and this process's CPU time (every thread of it) around a block."""

    __slots__ = ("cpu", "wall")

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    @contextmanager
    def measure(self) -> Iterator[Clock]:
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        try:
            yield self
        finally:
            self.wall = time.perf_counter() - wall0
            self.cpu = time.process_time() - cpu0


def timed(ops: int, func: Callable[[], Any]) -> Sample:
    clock = Clock()
    with clock.measure():
        func()
    return Sample(ops, clock.wall, clock.cpu)


async def atimed(ops: int, func: Callable[[], Awaitable[Any]]) -> Sample:
    clock = Clock()
    with clock.measure():
        await func()
    return Sample(ops, clock.wall, clock.cpu)


class StallTicker:
    """Measures the event loop's longest stall: how late a ticker woke up, at worst.

    The ticker sleeps ``TICK`` seconds in a loop; the stall is the largest gap between
    two wakeups minus that ``TICK`` (the time the loop could not run it when it was due).

    Written on anyio, which runs the same on asyncio (so it works beside Motor, Beanie and
    PyMongo's async client) and on trio.
    """

    TICK = 0.001

    def __init__(self) -> None:
        self.longest = 0.0
        self.ticks = 0

    async def run(self) -> None:
        import anyio

        last = time.perf_counter()
        while True:
            await anyio.sleep(self.TICK)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            self.ticks += 1
            last = now


async def idle_stall(seconds: float) -> float:
    """The ticker's longest lateness while the loop has nothing else to do (the noise)."""
    import anyio

    return await with_stall_ticker(lambda: anyio.sleep(seconds))


async def with_stall_ticker(func: Callable[[], Awaitable[Any]]) -> float:
    """Run ``func`` beside a ticker; its longest lateness, in milliseconds."""
    import anyio

    ticker = StallTicker()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker.run)
        await anyio.sleep(0.01)  # let the ticker settle
        ticker.longest = 0.0
        await func()
        await anyio.sleep(ticker.TICK * 2)  # a stall right at the end still shows
        tg.cancel_scope.cancel()
    return max(ticker.longest - ticker.TICK, 0.0) * 1000


# -- statistics --------------------------------------------------------------------------


def summarize(values: list[float]) -> dict[str, float]:
    """Median, min, max and the relative spread ((max - min) / median) of ``values``."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "spread": math.nan, "n": 0}
    median = statistics.median(clean)
    lo, hi = min(clean), max(clean)
    spread = (hi - lo) / median if median else math.nan
    return {"median": median, "min": lo, "max": hi, "spread": spread, "n": len(clean)}
