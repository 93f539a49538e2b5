"""The same migration as ``benchmarks.migrations``, run by Beanie's migrations (a manual
check in the benchmark environment, which has Beanie: ``.venv-bench``).

    UV_PROJECT_ENVIRONMENT=.venv-bench uv run --no-sync python -m benchmarks.migrations_beanie
    ... --documents 20000 --batch-size 1000 --no-transaction

The documents are ``{"title": "book i", "pages": "i"}`` and become
``{"name": "book i", "pages": i}``: an iterative migration (Beanie's per-document form:
each input document parsed, the output built, replaced ``batch_size`` at a time) in a
migration module that Beanie's own runner loads from a directory, as its command line
does.  By default in one transaction (Beanie's command-line default), ``--no-transaction``
without one.  Timed: the runner alone.  Memory: this process's peak resident set.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import pymongo
from beanie.executors.migrate import MigrationSettings, run_migrate

from anyodm.testing import MongoServer
from benchmarks.migrations import client_cpu_seconds, peak_rss_mb

DATABASE = "anyodm_bench_migrations_beanie"

MIGRATION_MODULE = """
from beanie import Document, iterative_migration


class BookV1(Document):
    title: str
    pages: str

    class Settings:
        name = "bench_books"


class BookV2(Document):
    name: str
    pages: int

    class Settings:
        name = "bench_books"


class Forward:
    @iterative_migration(batch_size={batch_size})
    async def rename_and_retype(self, input_document: BookV1, output_document: BookV2):
        output_document.name = input_document.title
        output_document.pages = int(input_document.pages)


class Backward:
    pass
"""


def with_option(uri: str, option: str) -> str:
    if "?" in uri:
        return f"{uri}&{option}"
    return f"{uri}{'?' if '/' in uri.split('://', 1)[1] else '/?'}{option}"


async def run(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri)
    client.drop_database(DATABASE)
    books = client[DATABASE]["bench_books"]
    for start in range(0, args.documents, 10_000):
        stop = min(start + 10_000, args.documents)
        books.insert_many([{"title": f"book {i}", "pages": str(i)} for i in range(start, stop)])
    with tempfile.TemporaryDirectory() as directory:
        module = MIGRATION_MODULE.replace("{batch_size}", str(args.batch_size))
        (Path(directory) / "20261208_rename_and_retype.py").write_text(module)
        settings = MigrationSettings(
            # The embedded server answers the driver's heartbeats late while it works
            # through the migration's concurrent batches; a longer connect timeout keeps
            # the driver from declaring it gone (the runner takes no client of its own).
            connection_uri=with_option(uri, "connectTimeoutMS=600000"),
            database_name=DATABASE,
            path=directory,
            use_transaction=args.transaction,
        )
        rss_before = peak_rss_mb()
        cpu_before = client_cpu_seconds()
        started = time.perf_counter()
        await run_migrate(settings)
        seconds = time.perf_counter() - started
        cpu = client_cpu_seconds() - cpu_before
    done = {"title": {"$exists": False}, "pages": {"$type": "int"}}
    migrated = sum(1 for _ in books.find(done, {"_id": 1}))
    assert migrated == args.documents, (migrated, args.documents)
    client.drop_database(DATABASE)
    client.close()
    return {
        "odm": "beanie",
        "documents": args.documents,
        "batch_size": args.batch_size,
        "transaction": args.transaction,
        "seconds": round(seconds, 2),
        "documents_per_second": round(args.documents / seconds),
        "client_cpu_us_per_document": round(cpu / args.documents * 1e6, 1),
        "peak_rss_mb_before_migrating": round(rss_before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.migrations_beanie")
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--no-transaction", dest="transaction", action="store_false", help="without one"
    )
    parser.add_argument("--uri", default=None, help="a server (default: a fresh embedded one)")
    args = parser.parse_args()
    if args.uri:
        result = anyio.run(run, args, args.uri)
    else:
        with MongoServer() as server:
            result = anyio.run(run, args, server.uri)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
