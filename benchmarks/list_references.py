"""Loading documents with a list of references: 1,000 books with 5 authors each, every
book loaded with its authors, anyodm beside Beanie's ``fetch_links=True`` and raw
PyMongo sending anyodm's own pipeline.

    UV_PROJECT_ENVIRONMENT=.venv-bench uv run --no-sync python -m benchmarks.list_references
    ... python -m benchmarks.list_references --rounds 1 --loads 2   # smoke

Standalone, like ``benchmarks/server_ops.py``; its section of the benchmarks page is kept
in ``benchmarks/list_references_section.md`` (included by the report). One
embedded server in its own process holds 200 authors and 1,000 books (anyodm's books
store the authors' ``_id``s, Beanie's the ``DBRef``s its ``Link`` uses); each (round,
client) runs in a fresh Python process; CPU time is the client process's.  Medians over
the rounds go to ``benchmarks/results/list_references.json`` and ``.md``.

* anyodm: ``find(Book)`` with ``authors: list[Author] = Reference()`` (one aggregate
  with one ``$lookup``, each book and its 5 authors validated into models);
* raw PyMongo: the same pipeline (``anyodm.model.references.find_pipeline``) through
  ``collection.aggregate``, dicts only (no model): the floor;
* Beanie: ``Book.find_all(fetch_links=True)`` with ``authors: list[Link[Author]]``.

The server is ``$MONGODB_URI``'s if set, else anyodm.testing's embedded one, whose
``$lookup`` on ``_id`` is keyed like MongoDB's index-backed join
(``anyodm/testing/_lookup_patch.py``); ``--plain-server`` runs mongoeco without
anyodm.testing's patches instead, for comparison.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DB = "anyodm_bench_list_refs"
BOOKS = 1000
AUTHORS = 200
PER_BOOK = 5

CLIENTS = ("pymongo_sync", "anyodm_sync", "anyodm_asyncio", "anyodm_trio", "beanie")


def _anyodm_models() -> tuple[Any, Any]:
    from anyodm import Model, Reference
    from anyodm.model import ODMConfigDict

    class Author(Model):
        model_config = ODMConfigDict(collection="authors")
        name: str
        country: str

    class Book(Model):
        model_config = ODMConfigDict(collection="books")
        title: str
        pages: int
        authors: list[Author] = Reference()

    return Author, Book


def _beanie_models() -> tuple[Any, Any]:
    from beanie import Document, Link

    class AuthorB(Document):
        name: str
        country: str

        class Settings:
            name = "authors"

    class BookB(Document):
        title: str
        pages: int
        authors: list[Link[AuthorB]]

        class Settings:
            name = "books_beanie"

    return AuthorB, BookB


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float], docs: int) -> dict[str, float]:
    wall, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
    return {"ops": docs, "wall": wall, "cpu": cpu}


# -- one client, in its own process ------------------------------------------------------


def run_client(client: str, uri: str, loads: int) -> dict[str, Any]:
    if client in ("pymongo_sync", "anyodm_sync"):
        return _run_sync(client, uri, loads)
    import anyio

    backend = "trio" if client == "anyodm_trio" else "asyncio"
    result: dict[str, Any] = anyio.run(_run_async, client, uri, loads, backend=backend)
    return result


def _run_sync(client: str, uri: str, loads: int) -> dict[str, Any]:
    from pymongo import MongoClient

    from anyodm.model.references import find_pipeline

    _, Book = _anyodm_models()
    mongo: MongoClient[Any] = MongoClient(uri)
    if client == "pymongo_sync":
        coll = mongo[DB]["books"]
        pipeline = find_pipeline(Book, {}, None, 0, None)

        def load() -> int:
            return len(coll.aggregate(pipeline).to_list())
    else:
        from anyodm import SyncEngine

        engine = SyncEngine(mongo, DB)

        def load() -> int:
            books = engine.find(Book).to_list()
            assert len(books[0].authors) == PER_BOOK
            return len(books)

    load()  # warm-up
    start = _clock()
    count = sum(load() for _ in range(loads))
    out = {"load": _since(start, count)}
    mongo.close()
    return out


async def _run_async(client: str, uri: str, loads: int) -> dict[str, Any]:
    closers: list[Any] = []
    if client == "beanie":
        from beanie import init_beanie
        from pymongo import AsyncMongoClient

        AuthorB, BookB = _beanie_models()
        amongo: Any = AsyncMongoClient(uri)
        await init_beanie(database=amongo[DB], document_models=[AuthorB, BookB])

        async def load() -> int:
            books = await BookB.find_all(fetch_links=True).to_list()
            assert isinstance(books[0].authors[0], AuthorB)
            return len(books)

        closers.append(amongo.close)
    else:
        from pymongo import MongoClient

        from anyodm import Engine

        _, Book = _anyodm_models()
        mongo: Any = MongoClient(uri)
        engine = Engine(mongo, DB)

        async def load() -> int:
            books = await engine.find(Book)
            assert len(books[0].authors) == PER_BOOK
            return len(books)

        closers.append(mongo.close)
    await load()
    start = _clock()
    count = 0
    for _ in range(loads):
        count += await load()
    out = {"load": _since(start, count)}
    for close in closers:
        result = close()
        if hasattr(result, "__await__"):
            await result
    return out


# -- the run -----------------------------------------------------------------------------


def _seed(uri: str) -> None:
    import random

    from bson import DBRef, ObjectId
    from pymongo import MongoClient

    rng = random.Random(15)
    client: MongoClient[Any] = MongoClient(uri)
    db = client[DB]
    for name in ("authors", "books", "books_beanie"):
        db[name].drop()
    authors = [
        {"_id": ObjectId(), "name": f"author {i}", "country": rng.choice(["FR", "IT", "US"])}
        for i in range(AUTHORS)
    ]
    db["authors"].insert_many(authors)
    books, books_beanie = [], []
    for i in range(BOOKS):
        chosen = rng.sample(authors, PER_BOOK)
        book = {"title": f"book {i}", "pages": rng.randint(50, 900)}
        books.append({**book, "authors": [a["_id"] for a in chosen]})
        books_beanie.append({**book, "authors": [DBRef("authors", a["_id"]) for a in chosen]})
    db["books"].insert_many(books)
    db["books_beanie"].insert_many(books_beanie)
    client.close()


def _worker(client: str, uri: str, loads: int) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.list_references",
            "--worker",
            client,
            "--uri",
            uri,
            "--loads",
            str(loads),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _report(results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Loading documents with a list of references",
        "",
        f"{meta['rounds']} round(s), each client in a fresh process per round, medians; "
        f"{meta['loads']} loads of {BOOKS} books with {PER_BOOK} referenced authors each "
        f"(out of {AUTHORS}). CPU is the client process's (the embedded server runs in its "
        f"own process). Server: {meta.get('server', '?')}. "
        "Generated by `python -m benchmarks.list_references`.",
        "",
        "| client | books/s | µs CPU/book | µs wall/book |",
        "| --- | --- | --- | --- |",
    ]
    for client, row in results.items():
        if "error" in row:
            lines.append(f"| {client} | error: {row['error']} | | |")
            continue
        load = row["load"]
        lines.append(
            f"| {client} | {load['ops_s']:.0f} | {load['cpu_us']:.1f} | {load['wall_us']:.1f} |"
        )
    beanie = results.get("beanie", {}).get("load")
    raw = results.get("pymongo_sync", {}).get("load")
    lines.append("")
    for client in ("anyodm_sync", "anyodm_asyncio", "anyodm_trio"):
        row = results.get(client, {}).get("load")
        if row is None:
            continue
        if beanie:
            ratio = row["ops_s"] / beanie["ops_s"]
            lines.append(f"- {client}: {ratio:.2f}x Beanie's books/s (goal >= 1.5x)")
        if raw:
            ratio = row["ops_s"] / raw["ops_s"]
            lines.append(f"- {client}: {ratio:.2f}x raw PyMongo's books/s (same pipeline, dicts)")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _server(plain: bool) -> Iterator[tuple[str, str]]:
    """The server's URI and what it is: $MONGODB_URI's, or an embedded one."""
    from anyodm.testing import MongoServer, mongodb_server

    if os.environ.get("MONGODB_URI", "").strip() and not plain:
        with mongodb_server(env="MONGODB_URI") as uri:
            yield uri, "MONGODB_URI"
        return
    with MongoServer(patch=not plain) as server:
        if plain:
            yield server.uri, "embedded mongoeco without anyodm.testing's patches ($lookup as is)"
        elif server.info.get("keyed_lookup"):
            yield server.uri, "embedded (anyodm.testing), $lookup on _id keyed"
        else:
            yield server.uri, "embedded (anyodm.testing), keyed $lookup patch NOT applied"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker")
    parser.add_argument("--uri")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument(
        "--plain-server",
        action="store_true",
        help="an embedded mongoeco without anyodm.testing's patches (its own $lookup)",
    )
    args = parser.parse_args()
    if args.worker:
        result = run_client(args.worker, args.uri, args.loads)
        sys.stdout.write(json.dumps(result) + "\n")
        return

    clients = [c for c in args.clients.split(",") if c]
    samples: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    errors: dict[str, str] = {}
    with _server(args.plain_server) as (uri, server):
        _seed(uri)
        for round_no in range(args.rounds):
            order = clients[round_no % len(clients) :] + clients[: round_no % len(clients)]
            for client in order:
                result = _worker(client, uri, args.loads)
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
        runs = [s["load"] for s in samples[client]]
        results[client] = {
            "load": {
                "cpu_us": statistics.median(r["cpu"] / r["ops"] * 1e6 for r in runs),
                "wall_us": statistics.median(r["wall"] / r["ops"] * 1e6 for r in runs),
                "ops_s": statistics.median(r["ops"] / r["wall"] for r in runs),
                "runs": runs,
            }
        }
    meta = {"rounds": args.rounds, "loads": args.loads, "server": server}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "list_references.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1, default=str)
    )
    (RESULTS / "list_references.md").write_text(_report(results, meta))
    print(_report(results, meta))


if __name__ == "__main__":
    main()
