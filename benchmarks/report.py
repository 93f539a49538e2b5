"""Render ``docs/benchmarks.md`` and its chart from a results JSON of ``run.py``.

    python -m benchmarks.report benchmarks/results/<date>.json

The analysis paragraphs (what a missed target is due to) are kept by hand in
``benchmarks/analysis.md``, and the server-side operations' section (measured by
``benchmarks/server_ops.py``) in ``benchmarks/server_ops_section.md``; both are included
as they are, and so are the sections of the other standalone benchmarks (lists of
references, change streams).
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
ANALYSIS = Path(__file__).resolve().parent / "analysis.md"
#: Kept by hand like the analysis: the server-side operations' own benchmark (issue 12).
SERVER_OPS = Path(__file__).resolve().parent / "server_ops_section.md"
#: Likewise: lists of references (issue 15, measured by ``benchmarks/list_references.py``).
LIST_REFERENCES = Path(__file__).resolve().parent / "list_references_section.md"
#: Likewise: change streams (measured by ``benchmarks/change_streams.py``).
CHANGE_STREAMS = Path(__file__).resolve().parent / "change_streams_section.md"

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


def _paired(entry: dict[str, Any], name: str) -> str:
    """A paired ratio: median of the per-pair ratios and their range."""
    paired = entry.get(f"{name}_ratio_paired")
    if not paired:
        return _num(entry.get(f"{name}_ratio"), 2)
    if paired.get("n", 0) < 2:
        return _num(paired["median"], 2)
    return f"{paired['median']:.2f} ({paired['min']:.2f}-{paired['max']:.2f})"


def workload_table(data: dict[str, Any], workload: str) -> list[str]:
    summary = data["summary"]
    labels = data["meta"]["labels"]
    per_op = "doc" if workload in ("fetch", "fetch_10k", "bulk_insert") else "op"
    has_stall = any("stall_ms" in s.get(workload, {}) for s in summary.values())
    head = f"| client | {per_op}s/s | x PyMongo sync | client CPU µs/{per_op} | x PyMongo sync |"
    rule = "| --- | ---: | ---: | ---: | ---: |"
    if has_stall:
        head += " longest loop stall (ms) | idle-loop ticker (ms) |"
        rule += " ---: | ---: |"
    lines = [head, rule]
    for client, per in summary.items():
        entry = per.get(workload)
        if entry is None:
            continue
        ops, cpu = entry["ops_per_s"], entry["cpu_us_per_op"]
        digits = 1 if cpu["median"] < 100 else 0
        row = (
            f"| {labels.get(client, client)} | {_num(ops['median'])}{_spread(ops)} "
            f"| {_paired(entry, 'ops')} | {_num(cpu['median'], digits)}{_spread(cpu)} "
            f"| {_paired(entry, 'cpu')} |"
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
        "| implementation | parse µs/doc | x plain pydantic | dump µs/doc | x plain pydantic |",
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
    clients = list(summary)
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
        ax.set_xlabel("x PyMongo sync, log scale (solid: ops/s, higher is better; hatched: CPU/op)")
        ax.xaxis.label.set_size(8)
    ax = flat[len(WORKLOADS)]
    rows = [c for c in clients if "stall_ms" in summary[c].get("fetch", {})]
    values = [summary[c]["fetch"]["stall_ms"]["median"] for c in rows]
    ax.barh(range(len(rows)), values, color=[COLORS.get(_library(c), "#333") for c in rows])
    ax.axvline(5.0, color="black", linestyle="--", linewidth=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([labels.get(c, c) for c in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_title("longest event-loop stall, fetch 1,000 (ms)", fontsize=11)
    ax.set_xlabel("ms (lower is better; dashed: 5 ms target)", fontsize=8)
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
        f"anyodm benchmarks {meta['date']} ({meta['mode']}, {meta['rounds']} paired repetitions; "
        f"{meta['machine']['cores']} cores). Colours: grey PyMongo, blue ODMantic, "
        f"purple Beanie, red anyodm",
        fontsize=13,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def render_page(data: dict[str, Any], results_path: Path) -> str:
    meta = data["meta"]
    versions = meta["versions"]
    mach = meta["machine"]
    sizes = meta["sizes"]
    server = meta.get("server", {})
    try:
        rel = results_path.resolve().relative_to(ROOT)
    except ValueError:
        rel = results_path
    loads = [r["load"] for r in meta.get("load_per_repetition", [])]
    load_text = (
        f"; 1-minute load average during the measurements {min(loads):.2f}-{max(loads):.2f} "
        f"(median {sorted(loads)[len(loads) // 2]:.2f})"
        if loads
        else ""
    )
    before = meta.get("before")
    out = [
        "# Benchmarks",
        "",
        "What does an ODM cost on top of the driver? anyodm beside raw PyMongo, PyMongo's",
        "async client, ODMantic and Beanie, measured side by side in one run, on the same",
        "server and data. Regenerate with `just bench --before main` (full, about 20 minutes",
        "on 2 cores), `just bench` (without the before/after comparison) or",
        "`just bench --quick` (a smoke run); the raw numbers of this page are in",
        f"`{rel}` in the repository.",
        "",
        f"**Run of {meta['timestamp']}** ({meta['mode']} mode, {meta['rounds']} paired "
        f"repetitions, {meta.get('elapsed_s', '?')} s).",
        "",
        f"- Machine: {mach['cpu']}, {mach['cores']} cores, {mach.get('memory_gib')} GiB, "
        f"{mach['os']}; load average {_num(mach['load_before'][0], 2)} before, "
        f"{_num(mach.get('load_after', [math.nan])[0], 2)} after{load_text}. The machine is "
        "shared with other developers' test runs: a load above 2 means the client, the "
        "server and others took turns on the 2 cores.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        f"- Server: {server.get('kind', '?')}"
        + (
            f" (mongoeco insert-cost patch: {'applied' if server.get('patched') else 'not applied'}"
            + (f", {server['patch_note']}" if server.get("patch_note") else "")
            + ")"
            if "patched" in server
            else ""
        )
        + ".",
        *(
            [
                f"- Before/after: the anyodm clients also ran on `{before}` "
                f"({meta.get('before_commit', '?')})'s anyodm, paired the same way."
            ]
            if before
            else []
        ),
        "",
        "## How it is measured",
        "",
        "- One common model, 12 fields besides `_id`: strings, ints, a float, a bool, a",
        "  `datetime`, an optional string, a list of strings and an embedded address",
        "  (`benchmarks/common.py`; each library's class in `benchmarks/clients/`).",
        "- The server is anyodm's embedded MongoDB-wire server (`anyodm.testing`), run as its",
        "  own processes: one for the write workloads, whose collection is dropped around every",
        "  measurement (the embedded server's insert cost grows with the data it holds), and",
        f"  one holding the {sizes['fetch_docs']:,} seeded documents that the read and update",
        f"  workloads use (and {sizes.get('fetch_big_docs', 0):,} more in a second collection",
        "  for the large fetch). Its CPU is not the client's.",
        "- **Paired measurements.** Every client runs in a worker process of its own, opened",
        "  and warmed up once. Each workload is repeated; each repetition runs every client",
        "  once, one after the other, visiting them in one order and then in the reverse",
        "  order (A B, B A, A B, ...), with each anyodm client right after the raw PyMongo",
        "  client it is compared with. Two clients compared are thus measured seconds apart,",
        "  under the same load. A ratio between two clients is the **median of their",
        "  per-repetition ratios**, shown with the range of those ratios (min-max); the",
        "  absolute figures are medians over the repetitions, ± half their spread",
        "  (max - min) relative to the median.",
        "- **ops/s** is wall-clock throughput; **client CPU µs/op** is `time.process_time()` of",
        "  the benchmark process (every thread of it, including the kernel time of its socket",
        "  calls) divided by the operations. Ratios in the tables are to raw PyMongo sync.",
        f"- Sizes: insert one at a time {sizes['insert_one']}; bulk insert "
        f"{sizes['bulk_insert']:,}; `find_one` {sizes['find_one']:,}; fetch "
        f"{sizes['fetch_docs']:,} documents x {sizes['fetch_times']} per measurement; fetch "
        f"{sizes.get('fetch_big_docs', 0):,} documents once per measurement; update "
        f"{sizes['update']}; {sizes['concurrent_tasks']} concurrent tasks x "
        f"{sizes['concurrent_per_task']} `find_one` each (threads for the sync clients).",
        "- What each client does: insert = `save(instance)` (ODMantic, anyodm), `insert()`",
        "  (Beanie), `insert_one(dict)` (PyMongo); bulk = `save_all` / `insert_many`; find by",
        "  id = `find_one(M, M.id == oid)` (ODMantic, anyodm), `M.get(oid)` (Beanie),",
        "  `find_one({'_id': oid})`; fetch = `await engine.find(M)` / `M.find_all().to_list()`",
        "  / `find({}).to_list()` (dicts: no models for raw PyMongo); update = set the field on",
        "  a loaded instance and `save` it (ODMantic, anyodm), `doc.set({M.counter: v})`",
        "  (Beanie), `update_one` with `$set`. Beanie has no client for the 10,000-document",
        "  collection (the row is absent).",
        "- The thread floor is raw PyMongo called through `anyio.to_thread.run_sync` with a",
        "  100-thread `CapacityLimiter` (the size anyodm's `Engine` uses by default).",
        "- Longest loop stall: a ticker task sleeping 1 ms in a loop beside one fetch; the",
        "  stall is how late it woke at worst (largest gap minus the 1 ms). Measured on a",
        "  separate fetch from the timed ones; beside it, the same ticker on an idle loop for",
        "  as long (the machine's own scheduling noise).",
        "- Noise: the machine has 2 cores shared by the client, the server and whatever else",
        "  runs; compare paired ratios within one run, not absolute numbers across runs.",
        "",
    ]
    if data.get("errors"):
        out += ["## Clients or measurements that could not run", ""]
        for client, err in data["errors"].items():
            out.append(f"- {meta['labels'].get(client, client)}: {err}")
        out.append("")
    if data.get("paired_targets"):
        out += [
            "## Targets of issue 14 (paired ratios: median of per-pair ratios, min-max)",
            "",
            "| target | met | measured |",
            "| --- | --- | --- |",
        ]
        for t in data["paired_targets"]:
            mark = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
            out.append(f"| {t['target']} | {mark} | {t['detail']} |")
        out.append("")
    if data.get("before"):
        out += [
            f"## This branch against `{before}`, paired (ratio = this branch / {before})",
            "",
            "Throughput above 1 and CPU below 1 are better. A row counts as slower only if",
            "every pair was slower (its whole range on the wrong side of 1). The stall column",
            "is not a ratio: both medians, in ms.",
            "",
            "| client | workload | ops/s ratio | client CPU ratio | slower? "
            f"| longest loop stall, ms: this branch / {before} (medians) |",
            "| --- | --- | ---: | ---: | --- | ---: |",
        ]
        for row in data["before"]:
            o, c = row["ops"], row["cpu"]
            stall = row.get("stall_ms")
            stall_text = (
                f"{stall['after']['median']:.1f} / {stall['before']['median']:.1f}"
                if stall
                else "-"
            )
            out.append(
                f"| {meta['labels'].get(row['client'], row['client'])} | "
                f"{SHORT.get(row['workload'], row['workload'])} | "
                f"{o['median']:.2f} ({o['min']:.2f}-{o['max']:.2f}) | "
                f"{c['median']:.2f} ({c['min']:.2f}-{c['max']:.2f}) | "
                f"{'**yes**' if row['slower'] else 'no'} | {stall_text} |"
            )
        out.append("")
    out += [
        "## Targets of issues 4 and 6 (medians over the repetitions)",
        "",
        "| target | met | measured |",
        "| --- | --- | --- |",
    ]
    for t in data.get("targets", []):
        mark = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        out.append(f"| {t['target']} | {mark} | {t['detail']} |")
    out += ["", "![benchmark chart](benchmarks.png)", ""]
    if ANALYSIS.exists():
        out += [ANALYSIS.read_text().strip(), ""]
    out += ["## Results", ""]
    for workload in WORKLOADS:
        if not any(workload in per for per in data["summary"].values()):
            continue
        out += [f"### {TITLES[workload]}", "", *workload_table(data, workload), ""]
    out += ["### Model parse and dump, no server", "", *model_table(data.get("model")), ""]
    if SERVER_OPS.exists():
        out += [SERVER_OPS.read_text().strip(), ""]
    if LIST_REFERENCES.exists():
        out += [LIST_REFERENCES.read_text().strip(), ""]
    if CHANGE_STREAMS.exists():
        out += [CHANGE_STREAMS.read_text().strip(), ""]
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
