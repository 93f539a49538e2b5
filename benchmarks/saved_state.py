"""What the saved state costs: fetch and save client CPU per document, the garbage
collector's share of a fetch, and the objects each loaded instance keeps alive.

    python -m benchmarks.saved_state --before 823fc99 [--rounds 7] [--docs 10000]

Runs the working tree's anyodm and ``--before``'s (``git archive`` of its ``anyodm``
package) in two worker processes against one embedded server (its own process), paired:
each round runs A B B A, and a ratio is the median of the per-round ratios.  Measured in
each worker with ``SyncEngine`` (the work is the same on the async engines, in a worker
thread):

- fetch: ``find(Person).to_list()`` of ``--docs`` documents (the benchmark suite's
  12-field model); client CPU per document (``time.process_time``), and the time spent
  in the garbage collector during it (``gc.callbacks``);
- retained: ``gc``-tracked objects per loaded instance while the list is held;
- save: load ``--saves`` instances, change one field of each, ``save`` each; client CPU
  per save (the server runs in its own process).

Writes ``benchmarks/results/saved_state.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB = "bench_saved_state"


def _worker(uri: str, docs: int, saves: int) -> None:
    """Serve measurements on stdin/stdout (one JSON line each way per round)."""
    from pymongo import MongoClient

    from anyodm import SyncEngine
    from benchmarks.clients.anyodm_clients import _person

    person = _person("people")
    client: MongoClient[Any] = MongoClient(uri)
    engine = SyncEngine(client, database=DB)
    engine.find(person, limit=10).to_list()  # warm up: connections, validators
    gc_time = [0.0]
    started = [0.0]

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - started[0]

    gc.callbacks.append(watch)
    print(json.dumps({"ready": True, "anyodm": __import__("anyodm").__file__}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        gc.collect()
        gc_time[0] = 0.0
        cpu = time.process_time()
        found = engine.find(person).to_list()
        fetch_cpu = time.process_time() - cpu
        fetch_gc = gc_time[0]
        assert len(found) == docs
        gc.collect()
        tracked = len(gc.get_objects())
        del found
        gc.collect()
        retained = (tracked - len(gc.get_objects())) / docs
        loaded = engine.find(person, limit=saves).to_list()
        cpu = time.process_time()
        for item in loaded:
            item.counter += 1
            engine.save(item)
        save_cpu = time.process_time() - cpu
        print(
            json.dumps(
                {
                    "fetch_us": fetch_cpu / docs * 1e6,
                    "fetch_gc_share": fetch_gc / fetch_cpu if fetch_cpu else 0.0,
                    "retained_objects": retained,
                    "save_us": save_cpu / len(loaded) * 1e6,
                }
            ),
            flush=True,
        )
    client.close()


def _seed(uri: str, docs: int) -> None:
    from pymongo import MongoClient

    from benchmarks.common import as_document, make_fields

    client: MongoClient[Any] = MongoClient(uri)
    collection = client[DB]["people"]
    collection.drop()
    collection.insert_many([as_document(fields) for fields in make_fields(docs)])
    client.close()


def _start(uri: str, docs: int, saves: int, anyodm_path: Path | None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    paths = [str(anyodm_path)] if anyodm_path else []
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT), env.get("PYTHONPATH", "")])
    code = f"from benchmarks.saved_state import _worker; _worker({uri!r}, {docs}, {saves})"
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),  # not the repository: its anyodm must not shadow --before's
    )
    assert process.stdout is not None
    hello = json.loads(process.stdout.readline())
    print(f"saved_state: worker uses {hello['anyodm']}", file=sys.stderr)
    return process


def _measure(process: subprocess.Popen[str]) -> dict[str, float]:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    result: dict[str, float] = json.loads(process.stdout.readline())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, metavar="GIT_REF")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--saves", type=int, default=500)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/saved_state.json")
    args = parser.parse_args(argv)

    from anyodm.testing import MongoServer
    from benchmarks.run import export_before

    with (
        tempfile.TemporaryDirectory(prefix="anyodm-saved-state-") as scratch,
        MongoServer() as server,
    ):
        before_path = export_before(args.before, Path(scratch) / "before")
        _seed(server.uri, args.docs)
        workers = {
            "after": _start(server.uri, args.docs, args.saves, None),
            "before": _start(server.uri, args.docs, args.saves, before_path),
        }
        rounds: list[dict[str, dict[str, float]]] = []
        for n in range(args.rounds):
            order = (
                ["after", "before", "before", "after"]
                if n % 2 == 0
                else ["before", "after", "after", "before"]
            )
            samples: dict[str, list[dict[str, float]]] = {"after": [], "before": []}
            for name in order:
                samples[name].append(_measure(workers[name]))
            rounds.append(
                {
                    name: {key: statistics.fmean(s[key] for s in got) for key in got[0]}
                    for name, got in samples.items()
                }
            )
            print(f"saved_state: round {n + 1}/{args.rounds}", file=sys.stderr)
        for process in workers.values():
            assert process.stdin is not None
            process.stdin.write("\n")
            process.stdin.flush()
            process.wait(timeout=60)

    keys = list(rounds[0]["after"])
    summary = {
        key: {
            "after": statistics.median(r["after"][key] for r in rounds),
            "before": statistics.median(r["before"][key] for r in rounds),
            "ratio": statistics.median(
                r["after"][key] / r["before"][key] if r["before"][key] else float("nan")
                for r in rounds
            ),
            "ratio_range": [
                min(r["after"][key] / r["before"][key] for r in rounds if r["before"][key]),
                max(r["after"][key] / r["before"][key] for r in rounds if r["before"][key]),
            ],
        }
        for key in keys
    }
    result = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "before": args.before,
        "rounds": args.rounds,
        "docs": args.docs,
        "saves": args.saves,
        "load_average": os.getloadavg(),
        "summary": summary,
        "per_round": rounds,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    labels = {
        "fetch_us": "fetch: client CPU per document, µs",
        "fetch_gc_share": "fetch: garbage collector's share of its CPU",
        "retained_objects": "gc-tracked objects kept per loaded instance",
        "save_us": "load, change one field, save: client CPU per save, µs",
    }
    print(f"| ({args.rounds} rounds, paired) | this tree | {args.before} | ratio (range) |")
    print("| --- | --- | --- | --- |")
    for key, row in summary.items():
        low, high = row["ratio_range"]
        print(
            f"| {labels[key]} | {row['after']:.3g} | {row['before']:.3g} | "
            f"{row['ratio']:.2f}x ({low:.2f}-{high:.2f}) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
