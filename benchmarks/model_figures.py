"""The server-free model parse/dump figures, reusing ``benchmarks/bench_model.py``.

That script belongs to the model layer's benchmark (its own results are
``results/model.*``, which this module never writes).  Here its data, model builders and
timer are imported and run in a separate process, and the figures returned as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TIMEOUT = 300.0
CONTENDERS = {
    "plain pydantic (floor)": "plain_models",
    "anyodm": "anyodm_models",
    "ODMantic": "odmantic_models",
    "Beanie": "beanie_models",
}


def _measure() -> dict[str, Any]:
    from benchmarks import bench_model as bm

    docs = bm.make_docs()
    results: dict[str, Any] = {}
    for name, builder in CONTENDERS.items():
        try:
            parse, dump = getattr(bm, builder)()
            instances = [parse(doc) for doc in docs]
            results[name] = {
                "parse_us": bm.best_us_per_doc(parse, docs),
                "dump_us": bm.best_us_per_doc(dump, instances),
            }
        except Exception as exc:  # a peer that cannot run is reported, not faked
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return {"documents": bm.N, "repeats": bm.REPEATS, "results": results}


def collect() -> dict[str, Any]:
    """Run the model benchmark in its own process and return its figures."""
    if not (HERE / "bench_model.py").exists():
        return {"error": "benchmarks/bench_model.py is missing"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.model_figures"],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"the model benchmark timed out after {TIMEOUT:g}s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"the model benchmark failed: {tail}"}
    data: dict[str, Any] = json.loads(lines[-1])
    return data


if __name__ == "__main__":
    sys.stdout.write(json.dumps(_measure()) + "\n")
