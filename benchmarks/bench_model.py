"""Server-free benchmark of the model layer's hot paths.

Parses 10,000 stored documents (BSON-decoded, as the driver returns them) of a 12-field
model with an embedded model and a list, and dumps 10,000 instances back to documents,
with anyodm, ODMantic, Beanie and a plain pydantic model with the same fields (the
floor: no ODM work at all), in one process on the same data.

    UV_PROJECT_ENVIRONMENT=.venv-bench uv run --group bench python benchmarks/bench_model.py

Writes ``benchmarks/results/model.json`` and ``benchmarks/results/model.md``.
"""

import datetime
import gc
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bson
import pydantic

N = 10_000
REPEATS = 7
RESULTS = Path(__file__).parent / "results"


def make_docs() -> list[dict[str, Any]]:
    base = datetime.datetime(2024, 1, 1)
    docs = [
        {
            "_id": bson.ObjectId(),
            "title": f"Book number {i}",
            "author": f"Author {i % 97}",
            "pages": 100 + i % 900,
            "price": 9.99 + i % 50,
            "published": base + datetime.timedelta(minutes=i),
            "isbn": f"978-{i:010d}",
            "in_stock": i % 3 == 0,
            "rating": (i % 50) / 10,
            "tags": [f"tag{j}" for j in range(i % 5)],
            "publisher": {
                "name": f"Publisher {i % 13}",
                "city": "Paris",
                "founded": 1900 + i % 100,
            },
            "notes": None if i % 2 else "a note",
        }
        for i in range(N)
    ]
    # exactly what the driver hands over: BSON-decoded dicts
    return [bson.decode(bson.encode(doc)) for doc in docs]


# ------------------------------------------------------------------ the models


def anyodm_models() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    from anyodm.model import EmbeddedModel, Model

    class Publisher(EmbeddedModel):
        name: str
        city: str
        founded: int

    class Book(Model):
        title: str
        author: str
        pages: int
        price: float
        published: datetime.datetime
        isbn: str
        in_stock: bool
        rating: float
        tags: list[str]
        publisher: Publisher
        notes: str | None = None

    return Book.model_validate_doc, Book.model_dump_doc


def plain_models() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    class Publisher(pydantic.BaseModel):
        name: str
        city: str
        founded: int

    class Book(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        id: bson.ObjectId = pydantic.Field(alias="_id")
        title: str
        author: str
        pages: int
        price: float
        published: datetime.datetime
        isbn: str
        in_stock: bool
        rating: float
        tags: list[str]
        publisher: Publisher
        notes: str | None = None

    return Book.model_validate, lambda book: book.model_dump(by_alias=True)


def odmantic_models() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    import odmantic

    global Publisher  # ODMantic resolves annotations in the module namespace only

    class Publisher(odmantic.EmbeddedModel):
        name: str
        city: str
        founded: int

    class Book(odmantic.Model):
        title: str
        author: str
        pages: int
        price: float
        published: datetime.datetime
        isbn: str
        in_stock: bool
        rating: float
        tags: list[str]
        publisher: Publisher
        notes: str | None = None

    return Book.model_validate_doc, Book.model_dump_doc


def beanie_models() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    import beanie
    from beanie.odm.utils.encoder import Encoder

    class Publisher(pydantic.BaseModel):
        name: str
        city: str
        founded: int

    class Book(beanie.Document):
        title: str
        author: str
        pages: int
        price: float
        published: datetime.datetime
        isbn: str
        in_stock: bool
        rating: float
        tags: list[str]
        publisher: Publisher
        notes: str | None = None

    import asyncio

    from pymongo import AsyncMongoClient

    # Beanie needs init_beanie before parsing. It asks the server only for buildInfo and
    # the collection names: answer those two locally so that no server is needed.
    client: Any = AsyncMongoClient("mongodb://127.0.0.1:9", connect=False)
    database = client.bench

    class OfflineDatabase:
        def __getattr__(self, name: str) -> Any:
            return getattr(database, name)

        def __getitem__(self, name: str) -> Any:
            return database[name]

        async def command(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return {"version": "7.0.0"}

        async def list_collection_names(self, *args: Any, **kwargs: Any) -> list[str]:
            return []

    asyncio.run(
        beanie.init_beanie(database=OfflineDatabase(), document_models=[Book], skip_indexes=True)
    )
    encoder = Encoder(to_db=True, keep_nulls=True)
    # Beanie's find path builds documents with pydantic's model_validate of the raw doc
    return Book.model_validate, encoder.encode


# ------------------------------------------------------------------ timing


def best_us_per_doc(func: Callable[[Any], Any], items: list[Any]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        for item in items:
            func(item)
        elapsed = time.perf_counter() - start
        gc.enable()
        best = min(best, elapsed)
    return best / len(items) * 1e6


def main() -> None:
    docs = make_docs()
    contenders = {
        "plain pydantic (floor)": plain_models,
        "anyodm": anyodm_models,
        "ODMantic": odmantic_models,
        "Beanie": beanie_models,
    }
    results: dict[str, dict[str, float | str]] = {}
    for name, build in contenders.items():
        try:
            parse, dump = build()
            instances = [parse(doc) for doc in docs]
            results[name] = {
                "parse_us": best_us_per_doc(parse, docs),
                "dump_us": best_us_per_doc(dump, instances),
            }
        except Exception as exc:  # a peer that cannot run here is reported, not fatal
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(name, results[name], flush=True)

    versions = {"python": platform.python_version(), "pydantic": pydantic.VERSION}
    for module in ("odmantic", "beanie", "pymongo"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:
            versions[module] = "n/a"
    payload = {"documents": N, "repeats": REPEATS, "versions": versions, "results": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "model.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / "model.md").write_text(report(payload))
    print(report(payload))


def report(payload: dict[str, Any]) -> str:
    results = payload["results"]
    floor = results["plain pydantic (floor)"]
    ours = results["anyodm"]
    lines = [
        "# Model layer benchmark",
        "",
        f"{payload['documents']:,} documents of a 12-field model (embedded model, list of "
        f"strings, datetime, optional field), BSON-decoded as the driver returns them; best "
        f"of {payload['repeats']} runs; µs per document. Produced by `benchmarks/bench_model.py`.",
        "",
        "| implementation | parse µs/doc | x floor | anyodm faster by | dump µs/doc | x floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in results.items():
        if "error" in row:
            lines.append(f"| {name} | {row['error']} | | | | |")
            continue
        lines.append(
            f"| {name} | {row['parse_us']:.2f} | {row['parse_us'] / floor['parse_us']:.2f}x "
            f"| {row['parse_us'] / ours['parse_us']:.2f}x | {row['dump_us']:.2f} "
            f"| {row['dump_us'] / floor['dump_us']:.2f}x |"
        )
    versions = ", ".join(f"{k} {v}" for k, v in payload["versions"].items())
    lines += ["", f"Versions: {versions}; {sys.platform}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
