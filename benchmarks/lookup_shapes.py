"""Which ``$lookup`` shape loads a list of references fastest on the embedded server
(research for issue 15; nothing here is used by anyodm).

    UV_PROJECT_ENVIRONMENT=.venv-bench uv run --no-sync python -m benchmarks.lookup_shapes
    ... python -m benchmarks.lookup_shapes --reps 1 --loads 1        # smoke
    ... python -m benchmarks.lookup_shapes --profile current         # cProfile the server

The data is ``benchmarks/list_references.py``'s (1,000 books, each with the ``_id``s of
5 of 200 authors).  Every shape is sent through raw PyMongo (dicts, no models) to one
embedded server; each repetition runs every shape ``--loads`` times, in an order rotated
per repetition (the machine is shared: alternating spreads the noise), and the report
gives the median µs of wall time per book.  Each shape's result is compared with the
pipeline anyodm sends today (``current``):

* identical: the same documents, same order, same fields in the same order, the same
  looked-up documents in the same order (compared as BSON bytes);
* same after ordering: identical once each book's looked-up documents are put in the
  order of its stored keys, which anyodm does in the client anyway.

``--profile SHAPE`` runs the server under cProfile while SHAPE is loaded and prints the
server's top functions (where the server's time goes).  The server is anyodm.testing's,
whose ``$lookup`` on ``_id`` is keyed (``anyodm/testing/_lookup_patch.py``);
``--plain-server`` runs mongoeco as is, without any of anyodm.testing's patches.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bson

from benchmarks.list_references import BOOKS, DB, _seed

FOUND = "__anyodm_found_authors"  # anyodm's found_key("authors")

Docs = list[dict[str, Any]]


def _aggregate(stages: list[dict[str, Any]]) -> Callable[[Any], Docs]:
    def run(db: Any) -> Docs:
        return list(db["books"].aggregate(stages))

    run.stages = stages  # type: ignore[attr-defined]
    return run


#: what anyodm.model.references.find_pipeline emits for Book today
CURRENT = [
    {"$lookup": {"from": "authors", "localField": "authors", "foreignField": "_id", "as": FOUND}}
]

LET_PIPELINE = [
    {
        "$lookup": {
            "from": "authors",
            "let": {"ids": "$authors"},
            "pipeline": [{"$match": {"$expr": {"$in": ["$_id", "$$ids"]}}}],
            "as": FOUND,
        }
    }
]

#: MongoDB >= 5.0: the equality join and a sub-pipeline in one $lookup
CONCISE_EMPTY = [
    {
        "$lookup": {
            "from": "authors",
            "localField": "authors",
            "foreignField": "_id",
            "pipeline": [],
            "as": FOUND,
        }
    }
]

CONCISE_PROJECT = [
    {
        "$lookup": {
            "from": "authors",
            "localField": "authors",
            "foreignField": "_id",
            "pipeline": [{"$project": {"name": 1, "country": 1}}],
            "as": FOUND,
        }
    }
]

#: the current $lookup followed by a $project keeping every field (the cost of one
#: extra streaming stage)
CURRENT_PROJECT = [
    *CURRENT,
    {"$project": {"title": 1, "pages": 1, "authors": 1, FOUND: 1}},
]

#: one key per document, joined, regrouped in stored order
UNWIND_REGROUP = [
    {"$unwind": {"path": "$authors", "includeArrayIndex": "__i"}},
    {"$lookup": {"from": "authors", "localField": "authors", "foreignField": "_id", "as": "__f"}},
    {"$sort": {"_id": 1, "__i": 1}},
    {
        "$group": {
            "_id": "$_id",
            "doc": {"$first": "$$ROOT"},
            "ids": {"$push": "$authors"},
            "found": {"$push": {"$arrayElemAt": ["$__f", 0]}},
        }
    },
    {"$sort": {"_id": 1}},
    {"$replaceWith": {"$mergeObjects": ["$doc", {"authors": "$ids", FOUND: "$found"}]}},
    {"$unset": ["__i", "__f"]},
]

#: the same without the sorts (mongoeco's $group keeps first-seen order; MongoDB's does not)
UNWIND_GROUP = [
    {"$unwind": "$authors"},
    {"$lookup": {"from": "authors", "localField": "authors", "foreignField": "_id", "as": "__f"}},
    {
        "$group": {
            "_id": "$_id",
            "doc": {"$first": "$$ROOT"},
            "ids": {"$push": "$authors"},
            "found": {"$push": {"$arrayElemAt": ["$__f", 0]}},
        }
    },
    {"$replaceWith": {"$mergeObjects": ["$doc", {"authors": "$ids", FOUND: "$found"}]}},
    {"$unset": "__f"},
]

#: one document per key, left for the client to regroup (server side only)
UNWIND_ONLY = [
    {"$unwind": "$authors"},
    {"$lookup": {"from": "authors", "localField": "authors", "foreignField": "_id", "as": "__f"}},
]

#: one round trip, no per-book join: the books, then (``$unionWith``) each distinct
#: referenced author once, for the client to join (the books' filter, sort, skip and
#: limit would have to be repeated inside the union)
UNION_DISTINCT = [
    {
        "$unionWith": {
            "coll": "books",
            "pipeline": [
                {"$project": {"_id": 0, "authors": 1}},
                {"$unwind": "$authors"},
                {"$group": {"_id": "$authors"}},
                {
                    "$lookup": {
                        "from": "authors",
                        "localField": "_id",
                        "foreignField": "_id",
                        "as": "a",
                    }
                },
                {"$unwind": "$a"},
                {"$replaceWith": {"__anyodm_author": "$a"}},
            ],
        }
    }
]


def _union_distinct(db: Any) -> Docs:
    books, by_id = [], {}
    for doc in db["books"].aggregate(UNION_DISTINCT):
        author = doc.get("__anyodm_author")
        if author is None:
            books.append(doc)
        else:
            by_id[author["_id"]] = author
    for book in books:
        book[FOUND] = [by_id[key] for key in book["authors"] if key in by_id]
    return books


#: the looked-up documents replace the keys (smaller reply; loses stored order and
#: which key is missing, so not a candidate: the cost of the reply's size only)
AS_AUTHORS = [
    {
        "$lookup": {
            "from": "authors",
            "localField": "authors",
            "foreignField": "_id",
            "as": "authors",
        }
    }
]

#: the current $lookup on a foreign collection of 200 + 19,800 unrelated authors
#: (``--big``): what the foreign collection's size costs each aggregate
CURRENT_BIG = [
    {
        "$lookup": {
            "from": "authors_big",
            "localField": "authors",
            "foreignField": "_id",
            "as": FOUND,
        }
    }
]

#: what Beanie's ``find_all(fetch_links=True)`` sends for ``list[Link[Author]]``
BEANIE = [
    {
        "$lookup": {
            "from": "authors",
            "localField": "authors.$id",
            "foreignField": "_id",
            "as": "authors",
        }
    }
]

#: what Beanie 2 sends for ``find_all(fetch_links=True)``: the lookup and a $project
BEANIE_WITH_PROJECT = [
    *BEANIE,
    {"$project": {"_id": 1, "revision_id": 1, "title": 1, "pages": 1, "authors": 1}},
]

#: the old server-side ordering (each key replaced by its document with $map/$filter)
SERVER_ORDER_MAP = [
    *CURRENT,
    {
        "$set": {
            FOUND: {
                "$map": {
                    "input": "$authors",
                    "as": "k",
                    "in": {
                        "$arrayElemAt": [
                            {
                                "$filter": {
                                    "input": f"${FOUND}",
                                    "as": "f",
                                    "cond": {"$eq": ["$$f._id", "$$k"]},
                                }
                            },
                            0,
                        ]
                    },
                }
            }
        }
    },
]


def _two_queries(db: Any) -> Docs:
    """Books, then their authors with one $in, joined in the client (reference only)."""
    books = list(db["books"].find({}))
    keys = {key for book in books for key in book["authors"]}
    by_id = {a["_id"]: a for a in db["authors"].find({"_id": {"$in": list(keys)}})}
    for book in books:
        book[FOUND] = [by_id[key] for key in book["authors"] if key in by_id]
    return books


def _two_queries_big(db: Any) -> Docs:
    books = list(db["books"].find({}))
    keys = {key for book in books for key in book["authors"]}
    by_id = {a["_id"]: a for a in db["authors_big"].find({"_id": {"$in": list(keys)}})}
    for book in books:
        book[FOUND] = [by_id[key] for key in book["authors"] if key in by_id]
    return books


def _seed_big(db: Any) -> None:
    """``authors_big``: the 200 authors and 19,800 others nobody references."""
    from bson import ObjectId

    db["authors_big"].drop()
    filler = [{"_id": ObjectId(), "name": f"other {i}", "country": "XX"} for i in range(19_800)]
    db["authors_big"].insert_many(filler[:9_900])
    db["authors_big"].insert_many(list(db["authors"].find({})))
    db["authors_big"].insert_many(filler[9_900:])


def _beanie(db: Any) -> Docs:
    """Beanie's own fetch_links pipeline for the same books (stored as DBRefs), raw."""
    return list(db["books_beanie"].aggregate(BEANIE))


def _beanie_with_project(db: Any) -> Docs:
    """Beanie's whole fetch_links pipeline (with its $project), raw."""
    return list(db["books_beanie"].aggregate(BEANIE_WITH_PROJECT))


def _books_only(db: Any) -> Docs:
    return list(db["books"].find({}))


SHAPES: dict[str, Callable[[Any], Docs]] = {
    "current": _aggregate(CURRENT),
    "current_project": _aggregate(CURRENT_PROJECT),
    "concise_empty": _aggregate(CONCISE_EMPTY),
    "concise_project": _aggregate(CONCISE_PROJECT),
    "let_pipeline": _aggregate(LET_PIPELINE),
    "unwind_regroup": _aggregate(UNWIND_REGROUP),
    "unwind_group": _aggregate(UNWIND_GROUP),
    "unwind_only": _aggregate(UNWIND_ONLY),
    "as_authors": _aggregate(AS_AUTHORS),
    "server_order_map": _aggregate(SERVER_ORDER_MAP),
    "two_queries": _two_queries,
    "union_distinct": _union_distinct,
    "beanie_pipeline": _beanie,
    "beanie_with_project": _beanie_with_project,
    "books_only_find": _books_only,
    "current_big": _aggregate(CURRENT_BIG),
    "two_queries_big": _two_queries_big,
    "books_only_aggregate": _aggregate([]),
}
#: shapes too slow to repeat as often as the others
SLOW = {"let_pipeline", "concise_empty", "concise_project", "two_queries_big"}


def _ordered(docs: Docs) -> Docs:
    """Each book's looked-up documents in the order of its stored keys."""
    out = []
    for doc in docs:
        found = {a["_id"]: a for a in doc.get(FOUND, [])}
        out.append({**doc, FOUND: [found[k] for k in doc["authors"] if k in found]})
    return out


def _compare(reference: Docs, docs: Docs) -> str:
    if len(docs) != len(reference):
        return f"no: {len(docs)} documents"
    if [bson.encode(d) for d in docs] == [bson.encode(d) for d in reference]:
        return "identical"
    try:
        ordered = _ordered(docs)
    except (KeyError, TypeError):
        return "different"
    if [bson.encode(d) for d in ordered] == [bson.encode(d) for d in _ordered(reference)]:
        return "same after ordering"
    if sorted(ordered, key=lambda d: d["_id"]) == sorted(
        _ordered(reference), key=lambda d: d["_id"]
    ):
        return "same content, other order"
    return "different"


def _time(shape: Callable[[Any], Docs], db: Any, loads: int) -> float:
    start = time.perf_counter()
    for _ in range(loads):
        shape(db)
    return (time.perf_counter() - start) / (loads * BOOKS) * 1e6


def _profiled_python() -> tuple[str, str]:
    """A wrapper interpreter running the server under cProfile, and where it writes."""
    out = tempfile.mkdtemp(prefix="lookup-shapes-")
    stats = os.path.join(out, "server.prof")
    wrapper = os.path.join(out, "python")
    Path(wrapper).write_text(
        f'#!/bin/sh\nexec {sys.executable} -m cProfile -o {stats} "$@"\n', encoding="utf-8"
    )
    os.chmod(wrapper, 0o755)
    return wrapper, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--shapes", default=",".join(SHAPES))  # *_big ones need --big
    parser.add_argument(
        "--plain-server",
        action="store_true",
        help="mongoeco as is: none of anyodm.testing's patches (no keyed $lookup on _id)",
    )
    parser.add_argument("--big", action="store_true", help="also a 20,000-author collection")
    parser.add_argument("--profile", help="cProfile the server while this shape loads")
    args = parser.parse_args()

    from pymongo import MongoClient

    from anyodm.testing import MongoServer

    python, stats = _profiled_python() if args.profile else (None, "")
    with MongoServer(python=python, patch=not args.plain_server) as server:
        client: MongoClient[Any] = MongoClient(server.uri)
        _seed(server.uri)
        db = client[DB]
        if args.big:
            _seed_big(db)
        if args.profile:
            shape = SHAPES[args.profile]
            shape(db)
            print(f"{args.profile}: {_time(shape, db, args.loads):.1f} us/book (profiled)")
            client.close()
        else:
            _run(db, args)
            client.close()
    if args.profile:
        import pstats

        pstats.Stats(stats).sort_stats("cumulative").print_stats(45)
        pstats.Stats(stats).sort_stats("tottime").print_stats(30)


def _run(db: Any, args: argparse.Namespace) -> None:
    names = [n for n in args.shapes.split(",") if n]
    if not args.big:
        names = [n for n in names if not n.endswith("_big")]
    reference = SHAPES["current"](db)
    verdicts = {}
    for name in names:
        docs = SHAPES[name](db)  # also the warm-up
        verdicts[name] = "(reference)" if name == "current" else _compare(reference, docs)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(args.reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        done = []
        for name in order:
            if name in SLOW and rep >= 2:
                continue
            loads = 1 if name in SLOW else args.loads
            samples[name].append(_time(SHAPES[name], db, loads))
            done.append(f"{name} {samples[name][-1]:.0f}")
        print(f"rep {rep + 1}: " + ", ".join(done), file=sys.stderr)
    base = statistics.median(samples["current"]) if samples.get("current") else None
    print("| shape | µs/book (median) | runs | vs current | result vs current |")
    print("| --- | --- | --- | --- | --- |")
    for name in names:
        med = statistics.median(samples[name])
        ratio = f"{base / med:.2f}x" if base else ""
        runs = " ".join(f"{s:.0f}" for s in samples[name])
        print(f"| {name} | {med:.1f} | {runs} | {ratio} | {verdicts[name]} |")


if __name__ == "__main__":
    main()
