"""Run every client on every workload against the embedded server; write the results.

    just bench                 # full run (~10 min on 2 cores), then the docs page
    just bench --quick         # smaller sizes, 2 rounds: a smoke run (~2 min)
    python -m benchmarks.run --clients anyodm_trio,pymongo_sync --workloads find_one

Two embedded servers run as their own processes (their CPU is not the client's): one
for the write workloads, kept nearly empty (collections dropped around each
measurement, since the embedded server's insert cost grows with the data it holds), and
one holding the seeded read collection.  Each (round, client) runs in a fresh Python
process; rounds visit the clients in a rotating order.  Medians and spreads are taken
over the rounds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.clients import BASELINE, CLIENTS, LABELS
from benchmarks.common import (
    READ_COLLECTION,
    READ_DB,
    Sizes,
    as_document,
    make_fields,
    summarize,
)
from benchmarks.driver import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
WORKER_TIMEOUT = 300.0

PACKAGES = (
    "anyodm",
    "pymongo",
    "pydantic",
    "pydantic-core",
    "anyio",
    "trio",
    "odmantic",
    "motor",
    "beanie",
    "mongoeco",
    "matplotlib",
)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        mem_gib = round(int(mem) / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        mem_gib = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": f"{platform.system()} {platform.release()}",
        "load_before": os.getloadavg(),
    }


def seed_read_collection(read_uri: str, count: int) -> list[str]:
    from pymongo import MongoClient

    client: MongoClient[Any] = MongoClient(read_uri)
    try:
        coll = client[READ_DB][READ_COLLECTION]
        coll.drop()
        docs = [as_document(f) for f in make_fields(count, seed=1)]
        coll.insert_many(docs)
        return [str(d["_id"]) for d in docs]
    finally:
        client.close()


def run_worker(request: dict[str, Any]) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.worker", json.dumps(request)]
    try:
        proc = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "stage": "run", "error": f"timed out after {WORKER_TIMEOUT:g}s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "stage": "run", "error": f"exit {proc.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def summarize_results(raw: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per client and workload: median/spread of ops/s, CPU µs/op, stall; ratios."""
    summary: dict[str, Any] = {}
    for client, rounds in raw.items():
        per: dict[str, Any] = {}
        for workload in WORKLOADS:
            samples = [r[workload] for r in rounds if r.get("ok") is not False and workload in r]
            if not samples:
                continue
            ops_s = summarize([s["ops"] / s["wall"] for s in samples])
            cpu_us = summarize([s["cpu"] / s["ops"] * 1e6 for s in samples])
            entry = {"ops_per_s": ops_s, "cpu_us_per_op": cpu_us}
            stalls = [s["stall_ms"] for s in samples if s.get("stall_ms") is not None]
            if stalls:
                entry["stall_ms"] = summarize(stalls)
            idle = [s["extra"]["idle_stall_ms"] for s in samples if "idle_stall_ms" in s["extra"]]
            if idle:
                entry["idle_stall_ms"] = summarize(idle)
            per[workload] = entry
        summary[client] = per
    base = summary.get(BASELINE, {})
    for per in summary.values():
        for workload, entry in per.items():
            ref = base.get(workload)
            if ref is None:
                continue
            entry["ops_ratio"] = entry["ops_per_s"]["median"] / ref["ops_per_s"]["median"]
            entry["cpu_ratio"] = entry["cpu_us_per_op"]["median"] / ref["cpu_us_per_op"]["median"]
    return summary


def _get(summary: dict[str, Any], client: str, workload: str, key: str) -> float | None:
    try:
        return float(summary[client][workload][key]["median"])
    except KeyError:
        return None


def check_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of issues 4 and 6, each with the numbers it was judged on."""
    targets: list[dict[str, Any]] = []

    def add(name: str, ok: bool | None, detail: str) -> None:
        targets.append({"target": name, "met": ok, "detail": detail})

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    for backend in ("asyncio", "trio"):
        ours = _get(summary, f"anyodm_{backend}", "find_one", "cpu_us_per_op")
        floor = _get(summary, f"pymongo_threads_{backend}", "find_one", "cpu_us_per_op")
        odm = _get(summary, "odmantic_async", "find_one", "cpu_us_per_op")
        bea = _get(summary, "beanie", "find_one", "cpu_us_per_op")
        r = ratio(ours, floor)
        ok = None if r is None else r <= 1.2
        peers_ok = ours is not None and all(p is None or ours < p for p in (odm, bea))
        add(
            f"find_one client CPU, anyodm {backend} <= 1.2x thread floor, below ODMantic/Beanie",
            None if ok is None else (ok and peers_ok),
            f"{_fmt(ours)} us vs floor {_fmt(floor)} us ({_fmt(r, 2)}x); "
            f"ODMantic {_fmt(odm)} us, Beanie {_fmt(bea)} us",
        )

    ours = _get(summary, "anyodm_asyncio", "fetch", "ops_per_s")
    ours_trio = _get(summary, "anyodm_trio", "fetch", "ops_per_s")
    odm = _get(summary, "odmantic_async", "fetch", "ops_per_s")
    bea = _get(summary, "beanie", "fetch", "ops_per_s")
    r1, r2 = ratio(ours, odm), ratio(ours, bea)
    add(
        "fetch 1,000 as models: anyodm >= 1.5x ODMantic docs/s and >= 1.3x Beanie",
        None if r1 is None or r2 is None else (r1 >= 1.5 and r2 >= 1.3),
        f"anyodm asyncio {_fmt(ours)} docs/s (trio {_fmt(ours_trio)}); "
        f"{_fmt(r1, 2)}x ODMantic ({_fmt(odm)}), {_fmt(r2, 2)}x Beanie ({_fmt(bea)})",
    )

    ours = _get(summary, "anyodm_trio", "concurrent_find_one", "ops_per_s")
    bea = _get(summary, "beanie", "concurrent_find_one", "ops_per_s")
    floor = _get(summary, "pymongo_threads_trio", "concurrent_find_one", "ops_per_s")
    r1, r2 = ratio(ours, bea), ratio(ours, floor)
    add(
        "64 concurrent find_one: anyodm trio >= Beanie and >= 0.9x thread floor (trio)",
        None if r1 is None or r2 is None else (r1 >= 1.0 and r2 >= 0.9),
        f"anyodm trio {_fmt(ours)} ops/s; {_fmt(r1, 2)}x Beanie ({_fmt(bea)}), "
        f"{_fmt(r2, 2)}x floor ({_fmt(floor)})",
    )

    ours = _get(summary, "anyodm_asyncio", "bulk_insert", "ops_per_s")
    odm = _get(summary, "odmantic_async", "bulk_insert", "ops_per_s")
    r = ratio(ours, odm)
    add(
        "bulk insert 1,000: anyodm save_all >= 3x ODMantic",
        None if r is None else r >= 3.0,
        f"anyodm asyncio {_fmt(ours)} docs/s, ODMantic {_fmt(odm)} docs/s ({_fmt(r, 2)}x)",
    )

    peers = {
        c: _get(summary, c, "fetch", "stall_ms")
        for c in ("pymongo_async", "odmantic_async", "beanie")
    }
    known = [v for v in peers.values() if v is not None]
    for backend in ("asyncio", "trio"):
        ours = _get(summary, f"anyodm_{backend}", "fetch", "stall_ms")
        ok = None if ours is None else (ours <= 5.0 and all(ours < v for v in known))
        add(
            f"longest loop stall fetching 1,000: anyodm {backend} <= 5 ms and below every peer",
            ok,
            f"anyodm {_fmt(ours, 1)} ms; "
            + ", ".join(f"{LABELS[c]} {_fmt(v, 1)} ms" for c, v in peers.items()),
        )
    return targets


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def model_benchmark() -> dict[str, Any]:
    """The server-free parse/dump figures of ``benchmarks/bench_model.py``, if present."""
    from benchmarks import model_figures

    return model_figures.collect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="repeats (default 3, quick 2)")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated names")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    parser.add_argument("--no-report", action="store_true", help="skip docs/benchmarks.md")
    parser.add_argument("--no-model", action="store_true", help="skip bench_model figures")
    args = parser.parse_args(argv)

    sizes = Sizes.quick() if args.quick else Sizes()
    rounds = args.rounds or (2 if args.quick else 3)
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for c in clients:
        if c not in CLIENTS:
            parser.error(f"unknown client {c!r}; known: {', '.join(CLIENTS)}")
    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w!r}; known: {', '.join(WORKLOADS)}")

    from anyodm.testing import MongoServer, mongodb_server

    started = time.monotonic()
    now = dt.datetime.now(dt.timezone.utc)
    meta: dict[str, Any] = {
        "date": now.strftime("%Y-%m-%d"),
        "timestamp": now.isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "rounds": rounds,
        "sizes": sizes.__dict__,
        "versions": versions(),
        "machine": machine(),
        "baseline": BASELINE,
        "labels": LABELS,
    }
    raw: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    errors: dict[str, str] = {}
    with ExitStack() as stack:
        if os.environ.get("MONGODB_URI", "").strip():
            write_uri = read_uri = stack.enter_context(mongodb_server())
            meta["server"] = {"kind": "MONGODB_URI"}
        else:
            write_server = stack.enter_context(MongoServer())
            read_server = stack.enter_context(MongoServer())
            write_uri, read_uri = write_server.uri, read_server.uri
            meta["server"] = {
                "kind": "embedded mongoeco, own processes",
                "patched": write_server.patched,
                "patch_note": write_server.info.get("patch_note"),
            }
        print(f"bench: servers up; seeding {sizes.fetch_docs} documents", file=sys.stderr)
        ids = seed_read_collection(read_uri, sizes.fetch_docs)
        for rnd in range(rounds):
            shift = rnd % len(clients)
            for client in clients[shift:] + clients[:shift]:
                if client in errors:
                    continue
                t0 = time.monotonic()
                result = run_worker(
                    {
                        "client": client,
                        "write_uri": write_uri,
                        "read_uri": read_uri,
                        "ids": ids,
                        "sizes": sizes.__dict__,
                        "workloads": workloads,
                        "seed": 100 + rnd,
                    }
                )
                took = time.monotonic() - t0
                if not result.get("ok"):
                    errors[client] = f"{result.get('stage')}: {result.get('error')}"
                    print(
                        f"bench: round {rnd + 1} {client}: FAILED {errors[client]}", file=sys.stderr
                    )
                    if result.get("traceback"):
                        print(result["traceback"], file=sys.stderr)
                    continue
                raw[client].append(result["samples"])
                print(f"bench: round {rnd + 1}/{rounds} {client}: {took:.1f}s", file=sys.stderr)

    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    meta["machine"]["load_after"] = os.getloadavg()
    summary = summarize_results({c: r for c, r in raw.items() if r})
    data = {
        "meta": meta,
        "errors": errors,
        "raw": raw,
        "summary": summary,
        "targets": check_targets(summary),
        "model": None if args.no_model else model_benchmark(),
    }
    out = args.out or RESULTS / f"{meta['date']}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, default=str) + "\n")
    print(f"bench: wrote {out} in {meta['elapsed_s']}s", file=sys.stderr)
    from benchmarks import report

    print(report.text_table(data), file=sys.stderr)
    for t in data["targets"]:
        mark = {True: "MET ", False: "MISS", None: "n/a "}[t["met"]]
        print(f"  [{mark}] {t['target']}: {t['detail']}", file=sys.stderr)
    if not args.no_report:
        report.render(data, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
