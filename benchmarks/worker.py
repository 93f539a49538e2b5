"""One client, one round of every workload, in a process of its own.

Run by ``benchmarks/run.py``: ``python -m benchmarks.worker '<json request>'``.  Prints
one line of JSON: ``{"ok": true, "samples": {workload: sample}}`` or ``{"ok": false,
"error": ...}`` (a peer that cannot be imported or run is reported, never faked).
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

from bson import ObjectId

from benchmarks.common import Sizes


def run(request: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import clients
    from benchmarks.driver import AsyncBench, run_async, run_sync

    try:
        bench = clients.load(request["client"])
    except Exception as exc:
        return {"ok": False, "stage": "import", "error": f"{type(exc).__name__}: {exc}"}
    ids = [ObjectId(h) for h in request["ids"]]
    sizes = Sizes(**request["sizes"])
    workloads = tuple(request["workloads"])
    args = (request["write_uri"], request["read_uri"], ids, sizes, workloads, request["seed"])
    try:
        if isinstance(bench, AsyncBench):
            import anyio

            samples = anyio.run(lambda: run_async(bench, *args), backend=bench.backend)
        else:
            samples = run_sync(bench, *args)
    except Exception as exc:
        return {
            "ok": False,
            "stage": "run",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }
    return {"ok": True, "samples": {k: v.as_dict() for k, v in samples.items()}}


def main() -> None:
    request = json.loads(sys.argv[1])
    result = run(request)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
