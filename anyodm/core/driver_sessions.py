"""Turns on a PyMongo ``ClientSession``: one worker thread inside it at a time (S5).

A ``ClientSession`` is not thread-safe.  :class:`DriverTurns` is taken by the worker
thread around every call on one: ordinary operations wait for their turn (they are
already lined up by the session's FIFO lock in the event loop, so they rarely wait
here); cleanup — aborting, ending the session, closing a cursor — waits at most its
bound, and if the turn is still taken then (an operation blocked on the server) the
cleanup is *handed over*: the thread holding the turn runs it before giving the turn
back, so it is done as soon as possible and never beside another thread.  Cleanup does
not queue behind the event loop's lock, where an operation may hold its place while it
waits for a worker slot.

A raw ``ClientSession`` handed to the async engine by the caller gets turns too
(:func:`serialized_on`), so two tasks using it never run inside it together.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

import pymongo
from pymongo.client_session import ClientSession

__all__ = ["DriverTurns", "serialized_on"]

log: logging.Logger = logging.getLogger("anyodm")

T = TypeVar("T")
Action = Callable[[ClientSession], None]


class DriverTurns:
    """Who may use one driver session right now, and what cleanup left to do in it."""

    __slots__ = ("_handed", "_mutex", "_turn", "cleanup_bound")

    def __init__(self, cleanup_bound: float) -> None:
        self._turn = threading.Lock()
        self._mutex = threading.Lock()  # guards _handed, and giving the turn back
        self._handed: list[Action] = []
        self.cleanup_bound: float = cleanup_bound

    @property
    def in_use(self) -> bool:
        """Whether a worker thread holds the turn right now."""
        return self._turn.locked()

    def take(self, driver: ClientSession, wait: float | None = None) -> bool:
        """Take the turn (waiting at most ``wait`` seconds; ``None``: as long as it
        takes), then run what was handed over.  False if it could not be had."""
        if wait is None:
            self._turn.acquire()
        elif wait > 0:
            if not self._turn.acquire(timeout=wait):
                return False
        elif not self._turn.acquire(blocking=False):
            return False
        self._run_handed(driver)
        return True

    def give_back(self, driver: ClientSession) -> None:
        """Run what was handed over meanwhile, then give the turn back."""
        while True:
            with self._mutex:
                todo, self._handed = self._handed, []
                if not todo:
                    self._turn.release()
                    return
            self._run(todo, driver)

    def cleanup(self, action: Action, driver: ClientSession, wait: float) -> bool:
        """In a worker thread: run ``action`` in its turn, waiting at most ``wait``.

        Returns True if it ran here; False if it was handed over to the thread holding
        the turn (which runs it before giving the turn back).
        """
        if self.take(driver, wait):
            try:
                action(driver)
            finally:
                self.give_back(driver)
            return True
        with self._mutex:
            self._handed.append(action)
        # The holder may have given the turn back just before: then run it ourselves.
        if self.take(driver, 0):
            self.give_back(driver)
            return True
        return False

    def _run_handed(self, driver: ClientSession) -> None:
        with self._mutex:
            todo, self._handed = self._handed, []
        self._run(todo, driver)

    def _run(self, actions: list[Action], driver: ClientSession) -> None:
        for action in actions:
            try:
                with pymongo.timeout(self.cleanup_bound):
                    action(driver)
            except Exception:
                log.warning("anyodm: cleanup handed to a worker thread failed", exc_info=True)


_RAW_TURNS: weakref.WeakKeyDictionary[ClientSession, threading.Lock] = weakref.WeakKeyDictionary()
_RAW_TURNS_LOCK = threading.Lock()


def serialized_on(session: ClientSession, func: Callable[[ClientSession], T]) -> T:
    """``func(session)``, never while another thread runs a call on ``session``."""
    with _RAW_TURNS_LOCK:
        lock = _RAW_TURNS.get(session)
        if lock is None:
            lock = _RAW_TURNS[session] = threading.Lock()
    with lock:
        return func(session)
