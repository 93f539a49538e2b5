"""The embedded server's own process: mongoeco's wire server on a loopback port.

Run as a script by path (``python _child.py --port 0``) under a Python >= 3.13 that has
mongoeco and pymongo (anyodm's patches import its ``bson``); it needs nothing of anyodm,
so any such interpreter will do.  It speaks to
its parent through two pipes:

- stdout: exactly one line, ``READY {"host": ..., "port": ..., ...}`` once the server
  listens, or ``ERROR <one-line message>`` when it cannot start;
- stdin: never written; end-of-file means the parent is gone, and the server stops.

SIGTERM and SIGINT stop it too, and so does a change of parent pid (the parent died and
someone else holds the pipe).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib.util
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

READY = "READY"
ERROR = "ERROR"
MIN_PYTHON = (3, 13)
PARENT_POLL_SECONDS = 0.5


def _report(kind: str, text: str) -> None:
    sys.stdout.write(f"{kind} {text}\n")
    sys.stdout.flush()


def _fail(message: str) -> int:
    _report(ERROR, message)
    return 1


class _EndOfInput(asyncio.Protocol):
    """Sets ``stop`` when the parent's end of the stdin pipe closes."""

    def __init__(self, stop: asyncio.Event) -> None:
        self._stop = stop

    def eof_received(self) -> bool:
        self._stop.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop.set()


async def _watch_parent(stop: asyncio.Event, parent_pid: int) -> None:
    while not stop.is_set():
        if os.getppid() != parent_pid:
            stop.set()
            return
        await asyncio.sleep(PARENT_POLL_SECONDS)


def _load_sibling(filename: str, name: str) -> Any:
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: info key -> the patch module applied after _mongoeco_patch.py, in this order
_SIBLINGS = {
    "change_streams": "_change_stream_patch.py",
    "keyed_lookup": "_lookup_patch.py",
    "fail_command": "_fail_command_patch.py",
}


def _apply_patch() -> dict[str, Any]:
    """Load and apply the sibling patches (insert cost and write conflicts, change
    streams, keyed $lookup, failCommand on getMore); failCommand wraps the change-stream
    patch's commands, so it comes after it."""
    module = _load_sibling("_mongoeco_patch.py", "_anyodm_mongoeco_patch")
    if module is None:
        return {
            "patched": False,
            "patch_note": "patch module not found",
            **dict.fromkeys(_SIBLINGS, False),
        }
    note: str | None = module.apply()
    info: dict[str, Any] = {"patched": note is None, "patch_note": note}
    for key, filename in _SIBLINGS.items():
        sibling = _load_sibling(filename, f"_anyodm{filename.removesuffix('.py')}")
        sibling_note: str | None = "patch module not found" if sibling is None else sibling.apply()
        info[key] = sibling_note is None
        if sibling_note is not None:
            info[f"{key}_note"] = sibling_note
    return info


async def _serve(host: str, port: int, parent_pid: int, patch: bool) -> int:
    from mongoeco.engines.memory import MemoryEngine
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

    info: dict[str, Any] = {
        "patched": False,
        "patch_note": "disabled",
        **dict.fromkeys(_SIBLINGS, False),
    }
    if patch:
        info = _apply_patch()
    proxy = AsyncMongoEcoProxyServer(
        engine=MemoryEngine(),
        mongodb_dialect="7.0",
        pymongo_profile=None,
        host=host,
        port=port,
    )
    try:
        address = await proxy.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _fail(
                f"cannot listen on {host}:{port}: the port is already in use; "
                "choose another port, or port 0 for a free one"
            )
        return _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await loop.connect_read_pipe(lambda: _EndOfInput(stop), sys.stdin)
    watcher = asyncio.create_task(_watch_parent(stop, parent_pid))
    info.update(host=address.host, port=address.port, pid=os.getpid())
    _report(READY, json.dumps(info))
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        await proxy.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=os.getppid())
    parser.add_argument("--no-patch", action="store_true")
    args = parser.parse_args(argv)
    if sys.version_info < MIN_PYTHON:
        version = ".".join(map(str, sys.version_info[:3]))
        return _fail(
            f"the embedded server needs Python >= 3.13 but {sys.executable} is {version}; "
            "point ANYODM_SERVER_PYTHON at a Python 3.13 that has mongoeco installed"
        )
    if importlib.util.find_spec("mongoeco") is None:
        return _fail(
            f"{sys.executable} cannot import mongoeco; install it there "
            "(pip install 'anyodm[testing]') or point ANYODM_SERVER_PYTHON elsewhere"
        )
    if not args.no_patch and importlib.util.find_spec("bson") is None:
        return _fail(
            f"{sys.executable} has mongoeco but cannot import bson, which comes with pymongo "
            "and which anyodm's patches of the server need; install pymongo there "
            "(pip install 'anyodm[testing]' brings both) or point ANYODM_SERVER_PYTHON elsewhere"
        )
    try:
        return asyncio.run(_serve(args.host, args.port, args.parent_pid, not args.no_patch))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
