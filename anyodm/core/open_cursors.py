"""Server cursors still open: closed from a short-lived thread when dropped, and at exit.

A cursor or change stream dropped without being closed (a loop left by ``break``, an
exception, garbage collection) is closed from a short-lived thread: ``__del__`` may run
in a thread that holds one of the driver's locks, and in the event loop's thread, where
it must not block.  During interpreter shutdown no thread can be started
(``PythonFinalizationError``) and the driver may be gone, so instead the readers still
open are closed by an ``atexit`` hook, which runs before finalization while threads and
the driver still work.  Readers bound to an explicit session are left to the driver
(a session must not be used by two threads at once).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

__all__ = ["close_soon", "forget", "remember"]

log: logging.Logger = logging.getLogger("anyodm")


class _Closable(Protocol):
    def close(self) -> None: ...


_OPEN: weakref.WeakSet[_Closable] = weakref.WeakSet()
_LOCK = threading.Lock()


def remember(reader: _Closable) -> None:
    """``reader`` now holds a server cursor (not bound to an explicit session)."""
    with _LOCK:
        _OPEN.add(reader)


def forget(reader: _Closable) -> None:
    """``reader`` no longer holds a server cursor."""
    with _LOCK:
        _OPEN.discard(reader)


def close_soon(close: Callable[[], object], name: str) -> None:
    """Run ``close()`` in a short-lived daemon thread, unless the interpreter is
    shutting down (the exit hook closed what was open)."""
    if sys.is_finalizing():
        return
    with contextlib.suppress(RuntimeError):  # threads can no longer be started
        threading.Thread(target=close, name=name, daemon=True).start()


def _close_all_at_exit() -> None:
    with _LOCK:
        readers = list(_OPEN)
    for reader in readers:
        try:
            reader.close()
        except Exception:  # exiting: nobody to tell
            log.debug("anyodm: closing a cursor at exit failed", exc_info=True)


atexit.register(_close_all_at_exit)
