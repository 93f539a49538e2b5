"""Run every client on every workload against the embedded server; write the results.

    just bench                 # full run (~15 min on 2 cores), then the docs page
    just bench --before main   # the same, plus the anyodm clients on main's anyodm
    just bench --quick         # smaller sizes, 2 repetitions: a smoke run (~3 min)
    python -m benchmarks.run --clients anyodm_trio,pymongo_sync --workloads find_one

Two embedded servers run as their own processes (their CPU is not the client's): one
for the write workloads, kept nearly empty (collections dropped around each
measurement, since the embedded server's insert cost grows with the data it holds), and
one holding the seeded read collections.  Each client runs in a worker process of its
own, opened and warmed up once.  The measurements are *paired*: each workload is
repeated ``--rounds`` times, and each repetition runs every client once, one after the
other, in the order A B C ... then C B A ... (A B B A for a pair), so two clients
compared are measured seconds apart under the same load.  A ratio between two clients is
the median of their per-repetition ratios, reported with its spread (min-max).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.clients import BASELINE, CLIENTS, LABELS
from benchmarks.common import (
    BIG_COLLECTION,
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


def seed_read_collection(read_uri: str, count: int, collection: str) -> list[str]:
    from pymongo import MongoClient

    client: MongoClient[Any] = MongoClient(read_uri)
    try:
        coll = client[READ_DB][collection]
        coll.drop()
        docs = [as_document(f) for f in make_fields(count, seed=1)]
        coll.insert_many(docs)
        return [str(d["_id"]) for d in docs]
    finally:
        client.close()


class Worker:
    """One client's worker process (see ``benchmarks/worker.py``), asked for one
    measurement at a time."""

    def __init__(self, name: str, setup: dict[str, Any], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name.replace('@', '-')}.log"
        self._stderr = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", json.dumps(setup)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self._lines.put(line)
        self._lines.put(None)

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return {"ok": False, "error": f"no answer within {timeout:g}s"}
        if line is None:
            tail = (self.log.read_text().strip().splitlines() or ["no output"])[-1]
            return {"ok": False, "error": f"exited ({self.proc.poll()}): {tail}"}
        message: dict[str, Any] = json.loads(line)
        return message

    def measure(self, workload: str, seed: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"workload": workload, "seed": seed}) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            return {"ok": False, "error": f"worker gone: {exc}"}
        return self.receive(WORKER_TIMEOUT)

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def base_client(name: str) -> str:
    """``anyodm_trio@before`` -> ``anyodm_trio``."""
    return name.split("@", 1)[0]


def run_order(clients: list[str]) -> list[str]:
    """The clients in the order one repetition visits them: each anyodm client right
    after its floor (raw PyMongo the same way) and before its ``@before`` twin, so the
    compared pairs run next to each other."""
    floors = {
        "anyodm_sync": "pymongo_sync",
        "anyodm_asyncio": "pymongo_threads_asyncio",
        "anyodm_trio": "pymongo_threads_trio",
    }
    order: list[str] = []
    for floor_name in ("pymongo_sync", "pymongo_threads_asyncio", "pymongo_threads_trio"):
        group = [floor_name] + [
            name
            for ours, floor in floors.items()
            if floor == floor_name
            for name in (ours, f"{ours}@before")
        ]
        order += [c for c in group if c in clients]
    return order + [c for c in clients if c not in order]


def paired_ratios(
    raw: dict[str, dict[str, list[Any]]], a: str, b: str, workload: str, key: str
) -> list[float]:
    """``a``'s figure over ``b``'s, repetition by repetition (only where both ran)."""
    out = []
    samples_a, samples_b = raw.get(a, {}).get(workload, []), raw.get(b, {}).get(workload, [])
    for sa, sb in zip(samples_a, samples_b, strict=False):
        if sa is None or sb is None:
            continue
        va, vb = _figure(sa, key), _figure(sb, key)
        if va is not None and vb:
            out.append(va / vb)
    return out


def _figure(sample: dict[str, Any], key: str) -> float | None:
    if key == "ops_per_s":
        return float(sample["ops"] / sample["wall"])
    if key == "cpu_us_per_op":
        return float(sample["cpu"] / sample["ops"] * 1e6)
    if key == "stall_ms":
        stall = sample.get("stall_ms")
        return None if stall is None else float(stall)
    raise KeyError(key)


def summarize_results(raw: dict[str, dict[str, list[Any]]]) -> dict[str, Any]:
    """Per client and workload: median/spread of ops/s, CPU µs/op, stall over the
    repetitions; the ratios to the baseline as the median of per-pair ratios."""
    summary: dict[str, Any] = {}
    for client, per_workload in raw.items():
        per: dict[str, Any] = {}
        for workload in WORKLOADS:
            samples = [s for s in per_workload.get(workload, []) if s is not None]
            if not samples:
                continue
            entry: dict[str, Any] = {
                "ops_per_s": summarize([_figure(s, "ops_per_s") for s in samples]),  # type: ignore[misc]
                "cpu_us_per_op": summarize([_figure(s, "cpu_us_per_op") for s in samples]),  # type: ignore[misc]
            }
            stalls = [s["stall_ms"] for s in samples if s.get("stall_ms") is not None]
            if stalls:
                entry["stall_ms"] = summarize(stalls)
            idle = [s["extra"]["idle_stall_ms"] for s in samples if "idle_stall_ms" in s["extra"]]
            if idle:
                entry["idle_stall_ms"] = summarize(idle)
            if BASELINE in raw:
                for key, name in (("ops_per_s", "ops"), ("cpu_us_per_op", "cpu")):
                    ratios = paired_ratios(raw, client, BASELINE, workload, key)
                    if ratios:
                        entry[f"{name}_ratio_paired"] = summarize(ratios)
                        entry[f"{name}_ratio"] = entry[f"{name}_ratio_paired"]["median"]
            per[workload] = entry
        summary[client] = per
    return summary


def _get(summary: dict[str, Any], client: str, workload: str, key: str) -> float | None:
    try:
        return float(summary[client][workload][key]["median"])
    except KeyError:
        return None


def check_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The performance targets (medians), each with the numbers it was judged on."""
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


def _paired_text(ratios: list[float]) -> str:
    st = summarize(ratios)
    return f"{st['median']:.2f}x ({st['min']:.2f}-{st['max']:.2f}, {st['n']} pairs)"


def check_paired_targets(
    raw: dict[str, dict[str, list[Any]]], summary: dict[str, Any]
) -> list[dict[str, Any]]:
    """The paired targets, each judged on the median of its per-pair ratios."""
    targets: list[dict[str, Any]] = []

    def add(name: str, ratios: list[float], ok: Callable[[float], bool]) -> None:
        if not ratios:
            targets.append({"target": name, "met": None, "detail": "not measured"})
            return
        median = summarize(ratios)["median"]
        targets.append(
            {"target": name, "met": ok(median), "detail": _paired_text(ratios), "ratios": ratios}
        )

    floors = (
        ("asyncio", "anyodm_asyncio", "pymongo_threads_asyncio", "the thread floor (asyncio)"),
        ("trio", "anyodm_trio", "pymongo_threads_trio", "the thread floor (trio)"),
        ("sync", "anyodm_sync", "pymongo_sync", "raw PyMongo"),
    )
    for _, ours, floor, what in floors:
        add(
            f"fetch 10,000 as models: {LABELS[ours]} >= 0.85x {what} docs/s",
            paired_ratios(raw, ours, floor, "fetch_10k", "ops_per_s"),
            lambda r: r >= 0.85,
        )
    for backend, ours, floor, what in floors:
        limit = 1.1 if backend == "sync" else 1.2
        add(
            f"find_one client CPU: {LABELS[ours]} <= {limit}x {what}",
            paired_ratios(raw, ours, floor, "find_one", "cpu_us_per_op"),
            lambda r, limit=limit: r <= limit,  # type: ignore[misc]
        )
    for backend in ("asyncio", "trio"):
        for workload, docs in (("fetch", "1,000"), ("fetch_10k", "10,000")):
            entry = summary.get(f"anyodm_{backend}", {}).get(workload, {})
            stall = entry.get("stall_ms")
            idle = entry.get("idle_stall_ms")
            target = f"longest loop stall fetching {docs}: anyodm {backend} <= 5 ms"
            if stall is None:
                targets.append({"target": target, "met": None, "detail": "not measured"})
                continue
            detail = (
                f"{stall['median']:.1f} ms (median; {stall['min']:.1f}-{stall['max']:.1f}); "
                f"idle-loop ticker {idle['median'] if idle else math.nan:.1f} ms"
            )
            met = stall["median"] <= 5.0 if workload == "fetch" else None
            targets.append({"target": target, "met": met, "detail": detail})
    return targets


def compare_before(raw: dict[str, dict[str, list[Any]]]) -> list[dict[str, Any]]:
    """Each anyodm client against its ``@before`` twin, per workload: throughput and CPU
    as medians of per-pair ratios; a row is slower only if *every* pair was slower."""
    rows: list[dict[str, Any]] = []
    for client in raw:
        twin = f"{client}@before"
        if "@" in client or twin not in raw:
            continue
        for workload in WORKLOADS:
            ops = paired_ratios(raw, client, twin, workload, "ops_per_s")
            cpu = paired_ratios(raw, client, twin, workload, "cpu_us_per_op")
            if not ops:
                continue
            row = {
                "client": client,
                "workload": workload,
                "ops": summarize(ops),
                "cpu": summarize(cpu),
                "slower": max(ops) < 1.0 or min(cpu) > 1.0,
            }
            stalls = {
                name: [s["stall_ms"] for s in raw[name][workload] if s and s.get("stall_ms")]
                for name in (client, twin)
            }
            if stalls[client] and stalls[twin]:
                row["stall_ms"] = {
                    "after": summarize(stalls[client]),
                    "before": summarize(stalls[twin]),
                }
            rows.append(row)
    return rows


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def model_benchmark() -> dict[str, Any]:
    """The server-free parse/dump figures of ``benchmarks/bench_model.py``, if present."""
    from benchmarks import model_figures

    return model_figures.collect()


def export_before(ref: str, into: Path) -> Path:
    """``git archive`` of ``ref``'s ``anyodm`` package into ``into`` (read-only on the
    repository); the ``@before`` workers import it instead of the working tree's."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "anyodm"],
        capture_output=True,
        check=True,
    )
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 2 repetitions")
    parser.add_argument(
        "--rounds", type=int, default=None, help="repetitions of each measurement (5; quick 2)"
    )
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated names")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument(
        "--before",
        default=None,
        metavar="GIT_REF",
        help="also run the anyodm clients on this commit's anyodm (e.g. main), paired",
    )
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    parser.add_argument("--no-report", action="store_true", help="skip docs/benchmarks.md")
    parser.add_argument("--no-model", action="store_true", help="skip bench_model figures")
    args = parser.parse_args(argv)

    sizes = Sizes.quick() if args.quick else Sizes()
    rounds = args.rounds or (2 if args.quick else 5)
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
    labels = dict(LABELS)
    meta: dict[str, Any] = {
        "date": now.strftime("%Y-%m-%d"),
        "timestamp": now.isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "rounds": rounds,
        "sizes": sizes.__dict__,
        "versions": versions(),
        "machine": machine(),
        "baseline": BASELINE,
        "labels": labels,
        "before": args.before,
        "load_per_repetition": [],
    }
    errors: dict[str, str] = {}
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="anyodm-bench-")))
        before_path = None
        if args.before:
            before_path = export_before(args.before, scratch / "before")
            meta["before_commit"] = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", args.before],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            twins = [f"{c}@before" for c in clients if c.startswith("anyodm_")]
            for twin in twins:
                labels[twin] = f"{LABELS[base_client(twin)]}, before ({args.before})"
            clients = clients + twins
        if os.environ.get("MONGODB_URI", "").strip():
            write_uri = read_uri = stack.enter_context(mongodb_server(env="MONGODB_URI"))
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
        print(
            f"bench: servers up; seeding {sizes.fetch_docs} + {sizes.fetch_big_docs} documents",
            file=sys.stderr,
        )
        ids = seed_read_collection(read_uri, sizes.fetch_docs, READ_COLLECTION)
        seed_read_collection(read_uri, sizes.fetch_big_docs, BIG_COLLECTION)

        logs = scratch / "logs"
        logs.mkdir()
        workers: dict[str, Worker] = {}
        for client in run_order(clients):
            setup = {
                "client": base_client(client),
                "write_uri": write_uri,
                "read_uri": read_uri,
                "ids": ids,
                "sizes": sizes.__dict__,
                "seed": 100,
                "anyodm_path": str(before_path) if client.endswith("@before") else None,
            }
            workers[client] = Worker(client, setup, logs)
        stack.callback(lambda: [w.close() for w in workers.values()])
        for client, worker in list(workers.items()):
            hello = worker.receive(WORKER_TIMEOUT)
            if not hello.get("ready"):
                errors[client] = f"{hello.get('stage', 'start')}: {hello.get('error')}"
                print(f"bench: {client}: FAILED {errors[client]}", file=sys.stderr)
                worker.close()
                del workers[client]
        print(f"bench: {len(workers)} clients ready", file=sys.stderr)

        raw: dict[str, dict[str, list[Any]]] = {c: {w: [] for w in workloads} for c in workers}
        for workload in workloads:
            for rep in range(rounds):
                # A B B A: every other repetition visits the clients in reverse order.
                order = list(workers) if rep % 2 == 0 else list(reversed(workers))
                meta["load_per_repetition"].append(
                    {"workload": workload, "repetition": rep, "load": os.getloadavg()[0]}
                )
                t0 = time.monotonic()
                for client in order:
                    reply = workers[client].measure(workload, 100 + rep)
                    if not reply.get("ok"):
                        errors[f"{client} {workload}"] = str(reply.get("error"))
                        print(f"bench: {client} {workload}: FAILED", file=sys.stderr)
                        if reply.get("traceback"):
                            print(reply["traceback"], file=sys.stderr)
                        raw[client][workload].append(None)
                        continue
                    raw[client][workload].append(reply["sample"])
                print(
                    f"bench: {workload} {rep + 1}/{rounds}: {time.monotonic() - t0:.1f}s "
                    f"(load {os.getloadavg()[0]:.2f})",
                    file=sys.stderr,
                )

    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    meta["machine"]["load_after"] = os.getloadavg()
    summary = summarize_results(
        {c: r for c, r in raw.items() if any(s for v in r.values() for s in v)}
    )
    data = {
        "meta": meta,
        "errors": errors,
        "raw": raw,
        "summary": summary,
        "targets": check_targets(summary),
        "paired_targets": check_paired_targets(raw, summary),
        "before": compare_before(raw),
        "model": None if args.no_model else model_benchmark(),
    }
    out = args.out or RESULTS / f"{meta['date']}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, default=str) + "\n")
    print(f"bench: wrote {out} in {meta['elapsed_s']}s", file=sys.stderr)
    from benchmarks import report

    print(report.text_table(data), file=sys.stderr)
    for t in data["paired_targets"] + data["targets"]:
        mark = {True: "MET ", False: "MISS", None: "n/a "}[t["met"]]
        print(f"  [{mark}] {t['target']}: {t['detail']}", file=sys.stderr)
    for row in data["before"]:
        flag = "SLOWER" if row["slower"] else "ok"
        print(
            f"  [{flag}] {row['client']} {row['workload']} vs before: "
            f"ops {row['ops']['median']:.2f}x ({row['ops']['min']:.2f}-{row['ops']['max']:.2f}), "
            f"cpu {row['cpu']['median']:.2f}x ({row['cpu']['min']:.2f}-{row['cpu']['max']:.2f})",
            file=sys.stderr,
        )
    if not args.no_report:
        report.render(data, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
