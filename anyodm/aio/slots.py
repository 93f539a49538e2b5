"""Worker-thread slots of one engine: a bound on ordinary work, and a reserve for cleanup.

Why not an ``anyio.CapacityLimiter``: a limiter belongs to the event loop that first
used it, so an engine used under ``asyncio.run`` and later under ``trio.run`` (or from
trio in guest mode on an asyncio loop) would fail; and a limiter cannot keep capacity
aside for cleanup.  :class:`ThreadSlots` is plain thread-safe bookkeeping: a slot is
taken in the event loop (waiting is cancellable, so deadlines apply to it) and given
back by the worker thread itself when its call returns, so the count is exact whatever
happens to the task that waited for it.

* **Ordinary work** takes one of ``total_tokens`` slots, first come first served.
* **Cleanup** (aborting a transaction, ending a session, closing a cursor) takes a free
  ordinary slot if there is one, otherwise one of ``reserve`` slots that ordinary work
  can never take: cleanup cannot starve however busy the engine is (S9).  A released
  slot goes to waiting cleanup first.

At most ``total_tokens + reserve`` of the engine's calls run in threads at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable

import anyio
import sniffio

__all__ = ["Slot", "ThreadSlots"]


def _thread_safe_setter(event: anyio.Event) -> Callable[[], object]:
    """A callable that sets ``event`` from any thread or event loop."""
    if sniffio.current_async_library() == "trio":
        import trio

        token = trio.lowlevel.current_trio_token()
        return lambda: token.run_sync_soon(event.set)
    loop = asyncio.get_running_loop()
    return lambda: loop.call_soon_threadsafe(event.set)


class _Waiter:
    __slots__ = ("cleanup", "event", "slot", "wake")

    def __init__(self, cleanup: bool) -> None:
        self.cleanup = cleanup
        self.event = anyio.Event()
        self.wake: Callable[[], object] = _thread_safe_setter(self.event)
        self.slot: Slot | None = None


class Slot:
    """One taken slot; :meth:`release` (idempotent, any thread) gives it back."""

    __slots__ = ("_owner", "_released", "reserved", "waited")

    def __init__(self, owner: ThreadSlots, reserved: bool) -> None:
        self._owner = owner
        self.reserved: bool = reserved
        self._released = False
        self.waited: bool = False  # True when it was handed to a waiting task

    def release(self) -> None:
        """Give the slot back (to a waiting task, cleanup first)."""
        if not self._released:  # read without the lock: it is rechecked under it
            self._owner._release(self)


class ThreadSlots:
    """Bounded, loop-independent worker capacity with a reserve for cleanup."""

    def __init__(self, total: int, reserve: int) -> None:
        if total < 1:
            raise ValueError(f"max_threads must be at least 1, got {total}")
        if reserve < 1:
            raise ValueError(f"the cleanup reserve must be at least 1, got {reserve}")
        self._lock = threading.Lock()
        self._total = total
        self._reserve = reserve
        self._busy = 0
        self._reserve_busy = 0
        self._waiting: deque[_Waiter] = deque()
        self._cleanup_waiting: deque[_Waiter] = deque()

    # -- the CapacityLimiter-like view ---------------------------------------------------

    @property
    def total_tokens(self) -> int:
        """Slots for ordinary work (``max_threads``); may be changed at run time."""
        return self._total

    @total_tokens.setter
    def total_tokens(self, value: int) -> None:
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"total_tokens must be an int of at least 1, got {value!r}")
        with self._lock:
            self._total = value
            self._hand_out()

    @property
    def reserve_tokens(self) -> int:
        """Slots only cleanup may take."""
        return self._reserve

    @property
    def borrowed_tokens(self) -> int:
        """Slots taken right now (ordinary and reserved)."""
        return self._busy + self._reserve_busy

    @property
    def available_tokens(self) -> int:
        """Ordinary slots free right now."""
        return max(self._total - self._busy, 0)

    # -- taking and giving back ----------------------------------------------------------

    def try_acquire(self, *, cleanup: bool = False) -> Slot | None:
        """A slot if one is free for this request right now (no waiting), else None."""
        with self._lock:
            return self._take_now(cleanup)

    async def acquire(self, *, cleanup: bool = False) -> Slot:
        """Take a slot, waiting (cancellably) until one is free."""
        with self._lock:
            slot = self._take_now(cleanup)
            if slot is not None:
                return slot
            waiter = _Waiter(cleanup)
            (self._cleanup_waiting if cleanup else self._waiting).append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            with self._lock:
                granted = waiter.slot
                if granted is None:
                    queue = self._cleanup_waiting if cleanup else self._waiting
                    queue.remove(waiter)
            if granted is not None:
                granted.release()  # handed to us as we were cancelled: pass it on
            raise
        assert waiter.slot is not None
        return waiter.slot

    def _take_now(self, cleanup: bool) -> Slot | None:
        """A slot for a new request, if one can be had without waiting."""
        if cleanup:
            return self._free_ordinary() or self._free_reserved()
        return None if self._waiting else self._free_ordinary()

    def _free_ordinary(self) -> Slot | None:
        if self._busy < self._total:
            self._busy += 1
            return Slot(self, reserved=False)
        return None

    def _free_reserved(self) -> Slot | None:
        if self._reserve_busy < self._reserve:
            self._reserve_busy += 1
            return Slot(self, reserved=True)
        return None

    def _release(self, slot: Slot) -> None:
        with self._lock:
            if slot._released:
                return
            self._give_back(slot)
            self._hand_out()

    def _give_back(self, slot: Slot) -> None:
        slot._released = True
        if slot.reserved:
            self._reserve_busy -= 1
        else:
            self._busy -= 1

    def _hand_out(self) -> None:
        """Give free slots to waiters, cleanup first; called with the lock held."""
        while True:
            if self._cleanup_waiting and (slot := self._free_ordinary() or self._free_reserved()):
                waiter = self._cleanup_waiting.popleft()
            elif self._waiting and (slot := self._free_ordinary()):
                waiter = self._waiting.popleft()
            else:
                return
            waiter.slot = slot
            slot.waited = True
            try:
                waiter.wake()
            except RuntimeError:  # its event loop is gone: nobody will take the slot
                waiter.slot = None
                self._give_back(slot)

    def __repr__(self) -> str:
        return (
            f"<ThreadSlots {self._busy}/{self._total} busy, "
            f"{self._reserve_busy}/{self._reserve} reserved for cleanup>"
        )
