"""The server-free model parse/dump figures, from ``benchmarks/bench_model.py``.

That script belongs to the model layer's benchmark; this module only runs it (in its own
process, in the benchmark environment) and reads the ``results/model.json`` it writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "bench_model.py"
RESULT = HERE / "results" / "model.json"
TIMEOUT = 300.0


def collect(*, run: bool = True) -> dict[str, Any]:
    """Run ``bench_model.py`` (unless ``run`` is false) and return its ``model.json``."""
    if not SCRIPT.exists():
        return {"error": "benchmarks/bench_model.py is missing"}
    if run:
        try:
            proc = subprocess.run(
                [sys.executable, str(SCRIPT)],
                cwd=HERE.parent,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"bench_model.py timed out after {TIMEOUT:g}s"}
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": f"bench_model.py failed: {tail}"}
    try:
        data: dict[str, Any] = json.loads(RESULT.read_text())
    except (OSError, ValueError) as exc:
        return {"error": f"cannot read {RESULT.name}: {exc}"}
    return data
