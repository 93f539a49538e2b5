"""One client in a process of its own, measuring one workload at a time when asked.

Run by ``benchmarks/run.py``: ``python -m benchmarks.worker '<json setup>'``.  The worker
opens its client and warms it up, prints ``{"ready": true}``, then reads one request a
line on stdin (``{"workload": ..., "seed": ...}``) and answers each with one line of
JSON: ``{"ok": true, "sample": {...}}`` (``"sample": null`` when the client cannot run
that workload) or ``{"ok": false, "error": ...}``.  End of input closes the client.  A
peer that cannot be imported or run is reported, never faked.

``"anyodm_path"`` in the setup puts another copy of the ``anyodm`` package first on the
import path (the runner's ``--before`` comparison of two versions).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _answer(run: Callable[[], Any]) -> dict[str, Any]:
    try:
        sample = run()
    except Exception as exc:
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }
    return {"ok": True, "sample": None if sample is None else sample.as_dict()}


def _requests() -> Any:
    for line in sys.stdin:
        if line.strip():
            yield json.loads(line)


def serve(setup: dict[str, Any]) -> None:
    if setup.get("anyodm_path"):
        sys.path.insert(0, setup["anyodm_path"])
    from bson import ObjectId

    from benchmarks import clients
    from benchmarks.common import Sizes
    from benchmarks.driver import (
        AsyncBench,
        prepare_async,
        prepare_sync,
        run_async_workload,
        run_sync_workload,
    )

    try:
        bench = clients.load(setup["client"])
    except Exception as exc:
        _emit({"ok": False, "stage": "import", "error": f"{type(exc).__name__}: {exc}"})
        return
    ids = [ObjectId(h) for h in setup["ids"]]
    sizes = Sizes(**setup["sizes"])
    uris = (setup["write_uri"], setup["read_uri"])

    if not isinstance(bench, AsyncBench):
        try:
            prepare_sync(bench, *uris, ids, setup["seed"])
        except Exception as exc:
            _emit({"ok": False, "stage": "open", "error": f"{type(exc).__name__}: {exc}"})
            return
        _emit({"ready": True})
        try:
            for req in _requests():
                workload, seed = req["workload"], req["seed"]
                _emit(_answer(lambda: run_sync_workload(bench, workload, ids, sizes, seed)))  # noqa: B023
        finally:
            bench.close()
        return

    import anyio
    import anyio.to_thread

    async def serve_async() -> None:
        try:
            await prepare_async(bench, *uris, ids, setup["seed"])
        except Exception as exc:
            _emit({"ok": False, "stage": "open", "error": f"{type(exc).__name__}: {exc}"})
            return
        _emit({"ready": True})
        try:
            while line := await anyio.to_thread.run_sync(sys.stdin.readline):
                if not line.strip():
                    continue
                req = json.loads(line)
                try:
                    sample = await run_async_workload(
                        bench, req["workload"], ids, sizes, req["seed"]
                    )
                except Exception as exc:
                    _emit(
                        {
                            "ok": False,
                            "error": f"{type(exc).__name__}: {exc}",
                            "traceback": traceback.format_exc(limit=8),
                        }
                    )
                    continue
                _emit({"ok": True, "sample": None if sample is None else sample.as_dict()})
        finally:
            await bench.close()

    anyio.run(serve_async, backend=bench.backend)


def main() -> None:
    serve(json.loads(sys.argv[1]))


if __name__ == "__main__":
    main()
