"""Shielded, bounded cleanup: the one primitive for work that must run under cancellation.

Aborting a transaction, ending a session and closing a cursor must happen even when the
task doing it is being cancelled (otherwise a cancelled transaction would stay open on
the server until it times out).  So cleanup runs to completion whatever cancellation
arrives (:func:`~anyodm.aio.completion.run_to_completion`: anyio shields, and on asyncio
a task of its own that native ``task.cancel()`` cannot reach) — but bounded by its own
deadline, so a dead server cannot hang a cancelled task forever; the driver gets that
deadline too, and cleanup's worker threads come from capacity that ordinary work cannot
take.  Whatever cleanup raises is logged, never raised: the exception or cancellation
that caused the cleanup is what the caller must see.

Run a whole cleanup *sequence* (abort, then end the session) as one ``action``: on
asyncio a native cancellation that arrived during it is re-raised when it finishes, and
would skip a second step awaited separately.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from anyodm.aio.completion import run_to_completion

__all__ = ["shielded_cleanup"]

log: logging.Logger = logging.getLogger("anyodm")


async def shielded_cleanup(
    what: str, action: Callable[[], Awaitable[object]], bound: float
) -> bool:
    """Run ``action()`` to completion despite cancellation, for at most ``bound`` seconds.

    Returns True when it completed; False (after logging why) when it failed or ran out
    of time.  Never raises its own failures; a native asyncio cancellation that arrived
    meanwhile is re-raised afterwards (anyio's is delivered at the next checkpoint).
    """

    async def bounded() -> bool:
        with anyio.CancelScope() as scope:
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

    return await run_to_completion(bounded)
