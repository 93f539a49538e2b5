"""Migrate N documents (a field rename and a type change) with anyodm: documents per
second and peak memory (a manual check, not a test).

    uv run --no-sync python -m benchmarks.migrations                 # 100,000 documents
    ... python -m benchmarks.migrations --documents 20000 --batch-size 1000 --backend trio
    ... python -m benchmarks.migrations --uri mongodb://...          # a real server

The documents are ``{"title": "book i", "pages": "i"}``; the migration turns them into
``{"name": "book i", "pages": i}`` (``ModelMigration``, ``--kind update`` for the same as
an update pipeline).  Timed: ``engine.migrate`` alone.  Memory: this process's peak
resident set (the client side; the embedded server runs in its own process).  At the end
every document must be migrated exactly once.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from typing import Any

import anyio
import pymongo

from anyodm import Engine, Model
from anyodm.migrations import Migration, ModelMigration, UpdateMigration
from anyodm.testing import MongoServer


class BookV1(Model):
    title: str
    pages: str
    model_config = {"collection": "bench_books"}  # noqa: RUF012


class BookV2(Model):
    name: str
    pages: int
    model_config = {"collection": "bench_books"}  # noqa: RUF012


def migration(kind: str, batch_size: int) -> Migration:
    if kind == "model":
        return ModelMigration(
            BookV1,
            BookV2,
            lambda b: BookV2(id=b.id, name=b.title, pages=int(b.pages)),
            name="0001_bench",
            batch_size=batch_size,
        )
    return UpdateMigration(
        "bench_books",
        [{"$set": {"name": "$title", "pages": {"$toInt": "$pages"}}}, {"$unset": "title"}],
        name="0001_bench",
        batch_size=batch_size,
    )


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


async def run(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri)
    client.drop_database("anyodm_bench_migrations")
    engine = Engine(client, "anyodm_bench_migrations")
    books = engine.database["bench_books"]
    for start in range(0, args.documents, 10_000):
        stop = min(start + 10_000, args.documents)
        books.insert_many([{"title": f"book {i}", "pages": str(i)} for i in range(start, stop)])
    rss_before = peak_rss_mb()
    cpu_before = client_cpu_seconds()
    started = time.perf_counter()
    report = await engine.migrate([migration(args.kind, args.batch_size)])
    seconds = time.perf_counter() - started
    cpu = client_cpu_seconds() - cpu_before
    # Counted by a find (the embedded server refuses a count over this many documents).
    done = {"title": {"$exists": False}, "pages": {"$type": "int"}}
    migrated = sum(1 for _ in books.find(done, {"_id": 1}))
    assert migrated == args.documents, (migrated, args.documents)
    client.drop_database("anyodm_bench_migrations")
    client.close()
    return {
        "documents": args.documents,
        "kind": args.kind,
        "batch_size": args.batch_size,
        "backend": args.backend,
        "batches": report.runs[0].batches,
        "seconds": round(seconds, 2),
        "documents_per_second": round(args.documents / seconds),
        "client_cpu_us_per_document": round(cpu / args.documents * 1e6, 1),
        "peak_rss_mb_before_migrating": round(rss_before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.migrations")
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--kind", choices=["model", "update"], default="model")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--uri", default=None, help="a server (default: a fresh embedded one)")
    args = parser.parse_args()
    if args.uri:
        result = anyio.run(run, args, args.uri, backend=args.backend)
    else:
        with MongoServer() as server:
            result = anyio.run(run, args, server.uri, backend=args.backend)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
