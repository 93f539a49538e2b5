"""Progress displays for migrations: a tqdm bar per migration when tqdm is installed
(``pip install anyodm[migrate]``), otherwise a line of text every second."""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any, TextIO

__all__ = ["TextProgress", "best_progress"]


class TextProgress:
    """``name up: 1200/5000 documents`` lines, at most one per ``every`` seconds."""

    def __init__(self, stream: TextIO | None = None, every: float = 1.0) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.every: float = every
        self._seen: dict[str, list[Any]] = {}

    def start(self, name: str, direction: str, total: int, done: int) -> None:
        self._seen[name] = [direction, total, done, 0.0]
        self._show(name, force=True)

    def advance(self, name: str, count: int) -> None:
        self._seen[name][2] += count
        self._show(name)

    def finish(self, name: str, outcome: str) -> None:
        if name in self._seen:
            self._show(name, force=True)
        print(f"{name}: {outcome}", file=self.stream, flush=True)

    def _show(self, name: str, force: bool = False) -> None:
        direction, total, done, last = self._seen[name]
        now = time.monotonic()
        if force or now - last >= self.every:
            self._seen[name][3] = now
            print(f"{name} {direction}: {done}/{total} documents", file=self.stream, flush=True)


class TqdmProgress:
    """One tqdm bar per migration (several at once under ``parallel=True``)."""

    def __init__(self, tqdm: Any) -> None:
        self._tqdm = tqdm
        self._bars: dict[str, Any] = {}

    def start(self, name: str, direction: str, total: int, done: int) -> None:
        self._bars[name] = self._tqdm(
            total=total,
            initial=done,
            desc=f"{name} {direction}",
            unit="doc",
            position=sum(1 for bar in self._bars.values() if not bar.disable and bar.n < bar.total),
            leave=True,
            dynamic_ncols=True,
        )

    def advance(self, name: str, count: int) -> None:
        self._bars[name].update(count)

    def finish(self, name: str, outcome: str) -> None:
        bar = self._bars.get(name)
        if bar is not None:
            bar.set_postfix_str(outcome)
            bar.close()


def best_progress() -> TextProgress | TqdmProgress:
    """tqdm's bars if tqdm is installed, plain text lines otherwise."""
    try:
        module = importlib.import_module("tqdm")
    except ImportError:
        return TextProgress()
    return TqdmProgress(module.tqdm)
