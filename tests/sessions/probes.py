"""Test instruments for the thread crossing: calls held in their worker thread until
released, and a probe that sees two threads inside one ``ClientSession``."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pymongo.client_session import ClientSession
from pymongo.collection import Collection

#: The Collection methods anyodm's operations call.
COLLECTION_METHODS = (
    "find",
    "find_one",
    "aggregate",
    "count_documents",
    "insert_one",
    "update_one",
    "bulk_write",
    "delete_one",
    "delete_many",
)
#: The ClientSession methods that talk to the server.
SESSION_METHODS = ("commit_transaction", "abort_transaction", "end_session")


class HeldCalls:
    """Makes ``Collection.<method>`` wait in its thread until :meth:`release`.

    ``entered`` is set when the first call is inside; ``running``/``most`` count the held
    calls inside right now / at most.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, method: str, *, limit: float = 20) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls = 0
        real = getattr(Collection, method)

        @functools.wraps(real)
        def held(collection: Collection[Any], *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.running += 1
                self.calls += 1
                self.most = max(self.most, self.running)
            self.entered.set()
            try:
                self.released.wait(limit)
                return real(collection, *args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1
                self.finished.set()

        monkeypatch.setattr(Collection, method, held)

    def release(self) -> None:
        self.released.set()


class SessionUseProbe:
    """Records when two threads are inside one driver session at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, dwell: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._inside: dict[int, int] = {}
        self.overlaps = 0
        self.calls = 0
        self._dwell = threading.Event()
        self._dwell_seconds = dwell
        for name in COLLECTION_METHODS:
            self._wrap(monkeypatch, Collection, name, lambda a, kw: kw.get("session"))
        for name in SESSION_METHODS:
            self._wrap(monkeypatch, ClientSession, name, lambda a, kw: a[0])

    def _wrap(
        self,
        monkeypatch: pytest.MonkeyPatch,
        owner: type[Any],
        name: str,
        session_of: Callable[[tuple[Any, ...], dict[str, Any]], Any],
    ) -> None:
        real = getattr(owner, name)
        probe = self

        @functools.wraps(real)
        def probed(*args: Any, **kwargs: Any) -> Any:
            session = session_of(args, kwargs)
            if session is None:
                return real(*args, **kwargs)
            key = id(session)
            with probe._lock:
                probe.calls += 1
                probe._inside[key] = probe._inside.get(key, 0) + 1
                if probe._inside[key] > 1:
                    probe.overlaps += 1
            try:
                if probe._dwell_seconds:
                    probe._dwell.wait(probe._dwell_seconds)  # widen the window
                return real(*args, **kwargs)
            finally:
                with probe._lock:
                    probe._inside[key] -= 1

        monkeypatch.setattr(owner, name, probed)
