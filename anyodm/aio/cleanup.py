"""Shielded, bounded cleanup: the one primitive for work that must run under cancellation.

Aborting a transaction, ending a session and closing a cursor must happen even when the
task doing it is being cancelled (otherwise a cancelled transaction would stay open on
the server until it times out).  So cleanup runs in a scope shielded from the outer
cancellation — but bounded by its own deadline, so a dead server cannot hang a cancelled
task forever.  Whatever cleanup raises is logged, never raised: the exception or
cancellation that caused the cleanup is what the caller must see.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["shielded_cleanup"]

log = logging.getLogger("anyodm")


async def shielded_cleanup(
    what: str, action: Callable[[], Awaitable[object]], bound: float
) -> bool:
    """Run ``action()`` shielded from outer cancellation, for at most ``bound`` seconds.

    Returns True when it completed; False (after logging why) when it failed or ran out
    of time.  Never raises, except for a ``KeyboardInterrupt``/``SystemExit``.
    """
    with anyio.CancelScope(shield=True) as scope:
        scope.deadline = anyio.current_time() + bound
        try:
            await action()
        except Exception:
            log.warning("anyodm: %s failed during cleanup", what, exc_info=True)
            return False
    if scope.cancelled_caught:
        log.warning("anyodm: %s did not finish within the %.1fs cleanup timeout", what, bound)
        return False
    return True
