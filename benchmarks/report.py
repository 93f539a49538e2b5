"""Render ``docs/benchmarks.md`` and its chart from a results JSON of ``run.py``.

    python -m benchmarks.report benchmarks/results/<date>.json

The page opens with what is compared, the chart and one table of the run's results,
then how it is measured, what anyodm adds over the driver (computed from the run), the
tables of every workload and the model layer's figures.  The standalone benchmarks'
sections (server-side operations, lists of references, change streams, migrations)
are kept by hand in ``benchmarks/*_section.md`` and included as they are.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from benchmarks.driver import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "benchmarks.png"
HERE = Path(__file__).resolve().parent
X = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"
#: The standalone benchmarks' sections, kept by hand, in the page's order.
SECTIONS = (
    HERE / "server_ops_section.md",
    HERE / "list_references_section.md",
    HERE / "change_streams_section.md",
    HERE / "migrations_section.md",
)

#: The order of the clients in the tables: sync code first, then async.
ORDER = (
    "pymongo_sync",
    "anyodm_sync",
    "odmantic_sync",
    "pymongo_async",
    "pymongo_threads_asyncio",
    "anyodm_asyncio",
    "pymongo_threads_trio",
    "anyodm_trio",
    "odmantic_async",
    "beanie",
)
#: What each client is, for the list at the top of the page.
DESCRIPTIONS = {
    "pymongo_sync": "PyMongo's `MongoClient`, documents left as dicts: the baseline of every ratio",
    "pymongo_async": "PyMongo's `AsyncMongoClient` (asyncio only, no threads), dicts",
    "pymongo_threads_asyncio": "the thread floor: PyMongo's sync client called through "
    "`anyio.to_thread.run_sync` with a 100-thread limiter (the size anyodm's `Engine` "
    "uses by default), dicts; what anyodm's async engine would cost without the ODM",
    "pymongo_threads_trio": "the same thread floor on trio",
    "anyodm_sync": "anyodm's `SyncEngine`, for sync code",
    "anyodm_asyncio": "anyodm's `Engine` on asyncio (each PyMongo call in a worker thread)",
    "anyodm_trio": "anyodm's `Engine` on trio, the same code",
    "odmantic_sync": "ODMantic's `SyncEngine`",
    "odmantic_async": "ODMantic's `AIOEngine` (asyncio, Motor)",
    "beanie": "Beanie, asyncio only (over PyMongo's `AsyncMongoClient`)",
}

TITLES = {
    "insert_one": "Insert one at a time",
    "bulk_insert": "Bulk insert of 1,000 (`save_all` / `insert_many`)",
    "find_one": "`find_one` by id, sequential",
    "fetch": "Fetch 1,000 documents as models",
    "fetch_10k": "Fetch 10,000 documents as models (one `find`)",
    "update": "Update one field by id",
    "concurrent_find_one": "64 concurrent tasks doing `find_one` by id",
}
SHORT = {
    "insert_one": "insert one",
    "bulk_insert": "bulk insert 1,000",
    "find_one": "find_one by id",
    "fetch": "fetch 1,000 (per doc)",
    "fetch_10k": "fetch 10,000 (per doc)",
    "update": "update by id",
    "concurrent_find_one": "64 concurrent find_one",
}
COLORS = {"pymongo": "#7f7f7f", "odmantic": "#1f77b4", "beanie": "#9467bd", "anyodm": "#d62728"}


def _library(client: str) -> str:
    return client.split("_", 1)[0] if client != "beanie" else "beanie"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _spread(entry: dict[str, Any]) -> str:
    spread = entry.get("spread")
    if spread is None or math.isnan(spread) or entry.get("n", 0) < 2:
        return ""
    return f" ±{spread * 50:.0f}%"


def workload_table(data: dict[str, Any], workload: str) -> list[str]:
    summary = data["summary"]
    labels = data["meta"]["labels"]
    per_op = "doc" if workload in ("fetch", "fetch_10k", "bulk_insert") else "op"
    has_stall = any("stall_ms" in s.get(workload, {}) for s in summary.values())
    head = (
        f"| client | {per_op}s/s | {X} PyMongo sync | client CPU µs/{per_op} | {X} PyMongo sync |"
    )
    rule = "| --- | ---: | ---: | ---: | ---: |"
    if has_stall:
        head += " longest loop stall (ms) | idle-loop ticker (ms) |"
        rule += " ---: | ---: |"
    lines = [head, rule]
    for client in _clients(data):
        entry = summary[client].get(workload)
        if entry is None:
            continue
        ops, cpu = entry["ops_per_s"], entry["cpu_us_per_op"]
        digits = 1 if cpu["median"] < 100 else 0
        row = (
            f"| {labels.get(client, client)} | {_num(ops['median'])}{_spread(ops)} "
            f"| {_ratio(entry, 'ops')} | {_num(cpu['median'], digits)}{_spread(cpu)} "
            f"| {_ratio(entry, 'cpu')} |"
        )
        if has_stall:
            stall, idle = entry.get("stall_ms"), entry.get("idle_stall_ms")
            row += f" {_num(stall['median'], 1)}{_spread(stall)} |" if stall else " - |"
            row += f" {_num(idle['median'], 1)} |" if idle else " - |"
        lines.append(row)
    return lines


def model_table(model: dict[str, Any] | None) -> list[str]:
    if not model:
        return ["Not run (`--no-model`)."]
    if "error" in model:
        return [f"Not available: {model['error']}."]
    results = model.get("results", {})
    floor = results.get("plain pydantic (floor)", {})
    lines = [
        f"From `benchmarks/bench_model.py` (the model layer's own benchmark, reused here): "
        f"{model.get('documents', '?'):,} BSON-decoded documents of its 12-field `Book` model "
        f"(an embedded model, a list, a datetime, an optional field), best of "
        f"{model.get('repeats', '?')} runs, in one process, no server.",
        "",
        f"| implementation | parse µs/doc | {X} plain pydantic | dump µs/doc "
        f"| {X} plain pydantic |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in results.items():
        if "error" in row:
            lines.append(f"| {name} | could not run: {row['error']} | | | |")
            continue
        p, d = row["parse_us"], row["dump_us"]
        pf, df = floor.get("parse_us"), floor.get("dump_us")
        lines.append(
            f"| {name} | {p:.2f} | {_num(p / pf if pf else None, 2)} "
            f"| {d:.2f} | {_num(d / df if df else None, 2)} |"
        )
    return lines


def render_chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    summary = data["summary"]
    labels = data["meta"]["labels"]
    clients = _clients(data)
    fig, axes = plt.subplots(3, 3, figsize=(19, 15))
    flat = list(axes.flat)
    for ax, workload in zip(flat, WORKLOADS, strict=False):
        rows = [c for c in clients if workload in summary[c]]
        ys = list(range(len(rows)))
        ops = [summary[c][workload].get("ops_ratio", math.nan) for c in rows]
        cpu = [summary[c][workload].get("cpu_ratio", math.nan) for c in rows]
        colors = [COLORS.get(_library(c), "#333333") for c in rows]
        ax.barh([y - 0.2 for y in ys], ops, height=0.38, color=colors, alpha=0.95)
        ax.barh([y + 0.2 for y in ys], cpu, height=0.38, color=colors, alpha=0.4, hatch="//")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlim(left=0.1)
        ax.xaxis.set_major_locator(FixedLocator([0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(ys)
        ax.set_yticklabels([labels.get(c, c) for c in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(SHORT[workload], fontsize=11)
        ax.set_xlabel(
            f"{X} PyMongo sync, log scale (solid: ops/s, higher is better; hatched: CPU/op)"
        )
        ax.xaxis.label.set_size(8)
    ax = flat[len(WORKLOADS)]
    rows = [c for c in clients if "stall_ms" in summary[c].get("fetch", {})]
    values = [summary[c]["fetch"]["stall_ms"]["median"] for c in rows]
    ax.barh(range(len(rows)), values, color=[COLORS.get(_library(c), "#333") for c in rows])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([labels.get(c, c) for c in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_title("longest event-loop stall, fetch 1,000 (ms)", fontsize=11)
    ax.set_xlabel("ms (lower is better)", fontsize=8)
    ax = flat[len(WORKLOADS) + 1]
    model = data.get("model") or {}
    results = {k: v for k, v in model.get("results", {}).items() if "error" not in v}
    if results:
        names = list(results)
        ys = list(range(len(names)))
        ax.barh(
            [y - 0.2 for y in ys],
            [results[n]["parse_us"] for n in names],
            height=0.38,
            label="parse",
            color="#2ca02c",
        )
        ax.barh(
            [y + 0.2 for y in ys],
            [results[n]["dump_us"] for n in names],
            height=0.38,
            label="dump",
            color="#98df8a",
        )
        ax.set_yticks(ys)
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.legend(fontsize=8)
    ax.set_title("model parse/dump, no server (µs/doc)", fontsize=11)
    ax.set_xlabel("µs per document (lower is better)", fontsize=8)
    meta = data["meta"]
    fig.suptitle(
        f"anyodm benchmarks {meta['date']} ({meta['rounds']} paired repetitions; "
        f"{meta['machine']['cores']} cores). Colours: grey PyMongo, blue ODMantic, "
        f"purple Beanie, red anyodm",
        fontsize=13,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _clients(data: dict[str, Any]) -> list[str]:
    """The run's clients in the page's order (a ``--before`` run's twins left out)."""
    present = [c for c in data["summary"] if "@" not in c]
    known = [c for c in ORDER if c in present]
    return known + [c for c in present if c not in known]


def _unit(workload: str) -> str:
    return "doc" if workload in ("fetch", "fetch_10k", "bulk_insert") else "op"


def _ratio(entry: dict[str, Any], name: str) -> str:
    """A ratio to the baseline as ``0.93x (0.92-0.94)`` with the page's signs."""
    paired = entry.get(f"{name}_ratio_paired")
    if not paired:
        return f"{_num(entry.get(f'{name}_ratio'), 2)}{X}"
    if paired.get("n", 0) < 2:
        return f"{paired['median']:.2f}{X}"
    return f"{paired['median']:.2f}{X} ({paired['min']:.2f}{DASH}{paired['max']:.2f})"


def _column(workload: str) -> str:
    return SHORT[workload].replace(" (per doc)", "")


def results_table(data: dict[str, Any]) -> list[str]:
    """One row per client, one column per workload: throughput and its ratio."""
    summary = data["summary"]
    labels = data["meta"]["labels"]
    baseline = data["meta"].get("baseline", "pymongo_sync")
    workloads = [w for w in WORKLOADS if any(w in summary[c] for c in _clients(data))]
    head = "| client | " + " | ".join(f"{_column(w)}, {_unit(w)}s/s" for w in workloads) + " |"
    lines = [head, "| --- |" + " ---: |" * len(workloads)]
    for client in _clients(data):
        cells = []
        for workload in workloads:
            entry = summary[client].get(workload)
            if entry is None:
                cells.append(DASH)
                continue
            ops = _num(entry["ops_per_s"]["median"])
            cells.append(ops if client == baseline else f"{ops} · {_ratio(entry, 'ops')}")
        lines.append(f"| {labels.get(client, client)} | " + " | ".join(cells) + " |")
    return lines


def _median(data: dict[str, Any], client: str, workload: str, key: str) -> float | None:
    entry = data["summary"].get(client, {}).get(workload, {}).get(key)
    return entry["median"] if entry else None


def overhead_section(data: dict[str, Any]) -> list[str]:
    """What anyodm adds over the driver, in this run's client CPU figures."""

    def cpu(client: str, workload: str) -> float | None:
        return _median(data, client, workload, "cpu_us_per_op")

    def ratio(client: str, workload: str) -> str:
        entry = data["summary"][client][workload]
        paired = entry.get("cpu_ratio_paired")
        if not paired or paired.get("n", 0) < 2:
            return f"{_num(entry.get('cpu_ratio'), 2)}{X}"
        return f"{paired['median']:.2f}{X}, {paired['min']:.2f}{DASH}{paired['max']:.2f} per pair"

    def us(value: float) -> str:
        return f"{value:,.1f} µs" if value < 100 else f"{value:,.0f} µs"

    out = [
        "## What anyodm adds over the driver, and why",
        "",
        "Client CPU per operation, from the tables below (medians of this run); the",
        "server's time is the same for every client.",
        "",
    ]
    base, sync = cpu("pymongo_sync", "find_one"), cpu("anyodm_sync", "find_one")
    fetch_base, fetch_sync = cpu("pymongo_sync", "fetch"), cpu("anyodm_sync", "fetch")
    model = (data.get("model") or {}).get("results") or {}
    parse = {name: row["parse_us"] for name, row in model.items() if "parse_us" in row}
    if base and sync and fetch_base and fetch_sync:
        text = (
            f"- **Validation into models.** Every document read becomes a validated "
            f"instance of its model: a `find_one` by id costs the `SyncEngine` "
            f"{us(sync)} against PyMongo's {us(base)} ({ratio('anyodm_sync', 'find_one')}), a "
            f"fetched "
            f"document {us(fetch_sync)} against {us(fetch_base)} for PyMongo's dict."
        )
        floor, odm = parse.get("plain pydantic (floor)"), parse.get("anyodm")
        if floor and odm:
            peers = ", ".join(
                f"{name} {parse[name]:.1f} µs" for name in ("ODMantic", "Beanie") if name in parse
            )
            text += (
                f" Without a server, loading a decoded document into the model costs "
                f"anyodm {odm:.1f} µs against {floor:.1f} µs for `model_validate` of the same "
                f"plain pydantic model" + (f" ({peers})." if peers else ".")
            )
        text += (
            " A `find_one` costs more than that validation: each call also builds its query"
            " from the model's fields, and between two server round trips this work runs on"
            " cold caches."
        )
        out.append(text)
    hops = []
    for backend in ("asyncio", "trio"):
        floor_cpu = cpu(f"pymongo_threads_{backend}", "find_one")
        engine_cpu = cpu(f"anyodm_{backend}", "find_one")
        if base and floor_cpu and engine_cpu:
            hops.append((backend, floor_cpu, engine_cpu))
    if hops and base:
        parts = "; ".join(
            f"on {backend}, PyMongo through that hop costs {us(floor_cpu)} per `find_one` "
            f"and anyodm's `Engine` {us(engine_cpu)} ({engine_cpu / floor_cpu:.2f}{X} the floor)"
            for backend, floor_cpu, engine_cpu in hops
        )
        text = (
            f"- **The thread hop on async.** The async `Engine` runs each PyMongo call in a "
            f"worker thread, so one code path serves asyncio and trio and the event loop never "
            f"waits on a socket. The hop is most of the async cost: against sync PyMongo's "
            f"{us(base)}, {parts}."
        )
        native = cpu("pymongo_async", "find_one")
        if native:
            text += (
                f" PyMongo's own `AsyncMongoClient` (asyncio only, no threads) costs {us(native)}."
            )
        stall = _median(data, "anyodm_asyncio", "fetch", "stall_ms")
        if stall is not None:
            others = [
                f"{label} {value:.1f} ms"
                for client, label in (("pymongo_async", "`AsyncMongoClient`"), ("beanie", "Beanie"))
                if (value := _median(data, client, "fetch", "stall_ms")) is not None
            ]
            text += (
                f" Decoding and validating a fetch runs in the thread too, handing the GIL "
                f"back regularly: while 1,000 documents were fetched, the asyncio loop's "
                f"longest stall was {stall:.1f} ms"
                + (f" ({', '.join(others)})." if others else ".")
            )
        out.append(text)
    save_base, save_sync = cpu("pymongo_sync", "update"), cpu("anyodm_sync", "update")
    if save_base and save_sync:
        out.append(
            f"- **Saved state for change tracking.** Each loaded instance keeps the BSON "
            f"bytes the server sent as its saved state; `save` dumps the instance, compares "
            f"it with that state and sends only what changed (here one field's `$set`, what "
            f"PyMongo's `update_one` sends by hand). A save of one changed field costs the "
            f"`SyncEngine` {us(save_sync)} against {us(save_base)} for `update_one` "
            f"({ratio('anyodm_sync', 'update')}). The same state is what lets a save never "
            f"overwrite fields it did not change."
        )
    odms = [
        (label, cpu(client, "find_one"))
        for client, label in (
            ("odmantic_sync", "ODMantic's `SyncEngine`"),
            ("odmantic_async", "ODMantic's `AIOEngine`"),
            ("beanie", "Beanie"),
        )
    ]
    known = [(label, value) for label, value in odms if value]
    if known and sync:
        listed = ", ".join(f"{label} {us(value)}" for label, value in known)
        engines = ", ".join(
            f"{backend} {us(value)}"
            for backend in ("asyncio", "trio")
            if (value := cpu(f"anyodm_{backend}", "find_one"))
        )
        out.append(
            f"- **Beside the other ODMs**, the same `find_one` costs {listed}; anyodm's "
            f"`SyncEngine` {us(sync)}" + (f", its `Engine` on {engines}." if engines else ".")
        )
    out.append("")
    return out


def _server_line(server: dict[str, Any], sizes: dict[str, Any]) -> str:
    seeded = f"{sizes['fetch_docs']:,} seeded documents for the reads and updates" + (
        f" (and {sizes['fetch_big_docs']:,} for the large fetch)"
        if sizes.get("fetch_big_docs")
        else ""
    )
    if server.get("kind") == "MONGODB_URI":
        return f"- **Server.** The MongoDB at `MONGODB_URI`, holding {seeded}."
    patches = " with anyodm.testing's patches" if server.get("patched") else ""
    return (
        "- **Server.** anyodm's embedded MongoDB-wire server (`anyodm.testing`: mongoeco"
        f"{patches}, pure Python, in memory), in processes of its own, so that its CPU is not "
        "the client's: one for the writes, its collection dropped around every measurement, "
        f"and one holding {seeded}."
    )


def render_page(data: dict[str, Any], results_path: Path) -> str:
    meta = data["meta"]
    versions = meta["versions"]
    mach = meta["machine"]
    sizes = meta["sizes"]
    server = meta.get("server", {})
    labels = meta["labels"]
    try:
        rel = results_path.resolve().relative_to(ROOT)
    except ValueError:
        rel = results_path
    loads = [r["load"] for r in meta.get("load_per_repetition", [])]
    load_text = (
        f"; 1-minute load average {min(loads):.2f}-{max(loads):.2f} during the "
        f"measurements (median {sorted(loads)[len(loads) // 2]:.2f})"
        if loads
        else ""
    )
    clients = _clients(data)
    out = [
        "# Benchmarks",
        "",
        "What an ODM costs on top of the driver, and how anyodm compares with ODMantic and",
        "Beanie: every client below reads and writes the same 12-field documents on the",
        "same server, measured side by side in one run.",
        "",
        *(f"- **{labels.get(c, c)}**: {DESCRIPTIONS[c]}." for c in clients if c in DESCRIPTIONS),
        *(f"- **{labels.get(c, c)}**." for c in clients if c not in DESCRIPTIONS),
        "",
    ]
    if meta.get("mode") == "quick":
        out += [
            "**A smoke run** (`--quick`: smaller sizes, fewer repetitions): its figures are",
            "not representative.",
            "",
        ]
    out += [
        "![benchmark chart](benchmarks.png)",
        "",
        "## Results",
        "",
        f"Run of {meta['date']}, {meta['rounds']} paired repetitions, against "
        + (
            "a MongoDB server"
            if server.get("kind") == "MONGODB_URI"
            else "anyodm's embedded test server"
        )
        + " (see *How it is measured*). Each cell: operations per second (documents",
        "per second for bulk inserts and fetches; higher is better), then the ratio to",
        "PyMongo sync: the median of the per-repetition ratios, with their range. Sync clients",
        "first, then async ones; the client CPU of every workload is in the tables further",
        "down.",
        "",
        *results_table(data),
        "",
        *(
            [
                "On this server most of each operation's time is the server's, so the ratios",
                "of throughput lie closer to 1 than they would against a faster server; client",
                "CPU per operation is the figure that carries over to another server.",
                "",
            ]
            if server.get("kind") != "MONGODB_URI"
            else []
        ),
        "## How it is measured",
        "",
        _server_line(server, sizes),
        "- **Pairing.** Every client runs in a worker process of its own, opened and warmed up",
        "  once. Each workload is repeated; each repetition runs every client once, in one order",
        "  and then in the reverse order (A B … B A), each anyodm client right after the PyMongo",
        "  client it is compared with, so two clients compared are measured seconds apart, under",
        "  the same load. A ratio is the **median of the per-repetition ratios**",
        f"  (min{DASH}max); an absolute figure is the median over the repetitions, ± half its",
        "  spread.",
        "- **Throughput and client CPU.** ops/s is wall-clock; client CPU µs/op is",
        "  `time.process_time()` of the client's process (all its threads, including the kernel",
        "  time of its socket calls) divided by the operations.",
        f"- **Machine.** {mach['cpu']}, {mach['cores']} cores, {mach.get('memory_gib')} GiB, "
        f"{mach['os']}{load_text}. The machine is shared: at a load above "
        f"{mach['cores']}, the client, the server and other programs take turns on the cores.",
        "- **Versions.** " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"- **Sizes.** Insert one at a time {sizes['insert_one']}; bulk insert "
        f"{sizes['bulk_insert']:,}; `find_one` {sizes['find_one']:,}; fetch "
        f"{sizes['fetch_docs']:,} documents {X} {sizes['fetch_times']}"
        + (
            f"; fetch {sizes['fetch_big_docs']:,} documents once"
            if sizes.get("fetch_big_docs")
            else ""
        )
        + f"; update {sizes['update']}; {sizes['concurrent_tasks']} concurrent tasks {X} "
        f"{sizes['concurrent_per_task']} `find_one` each (threads for the sync clients).",
        "- **What each client does.** Insert: `save(instance)` (anyodm, ODMantic), `insert()`",
        "  (Beanie), `insert_one(dict)` (PyMongo); bulk: `save_all` / `insert_many`; find by id:",
        "  `find_one(M, M.id == oid)` (anyodm, ODMantic), `M.get(oid)` (Beanie),",
        "  `find_one({'_id': oid})`; fetch: `engine.find(M)` / `M.find_all().to_list()` /",
        "  `find({}).to_list()` (dicts for PyMongo); update: set a field on a loaded instance and",
        "  `save` it (anyodm, ODMantic), `doc.set({M.counter: v})` (Beanie), `update_one` with",
        "  `$set` (PyMongo). A client without a row in a workload's table did not run it.",
        "- **Event-loop stall.** A task sleeping 1 ms in a loop beside one fetch; the stall is",
        "  how late it woke at worst. Beside it, the same ticker on an idle loop for as long:",
        "  the machine's own scheduling noise.",
        "",
        *overhead_section(data),
    ]
    if data.get("errors"):
        out += ["## Clients or measurements that could not run", ""]
        for client, err in data["errors"].items():
            out.append(f"- {labels.get(client, client)}: {err}")
        out.append("")
    out += [
        "## Every workload",
        "",
        f"Ratios are to PyMongo sync (median of the per-repetition ratios, min{DASH}max); absolute",
        "figures are medians ± half their spread.",
        "",
    ]
    for workload in WORKLOADS:
        if not any(workload in data["summary"][c] for c in clients):
            continue
        out += [f"### {TITLES[workload]}", "", *workload_table(data, workload), ""]
    out += ["### Model parse and dump, no server", "", *model_table(data.get("model")), ""]
    for section in SECTIONS:
        if section.exists():
            out += [section.read_text().strip(), ""]
    out.append(f"The raw numbers of the main tables are in `{rel}`; regenerate the page with")
    out.append("`just bench` (about 20 minutes on 2 cores) or `just bench --quick` (a smoke run).")
    out.append("")
    return "\n".join(out)


def render(data: dict[str, Any], results_path: Path) -> None:
    render_chart(data, CHART)
    PAGE.write_text(render_page(data, results_path))
    print(f"bench: wrote {PAGE.relative_to(ROOT)} and {CHART.relative_to(ROOT)}", file=sys.stderr)


def main() -> None:
    path = Path(sys.argv[1])
    render(json.loads(path.read_text()), path)


if __name__ == "__main__":
    main()


def text_table(data: dict[str, Any]) -> str:
    """A compact plain-text table (ops/s and CPU µs/op per client and workload)."""
    summary = data["summary"]
    width = 16
    lines = ["client".ljust(26) + "".join(w[:width].rjust(width + 2) for w in WORKLOADS)]
    for client, per in summary.items():
        row = client.ljust(26)
        for workload in WORKLOADS:
            entry = per.get(workload)
            if entry is None:
                row += "-".rjust(width + 2)
                continue
            ops = entry["ops_per_s"]["median"]
            cpu = entry["cpu_us_per_op"]["median"]
            row += f"{ops:7.0f}/s {cpu:5.0f}us".rjust(width + 2)
        stall = per.get("fetch", {}).get("stall_ms")
        if stall:
            row += f"  stall {stall['median']:.1f} ms"
        lines.append(row)
    return "\n".join(lines)
