"""Raw PyMongo sessions passed as ``session=``: their calls take turns (S5).

A ``ClientSession`` must not be used by two threads at once.  anyodm's own sessions
serialize their operations with a lock of their own; a raw ``ClientSession`` handed to
the async engine by the caller gets a lock here, taken in the worker thread around each
call, so two tasks using it never run inside it together.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

from pymongo.client_session import ClientSession

__all__ = ["serialized_on"]

T = TypeVar("T")

_LOCKS: weakref.WeakKeyDictionary[ClientSession, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def _lock_of(session: ClientSession) -> threading.Lock:
    with _LOCKS_LOCK:
        lock = _LOCKS.get(session)
        if lock is None:
            lock = _LOCKS[session] = threading.Lock()
        return lock


def serialized_on(session: ClientSession, func: Callable[[ClientSession], T]) -> T:
    """``func(session)``, never while another thread runs a call on ``session``."""
    with _lock_of(session):
        return func(session)
