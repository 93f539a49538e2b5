"""The one crossing from the event loop into PyMongo: worker threads with deadlines.

Every PyMongo call of the async API goes through :meth:`WorkerRunner.run`, in three
steps, the same for every kind of work and on both backends:

1. **Take a slot** (:mod:`anyodm.aio.slots`).  Waiting for one is cancellable and under
   the caller's deadline, like any other wait.  Cleanup (``cleanup=True``) has slots
   that ordinary work cannot take, so it never waits behind busy operations.
2. **Run in an anyio worker thread, to completion.**  Once the thread runs it is never
   abandoned, whichever cancellation arrives (anyio scopes, asyncio's native
   ``task.cancel()``, a second cancel: :func:`run_to_completion`): it may hold a PyMongo
   session or cursor, which must not end up in two threads or outlive its session.  The
   caller's anyio deadline reaches the driver as ``pymongo.timeout(remaining)``, so the
   thread returns at the deadline; only *remaining seconds* cross (trio's clock is not
   ``time.monotonic()``) and zero is never passed (``pymongo.timeout(0)`` means none).
   The thread gives its slot back itself when its call returns.
3. **Check for cancellation.**  The thread's result comes back even if the caller was
   cancelled meanwhile; ``checkpoint_if_cancelled()`` turns that into the cancellation
   the caller expects.  A driver timeout at the deadline is reported as anyio's
   cancellation (``TimeoutError`` under ``fail_after``), not as a PyMongo error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import pymongo
from pymongo.errors import PyMongoError
from typing_extensions import TypeVarTuple, Unpack

from anyodm.aio.completion import run_to_completion
from anyodm.aio.slots import Slot, ThreadSlots

__all__ = [
    "DEFAULT_CLEANUP_THREADS",
    "ThreadHooks",
    "WorkerRunner",
    "remaining_seconds",
    "wait_for_deadline_cancellation",
]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: The smallest time limit handed to the driver: pymongo.timeout(0) would mean "none".
_MIN_DRIVER_TIMEOUT = 0.001
#: A driver timeout this close to the anyio deadline is the deadline itself firing.
_DEADLINE_SLACK = 0.25
#: Worker slots kept for cleanup (abort, end session, close cursor) by default.
DEFAULT_CLEANUP_THREADS = 4

#: anyio's own thread limiter must never be what makes a call wait: the engine's slots
#: already bound the calls, so each event loop gets one limiter that never runs out.
_OPEN_LIMITER: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar(
    "anyodm_open_limiter"
)


def remaining_seconds() -> float:
    """Seconds until the current task's effective anyio deadline (``inf`` if none;
    zero or less if it has passed or its scope is cancelled)."""
    deadline = anyio.current_effective_deadline()
    if deadline == math.inf:
        return math.inf
    return deadline - anyio.current_time()


def _open_limiter() -> anyio.CapacityLimiter:
    try:
        return _OPEN_LIMITER.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(math.inf)
        _OPEN_LIMITER.set(limiter)
        return limiter


class ThreadHooks(Protocol):
    """Work done in the worker thread around a call, outside its deadline."""

    def enter(self) -> None: ...
    def leave(self) -> None: ...


def _in_thread(
    slot: Slot,
    remaining: float,
    handed_over: float,
    hooks: ThreadHooks | None,
    func: Callable[..., T],
    args: tuple[Any, ...],
) -> T:
    """The worker thread's side: run under the time left, then give the slot back."""
    try:
        if hooks is not None:
            hooks.enter()
        try:
            if remaining == math.inf:
                return func(*args)
            left = remaining - (time.monotonic() - handed_over)
            with pymongo.timeout(max(left, _MIN_DRIVER_TIMEOUT)):
                return func(*args)
        finally:
            if hooks is not None:
                hooks.leave()
    finally:
        slot.release()


async def wait_for_deadline_cancellation() -> None:
    """Sleep until the (already passed or imminent) deadline cancels this task."""
    await anyio.sleep(max(remaining_seconds(), 0.0))
    await anyio.sleep_forever()


class WorkerRunner:
    """Runs synchronous PyMongo work in bounded worker threads for one engine."""

    __slots__ = ("slots",)

    def __init__(self, max_threads: int, cleanup_threads: int = DEFAULT_CLEANUP_THREADS) -> None:
        self.slots = ThreadSlots(max_threads, cleanup_threads)

    async def run(
        self,
        func: Callable[[Unpack[Ts]], T],
        *args: Unpack[Ts],
        cleanup: bool = False,
        hooks: ThreadHooks | None = None,
    ) -> T:
        """Run ``func(*args)`` in a worker thread under the caller's deadline (see the
        module docs).  ``cleanup=True``: on the capacity reserved for cleanup.
        ``hooks``: called in the thread before and after, outside the deadline."""
        return await self._run(cleanup, hooks, func, args)

    async def run_cleanup(self, func: Callable[[Unpack[Ts]], T], *args: Unpack[Ts]) -> T:
        """Like :meth:`run`, on the capacity reserved for cleanup."""
        return await self._run(True, None, func, args)

    async def _run(
        self,
        cleanup: bool,
        hooks: ThreadHooks | None,
        func: Callable[..., T],
        args: tuple[Any, ...],
    ) -> T:
        await anyio.lowlevel.checkpoint_if_cancelled()
        remaining = remaining_seconds()
        if remaining <= 0:
            # The deadline has passed but its scope has not fired yet: let it fire.
            await wait_for_deadline_cancellation()
        slot = await self.slots.acquire(cleanup=cleanup)
        try:
            if slot.waited and remaining != math.inf:
                remaining = remaining_seconds()
                if remaining <= 0:
                    slot.release()
                    await wait_for_deadline_cancellation()
            handed_over = time.monotonic()
            limiter = _open_limiter()
            try:
                result = await run_to_completion(
                    lambda: anyio.to_thread.run_sync(
                        _in_thread,
                        slot,
                        remaining,
                        handed_over,
                        hooks,
                        func,
                        args,
                        abandon_on_cancel=False,
                        limiter=limiter,
                    )
                )
            except PyMongoError as exc:
                await anyio.lowlevel.checkpoint_if_cancelled()
                if exc.timeout and remaining_seconds() < _DEADLINE_SLACK:
                    # The driver stopped at our deadline a moment before anyio noticed:
                    # report the deadline the way anyio does (Cancelled / TimeoutError).
                    await wait_for_deadline_cancellation()
                raise
            except BaseException:
                await anyio.lowlevel.checkpoint_if_cancelled()
                raise
        finally:
            slot.release()  # no-op once the thread gave it back; covers "never started"
        await anyio.lowlevel.checkpoint_if_cancelled()
        return result
