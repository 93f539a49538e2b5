"""Turns on a raw PyMongo ``ClientSession`` passed to the async engine, in the event loop.

Waiting for a raw session's turn happens here, in the event loop, where it can be
cancelled and honours the caller's deadline (S2); the worker thread then takes the
thread-side turn (:func:`anyodm.core.driver_sessions.serialized_on`), which nobody else
holds by then.
"""

from __future__ import annotations

import weakref

import anyio
from pymongo.client_session import ClientSession

__all__ = ["raw_session_turn"]

_TURNS: weakref.WeakKeyDictionary[ClientSession, anyio.Lock] = weakref.WeakKeyDictionary()


def raw_session_turn(session: ClientSession) -> anyio.Lock:
    """The FIFO lock whose holder may use ``session`` (one per session)."""
    lock = _TURNS.get(session)
    if lock is None:
        lock = _TURNS[session] = anyio.Lock()
    return lock
