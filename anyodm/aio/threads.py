"""The one crossing from the event loop into PyMongo: worker threads with deadlines.

Every PyMongo call of the async API goes through :meth:`WorkerRunner.run`.  Why it is
shaped the way it is:

* The thread is never abandoned.  A thread may hold a PyMongo session or cursor; if the
  caller stopped waiting for it, that object could be used by two threads at once or
  outlive the session that owns it.  So a cancelled caller waits for its thread.
* Waiting for the thread means the result comes back even when the caller's scope was
  cancelled meanwhile.  ``checkpoint_if_cancelled()`` right after turns that into the
  cancellation the caller expects; without it a ``fail_after`` timeout would be lost.
* The caller's anyio deadline reaches the driver as ``pymongo.timeout(remaining)``: the
  server and the driver stop at the deadline instead of leaving the thread blocked.
  Only *remaining seconds* cross the thread boundary (trio's clock is not
  ``time.monotonic()``), and zero is never passed (``pymongo.timeout(0)`` means none).
* asyncio's own ``task.cancel()`` (``asyncio.timeout``, ``asyncio.TaskGroup``) is not
  held back by anyio's shielded scopes.  Work that holds a session (``hold=True``) is
  therefore awaited through it: the cancellation is kept and re-raised once the thread
  has finished, so a commit is never cut short and no thread is left with a session.
* The engine owns its ``CapacityLimiter``: a thousand waiting tasks never make more
  threads than the limiter allows, and other libraries' threads are not starved.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import pymongo
from pymongo.errors import PyMongoError
from typing_extensions import ParamSpec

__all__ = ["WorkerRunner", "remaining_seconds"]

T = TypeVar("T")
P = ParamSpec("P")

#: The smallest time limit handed to the driver: pymongo.timeout(0) would mean "none".
_MIN_DRIVER_TIMEOUT = 0.001
#: A driver timeout this close to the anyio deadline is the deadline itself firing.
_DEADLINE_SLACK = 0.25


def remaining_seconds() -> float:
    """Seconds until the current task's effective anyio deadline (``inf`` if none)."""
    deadline = anyio.current_effective_deadline()
    if deadline == math.inf:
        return math.inf
    return deadline - anyio.current_time()


def _call_with_timeout(
    remaining: float, started: float, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run ``func`` in the worker thread under the time left of the caller's deadline."""
    if remaining == math.inf:
        return func(*args, **kwargs)
    left = remaining - (time.monotonic() - started)  # time spent waiting for a thread
    with pymongo.timeout(max(left, _MIN_DRIVER_TIMEOUT)):
        return func(*args, **kwargs)


def _on_asyncio() -> bool:
    try:
        asyncio.current_task()
    except RuntimeError:
        return False
    return True


async def _through_native_cancellation(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` to its end even through asyncio ``task.cancel()`` calls, then
    re-raise the first such cancellation (anyio's scope cancellation is shielded here
    and delivered by the caller's next checkpoint)."""
    inner = asyncio.ensure_future(coro)
    pending: BaseException | None = None
    with anyio.CancelScope(shield=True):
        while not inner.done():
            try:
                await asyncio.shield(inner)
            except asyncio.CancelledError as exc:
                if inner.cancelled():
                    raise
                if pending is None:
                    pending = exc
    if pending is not None:
        raise pending
    return inner.result()


async def _wait_for_deadline_cancellation() -> None:
    """Sleep until the (already passed or imminent) deadline cancels this task."""
    await anyio.sleep(max(remaining_seconds(), 0.0))
    await anyio.sleep_forever()


class WorkerRunner:
    """Runs synchronous PyMongo work in bounded worker threads for one engine."""

    __slots__ = ("limiter",)

    def __init__(self, max_threads: int) -> None:
        if max_threads < 1:
            raise ValueError(f"max_threads must be at least 1, got {max_threads}")
        self.limiter = anyio.CapacityLimiter(max_threads)

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``func(*args, **kwargs)`` in a worker thread under the caller's deadline.

        Raises the caller's cancellation (at once if its deadline has already passed)
        rather than a driver timeout when the deadline is what stopped the call.
        """
        return await self._run(False, func, *args, **kwargs)

    async def run_holding_session(
        self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Like :meth:`run`, for work on a driver session: on asyncio, a native
        ``task.cancel()`` cannot abandon the thread (it is re-raised afterwards)."""
        return await self._run(True, func, *args, **kwargs)

    async def _run(self, hold: bool, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        await anyio.lowlevel.checkpoint_if_cancelled()
        remaining = remaining_seconds()
        if remaining <= 0:
            # The deadline has passed but its scope has not fired yet: let it fire.
            await _wait_for_deadline_cancellation()
        started = time.monotonic()
        waiting = anyio.to_thread.run_sync(
            lambda: _call_with_timeout(remaining, started, func, *args, **kwargs),
            abandon_on_cancel=False,
            limiter=self.limiter,
        )
        try:
            if hold and _on_asyncio():
                result = await _through_native_cancellation(waiting)
            else:
                result = await waiting
        except PyMongoError as exc:
            await anyio.lowlevel.checkpoint_if_cancelled()
            if exc.timeout and remaining_seconds() < _DEADLINE_SLACK:
                # The driver stopped at our deadline a moment before anyio noticed it:
                # report the deadline the way anyio does (Cancelled / TimeoutError).
                await _wait_for_deadline_cancellation()
            raise
        except BaseException:
            await anyio.lowlevel.checkpoint_if_cancelled()
            raise
        await anyio.lowlevel.checkpoint_if_cancelled()
        return result
