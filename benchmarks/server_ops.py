"""Server-side operations: "update one field without loading" and "aggregate 1,000 into
models", anyodm beside Beanie and raw PyMongo.

    UV_PROJECT_ENVIRONMENT=.venv-bench uv run --no-sync python -m benchmarks.server_ops
    ... python -m benchmarks.server_ops --rounds 1 --updates 200 --aggregates 3   # smoke

Standalone on purpose (the main runner, ``benchmarks/run.py``, is being reworked): one
embedded server in its own process holds a seeded collection of the common 1,000
documents (``benchmarks/common.py``); each (round, client) runs in a fresh Python
process; CPU time is the client process's (every thread of it), so the server's work is
not counted.  Rounds run the clients forwards and backwards in turn, and each ratio is
the median of per-round ratios between neighbouring runs (``CLIENTS``).  Results go to
``benchmarks/results/server_ops.json`` and
``.md``.

* **update one field**: ``$set`` of ``counter`` on one document by ``_id``, documents
  never loaded.  anyodm: ``update_one(Person, Person.id == oid,
  update=update.set(Person.counter, v))``; Beanie: ``find_one(...).update(Set(...))``;
  raw: ``update_one({"_id": oid}, {"$set": ...})`` (sync), and the same through
  ``anyio.to_thread.run_sync`` (the *thread floor* of any thread-based async design), on
  asyncio (``thread_floor``) and on trio (``thread_floor_trio``, whose thread hop costs
  more): each anyodm backend is compared with the floor of its own backend.
* **aggregate into models**: a ``$project`` of every document into a 4-field model.
  anyodm: ``aggregate(Person, pipeline, into=Summary)``; Beanie:
  ``aggregate(pipeline, projection_model=Summary)``; raw: dicts (no model).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DB = "anyodm_bench_server_ops"
COLLECTION = "people_ops"
DOCS = 1000

#: In this order, each anyodm client right after what it is compared with; rounds run
#: it forwards and backwards in turn (A B B A), so each ratio is taken between
#: neighbours in time (this machine's speed drifts by 20 % within minutes).
CLIENTS = (
    "pymongo_sync",
    "anyodm_sync",
    "thread_floor",
    "anyodm_asyncio",
    "thread_floor_trio",
    "anyodm_trio",
    "beanie",
)

#: (anyodm client, its update floor): the floor of its own backend
UPDATE_FLOORS = {
    "anyodm_sync": "pymongo_sync",
    "anyodm_asyncio": "thread_floor",
    "anyodm_trio": "thread_floor_trio",
}

PIPELINE_RAW: list[dict[str, Any]] = [
    {"$project": {"_id": 0, "name": 1, "age": 1, "city": "$address.city", "rating": 1}}
]


def _summary_model() -> Any:
    from pydantic import BaseModel

    class Summary(BaseModel):
        name: str
        age: int
        city: str
        rating: int

    return Summary


def _anyodm_person() -> Any:
    from benchmarks.clients.anyodm_clients import _person

    return _person(COLLECTION)


# -- one client, in its own process ------------------------------------------------------


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float], ops: int) -> dict[str, float]:
    wall, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
    return {"ops": ops, "wall": wall, "cpu": cpu}


def run_client(client: str, uri: str, updates: int, aggregates: int) -> dict[str, Any]:
    import random

    from pymongo import MongoClient

    ids = [doc["_id"] for doc in MongoClient(uri)[DB][COLLECTION].find({}, {"_id": 1})]
    rng = random.Random(5)
    targets = [rng.choice(ids) for _ in range(updates)]
    if client in ("pymongo_sync", "anyodm_sync"):
        return _run_sync(client, uri, targets, aggregates)
    import anyio

    backend = "trio" if client in ("anyodm_trio", "thread_floor_trio") else "asyncio"
    result: dict[str, Any] = anyio.run(
        _run_async, client, uri, targets, aggregates, backend=backend
    )
    return result


def _run_sync(client: str, uri: str, targets: list[Any], aggregates: int) -> dict[str, Any]:
    from pymongo import MongoClient

    Summary = _summary_model()
    mongo: MongoClient[Any] = MongoClient(uri)
    out: dict[str, Any] = {}
    if client == "pymongo_sync":
        coll = mongo[DB][COLLECTION]

        def update_one(oid: Any, value: int) -> None:
            coll.update_one({"_id": oid}, {"$set": {"counter": value}})

        def aggregate() -> int:
            return len(coll.aggregate(PIPELINE_RAW).to_list())
    else:
        from anyodm import SyncEngine, update

        Person = _anyodm_person()
        engine = SyncEngine(mongo, DB)
        pipeline = [
            {
                "$project": {
                    "_id": 0,
                    Person.name: 1,
                    Person.age: 1,
                    "city": "$address.city",
                    Person.rating: 1,
                }
            }
        ]

        def update_one(oid: Any, value: int) -> None:
            engine.update_one(Person, Person.id == oid, update=update.set(Person.counter, value))

        def aggregate() -> int:
            return len(engine.aggregate(Person, pipeline, into=Summary).to_list())

    for i, oid in enumerate(targets[:30]):  # warm-up
        update_one(oid, i)
    aggregate()
    start = _clock()
    for i, oid in enumerate(targets):
        update_one(oid, i + 1000)
    out["update_one_field"] = _since(start, len(targets))
    start = _clock()
    count = sum(aggregate() for _ in range(aggregates))
    out["aggregate_into_models"] = _since(start, count)
    mongo.close()
    return out


async def _run_async(client: str, uri: str, targets: list[Any], aggregates: int) -> dict[str, Any]:
    Summary = _summary_model()
    out: dict[str, Any] = {}
    closers: list[Any] = []
    if client in ("thread_floor", "thread_floor_trio"):
        import anyio.to_thread
        from pymongo import MongoClient

        from benchmarks.clients.raw import FLOOR_THREADS

        mongo: Any = MongoClient(uri)
        coll = mongo[DB][COLLECTION]
        limiter = anyio.CapacityLimiter(FLOOR_THREADS)

        async def update_one(oid: Any, value: int) -> None:
            await anyio.to_thread.run_sync(
                lambda: coll.update_one({"_id": oid}, {"$set": {"counter": value}}),
                limiter=limiter,
            )

        async def aggregate() -> int:
            docs = await anyio.to_thread.run_sync(
                lambda: coll.aggregate(PIPELINE_RAW).to_list(), limiter=limiter
            )
            return len(docs)

        closers.append(mongo.close)
    elif client == "beanie":
        from beanie import init_beanie
        from beanie.operators import Set
        from pymongo import AsyncMongoClient

        from benchmarks.clients.beanie_client import _person

        PersonB = _person(COLLECTION)
        amongo: Any = AsyncMongoClient(uri)
        await init_beanie(database=amongo[DB], document_models=[PersonB])

        async def update_one(oid: Any, value: int) -> None:
            await PersonB.find_one(PersonB.id == oid).update(Set({PersonB.counter: value}))

        async def aggregate() -> int:
            docs = await PersonB.aggregate(PIPELINE_RAW, projection_model=Summary).to_list()
            return len(docs)

        closers.append(amongo.close)
    else:
        from pymongo import MongoClient

        from anyodm import Engine, update

        Person = _anyodm_person()
        mongo = MongoClient(uri)
        engine = Engine(mongo, DB)
        pipeline = [
            {
                "$project": {
                    "_id": 0,
                    Person.name: 1,
                    Person.age: 1,
                    "city": "$address.city",
                    Person.rating: 1,
                }
            }
        ]

        async def update_one(oid: Any, value: int) -> None:
            await engine.update_one(
                Person, Person.id == oid, update=update.set(Person.counter, value)
            )

        async def aggregate() -> int:
            return len(await engine.aggregate(Person, pipeline, into=Summary))

        closers.append(mongo.close)

    for i, oid in enumerate(targets[:30]):
        await update_one(oid, i)
    await aggregate()
    start = _clock()
    for i, oid in enumerate(targets):
        await update_one(oid, i + 1000)
    out["update_one_field"] = _since(start, len(targets))
    start = _clock()
    count = 0
    for _ in range(aggregates):
        count += await aggregate()
    out["aggregate_into_models"] = _since(start, count)
    for close in closers:
        result = close()
        if hasattr(result, "__await__"):
            await result
    return out


# -- the run -----------------------------------------------------------------------------


def _seed(uri: str) -> None:
    from pymongo import MongoClient

    from benchmarks.common import as_document, make_fields

    client: MongoClient[Any] = MongoClient(uri)
    coll = client[DB][COLLECTION]
    coll.drop()
    coll.insert_many([as_document(f) for f in make_fields(DOCS)])
    client.close()


def _worker(client: str, uri: str, updates: int, aggregates: int) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.server_ops",
            "--worker",
            client,
            "--uri",
            uri,
            "--updates",
            str(updates),
            "--aggregates",
            str(aggregates),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


#: the anyodm clients whose aggregation is compared with Beanie's (issue 12's target)
AGGREGATION_CLIENTS = ("anyodm_asyncio", "anyodm_trio")


def _cpu_per_op(run: dict[str, Any]) -> float:
    """µs of client CPU per operation (or per document) of one measured run."""
    return float(run["cpu"] / run["ops"] * 1e6)


def _per_s(run: dict[str, Any]) -> float:
    """Operations (or documents) per second of wall time of one measured run."""
    return float(run["ops"] / run["wall"])


def _per_round(
    mine: list[dict[str, Any]],
    theirs: list[dict[str, Any]],
    workload: str,
    measure: Callable[[dict[str, Any]], float],
) -> list[float] | None:
    """``measure`` of each of my rounds over theirs (None unless both ran every round)."""
    if not mine or len(mine) != len(theirs):
        return None
    return [measure(a[workload]) / measure(b[workload]) for a, b in zip(mine, theirs, strict=True)]


def _add_paired_ratios(
    results: dict[str, dict[str, Any]], samples: dict[str, list[dict[str, Any]]]
) -> None:
    """Per round, each anyodm client's update CPU over its floor's, and its aggregation
    docs/s over Beanie's (runs that were neighbours in time); their medians are what
    the report quotes."""
    for client, floor in UPDATE_FLOORS.items():
        ratios = _per_round(
            samples.get(client, []), samples.get(floor, []), "update_one_field", _cpu_per_op
        )
        if ratios is not None:
            results[client]["update_one_field"]["paired_ratios"] = ratios
            results[client]["update_one_field"]["paired_ratio"] = statistics.median(ratios)
    for client in AGGREGATION_CLIENTS:
        speedups = _per_round(
            samples.get(client, []), samples.get("beanie", []), "aggregate_into_models", _per_s
        )
        if speedups is not None:
            results[client]["aggregate_into_models"]["paired_speedups"] = speedups
            results[client]["aggregate_into_models"]["paired_speedup"] = statistics.median(speedups)


def _report(results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Server-side operations: anyodm beside Beanie and raw PyMongo",
        "",
        f"{meta['rounds']} round(s), each client in a fresh process per round, medians; "
        f"{meta['updates']} updates, {meta['aggregates']} aggregations of {DOCS} documents. "
        "CPU is the client process's (the embedded server runs in its own process). "
        "Generated by `python -m benchmarks.server_ops`.",
        "",
        "| client | update one field: µs CPU/op | ops/s "
        "| aggregate into models: µs CPU/doc | docs/s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for client, row in results.items():
        if "error" in row:
            lines.append(f"| {client} | error: {row['error']} | | | |")
            continue
        up, agg = row["update_one_field"], row["aggregate_into_models"]
        lines.append(
            f"| {client} | {up['cpu_us']:.1f} | {up['ops_s']:.0f} | "
            f"{agg['cpu_us']:.2f} | {agg['ops_s']:.0f} |"
        )
    lines.append("")
    lines.append(
        "Ratios are medians over the rounds of each round's ratio (neighbouring runs); "
        "the table's medians are unpaired."
    )
    lines.append("")
    for client, floor in UPDATE_FLOORS.items():
        update = results.get(client, {}).get("update_one_field", {})
        if "paired_ratio" in update:
            spread = ", ".join(f"{r:.2f}" for r in sorted(update["paired_ratios"]))
            target = "" if client == "anyodm_sync" else " (target <= 1.3x)"
            lines.append(
                f"- {client}: update CPU per op = {update['paired_ratio']:.2f}x {floor}"
                f"{target}; rounds: {spread}"
            )
    for client in AGGREGATION_CLIENTS:
        aggregate = results.get(client, {}).get("aggregate_into_models", {})
        if "paired_speedup" in aggregate:
            spread = ", ".join(f"{r:.2f}" for r in sorted(aggregate["paired_speedups"]))
            lines.append(
                f"- {client}: aggregation docs/s = {aggregate['paired_speedup']:.2f}x Beanie's "
                f"(target >= 1.3x); rounds: {spread}"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker")
    parser.add_argument("--uri")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--aggregates", type=int, default=10)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    args = parser.parse_args()
    if args.worker:
        result = run_client(args.worker, args.uri, args.updates, args.aggregates)
        sys.stdout.write(json.dumps(result) + "\n")
        return

    from anyodm.testing import MongoServer

    clients = [c for c in args.clients.split(",") if c]
    samples: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    errors: dict[str, str] = {}
    configured = os.environ.get("MONGODB_URI", "").strip()
    with contextlib.nullcontext(None) if configured else MongoServer() as server:
        uri = server.uri if server is not None else configured
        _seed(uri)
        for round_no in range(args.rounds):
            order = clients if round_no % 2 == 0 else clients[::-1]
            for client in order:
                result = _worker(client, uri, args.updates, args.aggregates)
                if "error" in result:
                    errors[client] = result["error"]
                else:
                    samples[client].append(result)
                print(f"round {round_no + 1}: {client}: {result}", file=sys.stderr)
    results: dict[str, dict[str, Any]] = {}
    for client in clients:
        if not samples[client]:
            results[client] = {"error": errors.get(client, "no sample")}
            continue
        row: dict[str, Any] = {}
        for workload in ("update_one_field", "aggregate_into_models"):
            runs = [s[workload] for s in samples[client]]
            row[workload] = {
                "cpu_us": statistics.median(_cpu_per_op(r) for r in runs),
                "wall_us": statistics.median(r["wall"] / r["ops"] * 1e6 for r in runs),
                "ops_s": statistics.median(_per_s(r) for r in runs),
                "runs": runs,
            }
        results[client] = row
    _add_paired_ratios(results, samples)
    meta = {
        "rounds": args.rounds,
        "updates": args.updates,
        "aggregates": args.aggregates,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "server_ops.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1, default=str)
    )
    (RESULTS / "server_ops.md").write_text(_report(results, meta))
    print(_report(results, meta))


if __name__ == "__main__":
    main()
