"""Client CPU of the read hot path: ``SyncEngine.find_one`` by id and ``find`` of 100
documents, for a plain model and a model with one reference, on the embedded server.

    python -m benchmarks.hot_path [--calls 2000] [--profile] [--spec-only] [--uri ...]

Prints client CPU per call in microseconds (``time.process_time``: the server runs in
its own process), the median of ``--rounds``, as one JSON line; the ``spec`` workloads
time building the call's specification alone (``make_first_spec``/``make_find_spec``:
argument checks, filter, lookups), without the round trip and its noise.
``--profile`` prints instead a cProfile of ``--calls`` ``find_one`` calls per model
(sorted by cumulative time), and how many times each argument check and plan step ran
per call.  ``PYTHONPATH=<other checkout>`` measures
another checkout's ``anyodm`` with the same script.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

import anyodm
from anyodm import Model, Reference, SyncEngine
from anyodm.core.find import make_find_spec, make_first_spec

DB = "bench_hot_path"

#: functions whose calls per ``find_one`` the profile reports
COUNTED = (
    "check_model_class",
    "build_filter",
    "build_sort",
    "find_pipeline",
    "path_into_references",
    "has_lookups",
    "loaded_paths",
    "loaded_back_references",
    "_first_path_into",
    "_paths",
    "read_plan",
    "has_text_search",
    "codec_options",
    "call_options",
    "make_first_spec",
)


class Author(Model):
    name: str
    born: int


class Book(Model):
    title: str
    pages: int
    author: Author = Reference()


class Plain(Model):
    title: str
    pages: int
    tags: list[str]


def _fill(engine: SyncEngine) -> tuple[Any, Any]:
    engine.remove(Plain)
    engine.remove(Book)
    engine.remove(Author)
    author = engine.save(Author(name="Ann", born=1970))
    plains = [Plain(title=f"t{i}", pages=i, tags=["a", "b"]) for i in range(100)]
    books = [Book(title=f"t{i}", pages=i, author=author) for i in range(100)]
    engine.save_all(plains)
    engine.save_all(books)
    return plains[0].id, books[0].id


def _cpu_per_call(run: Callable[[], Any], calls: int) -> float:
    run()  # warm up
    start = time.process_time()
    for _ in range(calls):
        run()
    return (time.process_time() - start) / calls


def measure(
    engine: SyncEngine, calls: int, rounds: int, spec_only: bool = False
) -> dict[str, float]:
    """Median client CPU per call (microseconds) of each workload over ``rounds``."""
    plain_id, book_id = _fill(engine)
    workloads: dict[str, Callable[[], Any]] = {
        "find_one plain": lambda: engine.find_one(Plain, Plain.id == plain_id),
        "find_one reference": lambda: engine.find_one(Book, Book.id == book_id),
        "find 100 plain": lambda: engine.find(Plain).to_list(),
        "find 100 reference": lambda: engine.find(Book).to_list(),
    }
    if spec_only:
        workloads = {}
    # the specification alone (checks, filter, lookups; no round trip): what a read plan
    # saves, without the round trip's noise
    workloads["find_one spec plain"] = lambda: make_first_spec(Plain, (Plain.id == plain_id,), None)
    workloads["find_one spec reference"] = lambda: make_first_spec(
        Book, (Book.id == book_id,), None
    )
    workloads["find spec reference"] = lambda: make_find_spec(Book, (), None, 0, None, "find")
    results: dict[str, list[float]] = {name: [] for name in workloads}
    for _ in range(rounds):
        for name, run in workloads.items():
            n = max(calls // 20, 10) if name.startswith("find 100") else calls
            results[name].append(_cpu_per_call(run, n) * 1e6)
    return {name: statistics.median(values) for name, values in results.items()}


def profile(engine: SyncEngine, calls: int) -> None:
    """cProfile of ``calls`` ``find_one`` by id per model, and the counted functions'
    calls per ``find_one``."""
    plain_id, book_id = _fill(engine)
    for label, model, key in (("plain", Plain, plain_id), ("reference", Book, book_id)):
        engine.find_one(model, model.id == key)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            engine.find_one(model, model.id == key)
        profiler.disable()
        stats = pstats.Stats(profiler)
        print(f"== find_one, {label} model: {calls} calls ==")
        counts: dict[str, float] = {}
        for (_, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
            if function in COUNTED:
                counts[function] = counts.get(function, 0) + row[1] / calls
        print("calls per find_one:", json.dumps(dict(sorted(counts.items()))))
        stats.sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--spec-only", action="store_true", help="only the specifications")
    parser.add_argument("--uri", default=None)
    args = parser.parse_args()
    server = None
    uri = args.uri
    if uri is None:
        from anyodm.testing import MongoServer

        server = MongoServer()
        server.start()
        uri = server.uri
    try:
        engine = SyncEngine(uri, DB)
        try:
            if args.profile:
                profile(engine, args.calls)
            else:
                figures: dict[str, Any] = {"anyodm": anyodm.__file__}
                figures.update(measure(engine, args.calls, args.rounds, args.spec_only))
                print(json.dumps(figures))
        finally:
            engine.close()
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
