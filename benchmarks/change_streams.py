"""Change streams: events per second through anyodm's ``watch``, beside PyMongo's own
``watch()`` used without an ODM.

    UV_PROJECT_ENVIRONMENT=.venv-bench uv run --no-sync python -m benchmarks.change_streams
    ... python -m benchmarks.change_streams --rounds 1 --events 1000     # smoke run
    ... python -m benchmarks.change_streams --before main                # + main's anyodm

The workload: one embedded server (``anyodm.testing``, its own process) gets a change
stream opened on an empty collection, whose resume token is kept; then ``--events``
documents (the common 12-field document, ``benchmarks/common.py``) are written with one
``insert_many``.  Every measurement opens a new stream with ``resume_after=`` that token
and reads those same events from the server's history, from opening the stream to the
last event (closing it is not timed).  Every client reads the same events with the same
``batch_size`` and ``max_await_time``; each event's full document becomes a model:

* ``pymongo_raw``: PyMongo's ``collection.watch()``, iterated; the events stay dicts
  (no model).  What the server and the driver cost, the floor of every row.
* ``pymongo_sync``: the same, then ``Person.model_validate(event["fullDocument"])`` into
  a plain pydantic model of the same fields (``PlainPerson``).
* ``anyodm_sync``: ``SyncEngine.watch(Person, resume_after=...)``, ``change.document``.
* ``thread_floor_asyncio`` / ``thread_floor_trio``: what an async user without an ODM
  writes with PyMongo's sync client: ``watch()`` and then every ``next()`` of the
  change stream through ``anyio.to_thread.run_sync`` (a 100-thread limiter, as the
  other thread floors of ``benchmarks/``), then ``model_validate``.
* ``anyodm_asyncio`` / ``anyodm_trio``: ``Engine.watch`` on that backend:
  ``async with engine.watch(...) as changes: async for change in changes``.
* ``pymongo_async``: PyMongo's ``AsyncMongoClient`` watch (asyncio only) +
  ``model_validate``, for reference.

Each client is a worker process of its own, opened and warmed up once (it reads a few
hundred of the events first).  A round measures every client in one order and then in
the reverse order, so two neighbours run A B B A; the round's figure of a client is the
mean of its two measurements, and a ratio between two clients is the median of their
per-round ratios (with its range).  Client CPU is ``time.process_time()`` of the
worker (all its threads); the server's CPU is read from ``/proc/<pid>/stat`` of the
server process around each measurement (not available with ``MONGODB_URI``).

``--before REF`` also runs the anyodm clients on ``REF``'s ``anyodm`` package (``git
archive``), each right after its twin of the working tree.  Results:
``benchmarks/results/change_streams.json`` and ``.md`` (``--out`` to change).
"""

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DB = "anyodm_bench_changes"
COLLECTION = "people_changes"
WORKER_TIMEOUT = 300.0
WARM_UP_EVENTS = 300

#: In report order; rounds visit them forwards and then backwards.  Each anyodm client
#: sits right after the floor it is compared with.
CLIENTS = (
    "pymongo_raw",
    "pymongo_sync",
    "anyodm_sync",
    "thread_floor_asyncio",
    "anyodm_asyncio",
    "thread_floor_trio",
    "anyodm_trio",
    "pymongo_async",
)
LABELS = {
    "pymongo_raw": "PyMongo sync, raw events (no model)",
    "pymongo_sync": "PyMongo sync + model_validate",
    "anyodm_sync": "anyodm SyncEngine",
    "thread_floor_asyncio": "PyMongo via anyio threads + model_validate (asyncio)",
    "anyodm_asyncio": "anyodm Engine (asyncio)",
    "thread_floor_trio": "PyMongo via anyio threads + model_validate (trio)",
    "anyodm_trio": "anyodm Engine (trio)",
    "pymongo_async": "PyMongo AsyncMongoClient + model_validate (asyncio)",
}
#: (client, what it is compared with): ratios are taken per round between these.
PAIRS = (
    ("pymongo_sync", "pymongo_raw"),
    ("anyodm_sync", "pymongo_sync"),
    ("anyodm_asyncio", "thread_floor_asyncio"),
    ("anyodm_trio", "thread_floor_trio"),
    ("pymongo_async", "thread_floor_asyncio"),
    ("anyodm_asyncio", "pymongo_async"),  # not neighbours: same rounds, farther apart
)
#: the floor of each client: the per-event wall time no client can go below
FLOOR = "pymongo_raw"
THREADS = 100  # the thread floor's limiter (anyodm's Engine uses 100 threads too)


def _plain_person() -> Any:
    """The common document as a plain pydantic model (the floors' model)."""
    import bson
    import pydantic

    class PlainAddress(pydantic.BaseModel):
        street: str
        city: str
        postcode: str
        country: str

    class PlainPerson(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        id: bson.ObjectId = pydantic.Field(alias="_id")
        name: str
        email: str
        age: int
        score: float
        active: bool
        created: dt.datetime
        tags: list[str]
        address: PlainAddress
        counter: int
        category: str
        notes: str | None = None
        rating: int

    return PlainPerson


# -- one client, in its own process ------------------------------------------------------


class _Reader:
    """One client: reads ``events`` change events from ``token`` once per call.

    Each read returns (wall s, CPU s, name of the last document) taken at the N-th event;
    closing the stream comes after and is not timed.  An async client lives in one event
    loop for the whole run (``serve_async``), as in an application.
    """

    def __init__(self, client: str, uri: str, token: dict[str, Any], batch_size: int) -> None:
        from pymongo import MongoClient

        self.client = client
        self.token = token
        self.batch_size = batch_size
        self.max_await = 0.25  # anyodm's default; PyMongo gets the same in ms
        self.mongo: Any = MongoClient(uri)
        self.uri = uri
        self.validate = _plain_person().model_validate
        if client.startswith("anyodm_"):
            from anyodm import Engine, SyncEngine
            from benchmarks.clients.anyodm_clients import _person

            self.model = _person(COLLECTION)
            engine_class: Any = SyncEngine if client == "anyodm_sync" else Engine
            self.engine = engine_class(self.mongo, DB)

    @property
    def is_async(self) -> bool:
        return self.client not in ("pymongo_raw", "pymongo_sync", "anyodm_sync")

    @property
    def backend(self) -> str:
        return "trio" if self.client.endswith("_trio") else "asyncio"

    def _pymongo_options(self) -> dict[str, Any]:
        return {
            "resume_after": self.token,
            "batch_size": self.batch_size,
            "max_await_time_ms": round(self.max_await * 1000),
        }

    def _anyodm_options(self) -> dict[str, Any]:
        return {
            "resume_after": self.token,
            "batch_size": self.batch_size,
            "max_await_time": self.max_await,
        }

    def read_sync(self, events: int) -> tuple[float, float, str]:
        if self.client == "anyodm_sync":
            wall, cpu = time.perf_counter(), time.process_time()
            n = 0
            with self.engine.watch(self.model, **self._anyodm_options()) as changes:
                for change in changes:
                    doc = change.document
                    n += 1
                    if n == events:
                        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                        break
            return wall, cpu, doc.name
        coll = self.mongo[DB][COLLECTION]
        validate = self.validate if self.client == "pymongo_sync" else None
        wall, cpu = time.perf_counter(), time.process_time()
        n = 0
        with coll.watch(**self._pymongo_options()) as stream:
            for event in stream:
                full = event["fullDocument"]
                doc = validate(full) if validate is not None else full
                n += 1
                if n == events:
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    break
        return wall, cpu, doc["name"] if validate is None else doc.name

    async def read_async(self, events: int) -> tuple[float, float, str]:
        if self.client.startswith("thread_floor"):
            return await self._thread_floor(events)
        if self.client == "pymongo_async":
            return await self._pymongo_async(events)
        wall, cpu = time.perf_counter(), time.process_time()
        n = 0
        async with self.engine.watch(self.model, **self._anyodm_options()) as changes:
            async for change in changes:
                doc = change.document
                n += 1
                if n == events:
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    break
        return wall, cpu, doc.name

    async def _thread_floor(self, events: int) -> tuple[float, float, str]:
        import anyio
        import anyio.to_thread

        if not hasattr(self, "limiter"):
            self.limiter = anyio.CapacityLimiter(THREADS)
        limiter = self.limiter
        coll = self.mongo[DB][COLLECTION]
        validate = self.validate
        options = self._pymongo_options()
        wall, cpu = time.perf_counter(), time.process_time()
        stream = await anyio.to_thread.run_sync(lambda: coll.watch(**options), limiter=limiter)
        try:
            n = 0
            while True:
                event = await anyio.to_thread.run_sync(stream.next, limiter=limiter)
                doc = validate(event["fullDocument"])
                n += 1
                if n == events:
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    break
        finally:
            await anyio.to_thread.run_sync(stream.close, limiter=limiter)
        return wall, cpu, doc.name

    async def _pymongo_async(self, events: int) -> tuple[float, float, str]:
        if not hasattr(self, "amongo"):
            from pymongo import AsyncMongoClient

            self.amongo: Any = AsyncMongoClient(self.uri)
        coll = self.amongo[DB][COLLECTION]
        validate = self.validate
        wall, cpu = time.perf_counter(), time.process_time()
        n = 0
        async with await coll.watch(**self._pymongo_options()) as stream:
            async for event in stream:
                doc = validate(event["fullDocument"])
                n += 1
                if n == events:
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    break
        return wall, cpu, doc.name


def _worker(setup: dict[str, Any]) -> None:
    """Serve measurements on stdin/stdout (one JSON line each way)."""
    if setup.get("anyodm_path"):
        sys.path.insert(0, setup["anyodm_path"])
    from bson import json_util

    import anyodm

    reader = _Reader(
        setup["client"], setup["uri"], json_util.loads(setup["token"]), setup["batch_size"]
    )
    events = setup["events"]
    expected = f"Person {events - 1:05d}"
    hello = json.dumps({"ready": True, "anyodm": anyodm.__file__})

    def answer(wall: float, cpu: float, last: str) -> None:
        if last != expected:
            raise RuntimeError(f"{setup['client']}: last event was {last!r}, not {expected!r}")
        print(json.dumps({"wall": wall, "cpu": cpu, "events": events}), flush=True)

    if not reader.is_async:
        reader.read_sync(min(WARM_UP_EVENTS, events))  # connections, imports, validators
        print(hello, flush=True)
        for line in sys.stdin:
            if not line.strip():
                break
            gc.collect()
            answer(*reader.read_sync(events))
        return

    import anyio
    import anyio.to_thread

    async def serve_async() -> None:
        await reader.read_async(min(WARM_UP_EVENTS, events))
        print(hello, flush=True)
        while line := await anyio.to_thread.run_sync(sys.stdin.readline):
            if not line.strip():
                break
            gc.collect()
            answer(*await reader.read_async(events))
        if hasattr(reader, "amongo"):
            await reader.amongo.close()

    anyio.run(serve_async, backend=reader.backend)


class Worker:
    def __init__(self, name: str, setup: dict[str, Any], log: Path) -> None:
        self.name = name
        self._log = log.open("w")
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.change_streams", "--worker", json.dumps(setup)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    def _receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            tail = (self.log.read_text().strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{self.name}: worker exited ({self.proc.poll()}): {tail}")
        message: dict[str, Any] = json.loads(line)
        return message

    def ready(self) -> dict[str, Any]:
        return self._receive()

    def measure(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return self._receive()

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# -- the run -----------------------------------------------------------------------------


def _server_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system, all threads) the server process has used so far."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _prepare(uri: str, events: int) -> dict[str, Any]:
    """Open a stream on the empty collection, keep its token, write ``events`` documents.
    The token as extended JSON, and how long the writes took."""
    from bson import json_util
    from pymongo import MongoClient

    from benchmarks.common import as_document, make_fields

    client: MongoClient[Any] = MongoClient(uri)
    coll = client[DB][COLLECTION]
    coll.drop()
    with coll.watch() as stream:
        assert stream.try_next() is None
        token = stream.resume_token
    docs = [as_document(fields) for fields in make_fields(events)]
    started = time.perf_counter()
    coll.insert_many(docs)
    took = time.perf_counter() - started
    client.close()
    return {"token": json_util.dumps(token), "insert_s": took}


#: the versions the report lists
PACKAGES = ("python", "anyodm", "pymongo", "pydantic", "pydantic-core", "anyio", "trio", "mongoeco")


def _command(argv: list[str]) -> str:
    """How this run was started, as one would type it again."""
    env = os.environ.get("UV_PROJECT_ENVIRONMENT")
    prefix = f"UV_PROJECT_ENVIRONMENT={env} uv run --no-sync " if env else ""
    args = " ".join(shlex.quote(a) for a in argv)
    return f"{prefix}python -m benchmarks.change_streams {args}".rstrip()


def _per_event(sample: dict[str, Any], key: str) -> float:
    return float(sample[key] / sample["events"] * 1e6)


def _summary(
    rounds: list[dict[str, dict[str, Any]]], clients: list[str], pairs: list[tuple[str, str]]
) -> dict[str, Any]:
    """Medians per client, and per-round paired ratios of the pairs."""
    keys = ("events_s", "cpu_us", "wall_us", "server_cpu_us")
    out: dict[str, Any] = {"clients": {}, "pairs": []}
    for client in clients:
        row: dict[str, Any] = {}
        for key in keys:
            values = [r[client][key] for r in rounds if r[client].get(key) is not None]
            if values:
                row[key] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                }
        out["clients"][client] = row
    for mine, theirs in pairs:
        pair: dict[str, Any] = {"client": mine, "against": theirs}
        for key in ("events_s", "cpu_us"):
            ratios = [r[mine][key] / r[theirs][key] for r in rounds]
            pair[key] = {
                "median": statistics.median(ratios),
                "min": min(ratios),
                "max": max(ratios),
                "per_round": ratios,
            }
        out["pairs"].append(pair)
    return out


def _report(data: dict[str, Any]) -> str:
    meta, summary = data["meta"], data["summary"]
    mach = meta["machine"]
    labels = meta["labels"]
    loads = [s["load"] for samples in data["raw"].values() for s in samples]
    lines = [
        "# Change streams: events per second through `watch`",
        "",
        f"Run of {meta['timestamp']}, {meta['elapsed_s']} s. Command: `{meta['command']}`.",
        "",
        f"- Machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory_gib']} GiB, "
        f"{mach['os']}; load average {mach['load_before'][0]:.2f} before, "
        f"{mach['load_after'][0]:.2f} after; 1-minute load average during the measurements "
        f"{min(loads):.2f}-{max(loads):.2f} (median {statistics.median(loads):.2f}). "
        "The machine is shared with other test runs.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        f"- Server: {meta['server']}. {meta['events']:,} insert events written with one "
        f"`insert_many` ({meta['insert_s']:.1f} s) after a resume token was taken; every "
        f"measurement reads them all from that token, batch_size {meta['batch_size']}.",
        f"- {meta['rounds']} rounds, each client twice per round (forwards, then backwards); "
        "figures are medians over the rounds, ratios medians of per-round ratios (min-max).",
        "",
        "| client | events/s | client CPU µs/event | wall µs/event | server CPU µs/event |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for client, row in summary["clients"].items():
        server = row.get("server_cpu_us", {}).get("median")
        lines.append(
            f"| {labels[client]} | {row['events_s']['median']:,.0f} | "
            f"{row['cpu_us']['median']:.1f} | {row['wall_us']['median']:.1f} | "
            f"{'n/a' if server is None else f'{server:.1f}'} |"
        )
    lines += [
        "",
        "| paired (median of per-round ratios, min-max) | events/s | client CPU per event |",
        "| --- | --- | --- |",
    ]
    for pair in summary["pairs"]:
        ev, cpu = pair["events_s"], pair["cpu_us"]
        lines.append(
            f"| {labels[pair['client']]} / {labels[pair['against']]} | "
            f"{ev['median']:.2f}x ({ev['min']:.2f}-{ev['max']:.2f}) | "
            f"{cpu['median']:.2f}x ({cpu['min']:.2f}-{cpu['max']:.2f}) |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--before", default=None, metavar="GIT_REF")
    parser.add_argument("--out", type=Path, default=RESULTS / "change_streams.json")
    args = parser.parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return 0

    from anyodm.testing import MongoServer
    from benchmarks.run import export_before, machine, versions

    clients = [c for c in args.clients.split(",") if c]
    for client in clients:
        if client not in CLIENTS:
            parser.error(f"unknown client {client!r}; known: {', '.join(CLIENTS)}")
    pairs = [(a, b) for a, b in PAIRS if a in clients and b in clients]
    labels = dict(LABELS)
    started = time.monotonic()
    meta: dict[str, Any] = {
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": _command(argv if argv is not None else sys.argv[1:]),
        "versions": {k: v for k, v in versions().items() if k in PACKAGES},
        "machine": machine(),
        "rounds": args.rounds,
        "events": args.events,
        "batch_size": args.batch_size,
        "before": args.before,
        "labels": labels,
    }
    rounds: list[dict[str, dict[str, Any]]] = []
    raw: dict[str, list[dict[str, Any]]] = {}
    configured = os.environ.get("MONGODB_URI", "").strip()
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="anyodm-cs-")))
        before_path = None
        if args.before:
            before_path = export_before(args.before, scratch / "before")
            commit = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", args.before],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            meta["before_commit"] = commit
            with_twins = []
            for client in clients:
                with_twins.append(client)
                if client.startswith("anyodm_"):
                    twin = f"{client}@before"
                    with_twins.append(twin)
                    labels[twin] = f"{LABELS[client]}, {args.before} ({commit})"
                    pairs.append((client, twin))
            clients = with_twins
        server = None if configured else stack.enter_context(MongoServer())
        uri = configured or server.uri  # type: ignore[union-attr]
        pid = None if server is None else server.pid
        meta["server"] = "MONGODB_URI" if server is None else "embedded mongoeco, own process"
        prepared = _prepare(uri, args.events)
        meta["insert_s"] = prepared["insert_s"]
        print(f"change_streams: {args.events} events written", file=sys.stderr)
        workers: dict[str, Worker] = {}
        for client in clients:
            setup = {
                "client": client.split("@")[0],
                "uri": uri,
                "token": prepared["token"],
                "events": args.events,
                "batch_size": args.batch_size,
                "anyodm_path": str(before_path) if client.endswith("@before") else None,
            }
            workers[client] = Worker(client, setup, scratch / f"{client}.log")
            stack.callback(workers[client].close)
        for client, worker in workers.items():
            hello = worker.ready()
            print(f"change_streams: {client} ready ({hello['anyodm']})", file=sys.stderr)
        for n in range(args.rounds):
            got: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
            for client in [*clients, *reversed(clients)]:
                before_cpu = _server_cpu(pid)
                sample = workers[client].measure()
                after_cpu = _server_cpu(pid)
                if before_cpu is not None and after_cpu is not None:
                    sample["server_cpu"] = after_cpu - before_cpu
                sample["load"] = os.getloadavg()[0]
                got[client].append(sample)
                raw.setdefault(client, []).append(sample)
            rounds.append(
                {
                    client: {
                        "events_s": statistics.fmean(s["events"] / s["wall"] for s in samples),
                        "cpu_us": statistics.fmean(_per_event(s, "cpu") for s in samples),
                        "wall_us": statistics.fmean(_per_event(s, "wall") for s in samples),
                        "server_cpu_us": statistics.fmean(
                            _per_event(s, "server_cpu") for s in samples
                        )
                        if all("server_cpu" in s for s in samples)
                        else None,
                    }
                    for client, samples in got.items()
                }
            )
            print(
                f"change_streams: round {n + 1}/{args.rounds} (load {os.getloadavg()[0]:.2f})",
                file=sys.stderr,
            )
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    meta["machine"]["load_after"] = os.getloadavg()
    data = {
        "meta": meta,
        "summary": _summary(rounds, clients, pairs),
        "per_round": rounds,
        "raw": raw,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, default=str) + "\n")
    report = _report(data)
    args.out.with_suffix(".md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
