"""Finding and waiting for processes in the server tests (Linux /proc)."""

from __future__ import annotations

import os
import time
from pathlib import Path

CHILD_MARK = b"anyodm/testing/_child.py"


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, bound: float = 30.0) -> bool:
    """Poll until ``pid`` is gone; False if it still runs after ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def server_children(parent: int | None = None) -> list[int]:
    """Pids of embedded-server processes whose parent is ``parent`` (default: this one)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and CHILD_MARK in cmdline:
            found.append(int(entry.name))
    return found
