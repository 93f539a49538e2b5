"""The one crossing from the event loop into PyMongo: worker threads with deadlines.

Every PyMongo call of the async API goes through :meth:`WorkerRunner.run`, in three
steps, the same for every kind of work and on both backends:

1. **Take a slot** (:mod:`anyodm.aio.slots`).  Waiting for one is cancellable and under
   the caller's deadline, like any other wait.  Cleanup (``cleanup=True``) has slots
   that ordinary work cannot take, so it never waits behind busy operations.
2. **Run in a worker thread, to completion.**  Once the thread runs it is never
   abandoned, whichever cancellation arrives: it may hold a PyMongo session or cursor,
   which must not end up in two threads or outlive its session.  A non-abandoning thread
   call (anyio's on asyncio, trio's own on trio, which is what anyio calls there)
   already waits through anyio's cancellation; asyncio's native ``task.cancel()``
   (``asyncio.timeout``, ``TaskGroup``) would make anyio drop the call, so on asyncio a
   started call is then waited for (:class:`_ThreadCall`) and one that had not started
   never will.  Cancellation before the thread starts simply cancels the call.  The
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

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import anyio
import anyio.lowlevel
import anyio.to_thread
import pymongo
from pymongo.errors import PyMongoError
from typing_extensions import TypeVarTuple, Unpack

from anyodm.aio.completion import on_asyncio, run_to_completion
from anyodm.aio.slots import Slot, ThreadSlots

if TYPE_CHECKING:
    import trio

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


def remaining_seconds() -> float:
    """Seconds until the current task's effective anyio deadline (``inf`` if none;
    zero or less if it has passed or its scope is cancelled)."""
    deadline = anyio.current_effective_deadline()
    if deadline == math.inf:
        return math.inf
    return deadline - anyio.current_time()


class ThreadHooks(Protocol):
    """Work done in the worker thread around a call, outside its deadline."""

    def enter(self) -> None: ...
    def leave(self) -> None: ...


class _ThreadCall:
    """One call handed to a worker thread, and whether it ran.

    The worker thread runs it through :meth:`__call__`, under the time left, and gives
    the slot back when the call returns.  If the waiting task is cancelled natively
    (asyncio's ``task.cancel()`` goes through anyio's shields and makes anyio drop the
    call's result), :meth:`abandon` tells whether the thread already started: if not, it
    never will; if so, :meth:`finished` waits for it to return.
    """

    __slots__ = (
        "_done",
        "_lock",
        "_on_done",
        "_started",
        "args",
        "func",
        "handed_over",
        "hooks",
        "remaining",
        "slot",
    )

    def __init__(
        self,
        slot: Slot,
        remaining: float,
        hooks: ThreadHooks | None,
        func: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        self.slot = slot
        self.remaining = remaining
        self.hooks = hooks
        self.func = func
        self.args = args
        self.handed_over = time.monotonic()
        self._lock = threading.Lock()
        self._started: bool | None = False  # None: abandoned before it started
        self._done = False
        self._on_done: Callable[[], object] | None = None

    def __call__(self) -> Any:
        """The worker thread's side: run under the time left, then give the slot back."""
        with self._lock:
            if self._started is None:
                return None  # abandoned before it started: the waiter has gone
            self._started = True
        hooks = self.hooks
        try:
            if hooks is not None:
                hooks.enter()
            try:
                if self.remaining == math.inf:
                    return self.func(*self.args)
                left = self.remaining - (time.monotonic() - self.handed_over)
                with pymongo.timeout(max(left, _MIN_DRIVER_TIMEOUT)):
                    return self.func(*self.args)
            finally:
                if hooks is not None:
                    hooks.leave()
        finally:
            self.slot.release()
            with self._lock:
                self._done = True
                on_done = self._on_done
            if on_done is not None:
                on_done()

    def abandon(self) -> bool:
        """Give the call up if its thread has not started it; whether it had."""
        with self._lock:
            if self._started is False:
                self._started = None
            return self._started is True

    async def finished(self) -> None:
        """Wait until the started call has returned (asyncio only)."""
        loop = asyncio.get_running_loop()
        returned = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_set_if_pending, returned)

        with self._lock:
            if self._done:
                return
            self._on_done = wake
        await returned


def _set_if_pending(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _OpenLimiter(anyio.CapacityLimiter):
    """The thread limiter handed to anyio (asyncio) and to trio: it never makes a call
    wait, and costs nothing.

    The engine's slots already bound the calls, so a limiter could only add a second,
    smaller bound and the shielded checkpoint a real one takes on every call (an extra
    pass of the event loop).  It holds no state, so one instance serves every event loop;
    it is also the "CapacityLimiter-like object" ``trio.to_thread.run_sync`` accepts.
    """

    __slots__ = ()

    def __new__(cls) -> _OpenLimiter:
        return object.__new__(cls)

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    @property
    def total_tokens(self) -> float:
        return math.inf

    @total_tokens.setter
    def total_tokens(self, value: float) -> None:
        raise TypeError("not adjustable: the engine bounds its calls with Engine.thread_limiter")

    @property
    def borrowed_tokens(self) -> int:
        return 0

    @property
    def available_tokens(self) -> float:
        return math.inf

    def acquire_nowait(self) -> None:
        return None

    def acquire_on_behalf_of_nowait(self, borrower: object) -> None:
        return None

    async def acquire(self) -> None:
        return None

    async def acquire_on_behalf_of(self, borrower: object) -> None:
        return None

    def release(self) -> None:
        return None

    def release_on_behalf_of(self, borrower: object) -> None:
        return None

    def statistics(self) -> anyio.CapacityLimiterStatistics:
        return anyio.CapacityLimiterStatistics(0, math.inf, (), 0)


_OPEN_LIMITER = _OpenLimiter()
_TRIO_OPEN_LIMITER = cast("trio.CapacityLimiter", _OPEN_LIMITER)

#: ``trio.to_thread.run_sync``, imported on first use (asyncio users need no trio)
_trio_run_sync: Callable[..., Awaitable[Any]] | None = None


def _load_trio_run_sync() -> Callable[..., Awaitable[Any]]:
    global _trio_run_sync
    import trio

    _trio_run_sync = trio.to_thread.run_sync
    return _trio_run_sync


async def _in_worker_thread(call: _ThreadCall) -> Any:
    """Run ``call`` in a worker thread and return its result, never abandoning a thread
    that started.

    On trio, trio's own thread call (what ``anyio.to_thread.run_sync`` runs there, less
    anyio's bookkeeping for ``anyio.from_thread``, which the core never uses): it waits
    for a started call through any cancellation.  On asyncio, anyio's thread call, which
    waits through anyio's cancellation; a native ``task.cancel()`` makes it drop the
    call, so a started call is then waited for here (rarely: the common path pays no
    extra task) and one that had not started never will.
    """
    if not on_asyncio():
        run_sync = _trio_run_sync or _load_trio_run_sync()
        return await run_sync(call, abandon_on_cancel=False, limiter=_TRIO_OPEN_LIMITER)
    try:
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=False, limiter=_OPEN_LIMITER)
    except asyncio.CancelledError:
        if call.abandon():
            await run_to_completion(call.finished)
        raise


async def wait_for_deadline_cancellation() -> None:
    """Sleep until the (already passed or imminent) deadline cancels this task."""
    await anyio.sleep(max(remaining_seconds(), 0.0))
    await anyio.sleep_forever()


class WorkerRunner:
    """Runs synchronous PyMongo work in bounded worker threads for one engine."""

    __slots__ = ("slots",)

    def __init__(self, max_threads: int, cleanup_threads: int = DEFAULT_CLEANUP_THREADS) -> None:
        self.slots: ThreadSlots = ThreadSlots(max_threads, cleanup_threads)

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
        remaining = remaining_seconds()  # -inf when the scope is already cancelled
        if remaining <= 0:
            # Cancelled, or the deadline has passed but its scope has not fired yet: let
            # the cancellation be delivered (its checkpoint raises it) before any slot.
            await wait_for_deadline_cancellation()
        slot = self.slots.try_acquire(cleanup=cleanup) or await self.slots.acquire(cleanup=cleanup)
        try:
            if slot.waited and remaining != math.inf:
                remaining = remaining_seconds()
                if remaining <= 0:
                    slot.release()
                    await wait_for_deadline_cancellation()
            call = _ThreadCall(slot, remaining, hooks, func, args)
            try:
                result: T = await _in_worker_thread(call)
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

    async def run_cleanup(self, func: Callable[[Unpack[Ts]], T], *args: Unpack[Ts]) -> T:
        """Like :meth:`run`, on the capacity reserved for cleanup."""
        return await self.run(func, *args, cleanup=True)
