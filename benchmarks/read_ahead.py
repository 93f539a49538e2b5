"""Read-ahead: fetching 10,000 documents as models in 1,000-document batches (ten round
trips), anyodm's async find beside the floor.

    uv run --no-sync python -m benchmarks.read_ahead                  # 8 rounds
    uv run --no-sync python -m benchmarks.read_ahead --rounds 1 --cycles 1   # smoke

One embedded server in its own process holds the common document (``benchmarks/
common.py``) 10,000 times.  A round runs, for each backend (asyncio, trio), one fresh
Python process that fetches the collection with every client ``--warmup`` times
unmeasured, then ``--cycles`` A B B A cycles: every client once in the order below,
then once in reverse, one fetch each.  Each ratio to the floor is taken per cycle (the
mean of a client's two runs over the floor's two), so the machine's drift (it is
shared, and its speed changes by tens of percent within minutes) cancels out.

* ``raw``: PyMongo, ``find(batch_size=1000).to_list()``, dicts, no model: the
  server's and the driver's cost, sequentially (the physical limit of this machine's
  setup is the server's share of it).
* ``floor``: PyMongo batch after batch, each validated with ``model_validate`` of a
  plain pydantic model before the next ``getMore``, in one thread (what a user without
  an ODM writes).
* ``anyodm``: ``await engine.find(Person, batch_size=1000)`` (reads one batch ahead);
  ``anyodm_stream``: ``async for`` over the same find.
* ``anyodm_no_read_ahead``: ``await engine.find(...)`` on an engine with
  ``max_threads=1``, which has no slot to spare for a read ahead (each batch is read
  when asked for): what the read-ahead itself gains.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DB = "anyodm_bench_read_ahead"
COLLECTION = "people_read_ahead"
DOCS = 10_000
BATCH = 1000

CLIENTS = ("raw", "floor", "anyodm", "anyodm_stream", "anyodm_no_read_ahead")
BACKENDS = ("asyncio", "trio")


def _plain_person() -> Any:
    from benchmarks.change_streams import _plain_person

    return _plain_person()


# -- one round: every client of one backend, in one process, A B B A -------------------


def run_round(backend: str, uri: str, warmup: int, cycles: int) -> dict[str, list[Any]]:
    """``cycles`` times: each client once in ``CLIENTS`` order, then once in reverse (so
    each pair of neighbours is measured A B B A); one fetch of the collection each.
    The ``raw`` and ``floor`` clients run in the event loop's thread (blocking it:
    nothing else runs), which is what a one-thread client does."""
    import anyio

    result: dict[str, list[Any]] = anyio.run(_run_round, uri, warmup, cycles, backend=backend)
    return result


async def _run_round(uri: str, warmup: int, cycles: int) -> dict[str, list[Any]]:
    from pymongo import MongoClient

    from anyodm import Engine
    from benchmarks.clients.anyodm_clients import _person

    mongo: MongoClient[Any] = MongoClient(uri)
    coll = mongo[DB][COLLECTION]
    PlainPerson = _plain_person()
    Person = _person(COLLECTION)
    engine = Engine(client=mongo, database=DB)
    one_slot = Engine(client=mongo, database=DB, max_threads=1)

    async def raw() -> int:
        return len(coll.find({}, batch_size=BATCH).to_list())

    async def floor() -> int:
        models: list[Any] = []
        cursor = coll.find({}, batch_size=BATCH)
        while docs := cursor.to_list(BATCH):
            models.extend(PlainPerson.model_validate(doc) for doc in docs)
        return len(models)

    async def anyodm() -> int:
        return len(await engine.find(Person, batch_size=BATCH))

    async def anyodm_stream() -> int:
        return len([p async for p in engine.find(Person, batch_size=BATCH)])

    async def anyodm_no_read_ahead() -> int:
        return len(await one_slot.find(Person, batch_size=BATCH))

    fetches = {
        "raw": raw,
        "floor": floor,
        "anyodm": anyodm,
        "anyodm_stream": anyodm_stream,
        "anyodm_no_read_ahead": anyodm_no_read_ahead,
    }
    for fetch in fetches.values():
        for _ in range(warmup):
            await fetch()
    runs: dict[str, list[Any]] = {name: [] for name in fetches}
    for _ in range(cycles):
        for name in [*fetches, *reversed(fetches)]:
            start = (time.perf_counter(), time.process_time())
            docs = await fetches[name]()
            runs[name].append(_since(start, docs))
    return runs


def _since(start: tuple[float, float], docs: int) -> dict[str, Any]:
    wall, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
    return {"docs": docs, "wall": wall, "cpu": cpu}


# -- the runner ---------------------------------------------------------------------------


def _seed(uri: str) -> None:
    from pymongo import MongoClient

    from benchmarks.common import as_document, make_fields

    client: MongoClient[Any] = MongoClient(uri)
    coll = client[DB][COLLECTION]
    coll.drop()
    coll.insert_many([as_document(f) for f in make_fields(DOCS)])
    client.close()


def _worker(backend: str, uri: str, warmup: int, cycles: int) -> dict[str, Any]:
    args = ["--worker", backend, "--uri", uri, "--warmup", str(warmup), "--cycles", str(cycles)]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.read_ahead", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _rate(run: dict[str, Any]) -> float:
    return float(run["docs"] / run["wall"])


def _cycle_rates(runs: list[dict[str, Any]]) -> list[float]:
    """Docs/s of each A B B A cycle: the mean of its forward and backward runs."""
    return [(_rate(a) + _rate(b)) / 2 for a, b in zip(runs[::2], runs[1::2], strict=True)]


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _span(values: list[float], fmt: str) -> str:
    return f"{format(min(values), fmt)}-{format(max(values), fmt)}"


def _report(samples: dict[str, dict[str, list[Any]]], meta: dict[str, Any]) -> str:
    lines = [
        "# Read-ahead: 10,000 documents as models, in 1,000-document batches",
        "",
        f"`python -m benchmarks.read_ahead --rounds {meta['rounds']} --cycles "
        f"{meta['cycles']}`: {meta['rounds']} rounds; in each, one fresh process per "
        f"backend runs {meta['cycles']} A B B A cycles of every client (each client once "
        "forwards, once backwards), one fetch of the "
        f"{DOCS:,} documents per run, after {meta['warmup']} unmeasured fetches of each. "
        "Ratios are per cycle (the client's two runs over the floor's two runs of the "
        "same cycle); one embedded server (mongoeco, its own process) on the same "
        "machine.",
        "",
        f"Machine: {meta['cpus']} CPUs, shared with other work; load averages (1, 5, "
        f"15 min) {meta['load_before']} before, {meta['load_after']} after.",
        "",
    ]
    for backend in BACKENDS:
        runs_of = samples.get(backend, {})
        floors = _cycle_rates(runs_of.get("floor", []))
        lines += [
            f"## {backend}",
            "",
            "| client | docs/s (median) | range | x floor (median per cycle) | range "
            "| client CPU µs/doc |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for client in CLIENTS:
            runs = runs_of.get(client, [])
            if not runs:
                lines.append(f"| {client} | no sample | | | | |")
                continue
            rates = [_rate(r) for r in runs]
            ratios = [a / b for a, b in zip(_cycle_rates(runs), floors, strict=False)]
            cpu = statistics.median(r["cpu"] / r["docs"] * 1e6 for r in runs)
            lines.append(
                f"| {client} | {statistics.median(rates):,.0f} | {_span(rates, ',.0f')} | "
                f"{statistics.median(ratios):.2f}x | {_span(ratios, '.2f')} | {cpu:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--worker")
    parser.add_argument("--uri")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--cycles", type=int, default=2)
    args = parser.parse_args()
    if args.worker:
        result = run_round(args.worker, args.uri, args.warmup, args.cycles)
        sys.stdout.write(json.dumps(result) + "\n")
        return

    from anyodm.testing import MongoServer

    samples: dict[str, dict[str, list[Any]]] = {b: {c: [] for c in CLIENTS} for b in BACKENDS}
    errors: dict[str, str] = {}
    configured = os.environ.get("MONGODB_URI", "").strip()
    load_before = _load()
    with contextlib.nullcontext(None) if configured else MongoServer() as server:
        uri = server.uri if server is not None else configured
        _seed(uri)
        for round_no in range(args.rounds):
            order = BACKENDS if round_no % 2 == 0 else BACKENDS[::-1]
            for backend in order:
                result = _worker(backend, uri, args.warmup, args.cycles)
                if "error" in result:
                    errors[backend] = result["error"]
                else:
                    for client, runs in result.items():
                        samples[backend][client].extend(runs)
                print(f"round {round_no + 1}: {backend}: {_load()} {result}", file=sys.stderr)
    meta = {
        "rounds": args.rounds,
        "warmup": args.warmup,
        "cycles": args.cycles,
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": _load(),
        "errors": errors,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "read_ahead.json").write_text(
        json.dumps({"meta": meta, "samples": samples}, indent=1)
    )
    report = _report(samples, meta)
    (RESULTS / "read_ahead.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
