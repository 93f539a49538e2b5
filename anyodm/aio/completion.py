"""``run_to_completion``: await work to its end whatever cancellation arrives.

Some awaits must not be cut short: a worker thread that holds a PyMongo session or
cursor must never be abandoned (the object would be used by two threads, or outlive its
session), and cleanup must finish what it started.  anyio's shielded ``CancelScope``
holds back anyio's own cancellation, and on trio that is all there is.  On asyncio a
native ``task.cancel()`` (``asyncio.timeout``, ``asyncio.TaskGroup``, ``wait_for``) goes
through anyio's shields, so there the work runs in a task of its own, which this task
waits for through any number of cancellations; the first one is re-raised once the work
is done, so the caller still sees it.

The running library is told by ``sniffio`` (asyncio's own probes are fooled by trio's
guest mode, where trio code runs inside asyncio's loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import sniffio

__all__ = ["on_asyncio", "run_to_completion"]

T = TypeVar("T")


def on_asyncio() -> bool:
    """Whether the current task runs on asyncio (not trio, not trio in guest mode)."""
    return sniffio.current_async_library() == "asyncio"


async def run_to_completion(work: Callable[[], Awaitable[T]]) -> T:
    """Await ``work()`` to its end, shielded from every cancellation.

    anyio scope cancellation (trio and asyncio) is delivered at the caller's next
    checkpoint; on asyncio, native cancellations that arrive meanwhile are held and the
    first is re-raised after ``work()`` finished (its result is then dropped).
    """
    if not on_asyncio():
        with anyio.CancelScope(shield=True):
            return await work()
    return await _through_native_cancellation(work)


async def _await(work: Callable[[], Awaitable[T]]) -> tuple[T | None, BaseException | None]:
    """The work's result or exception, as a value: a ``KeyboardInterrupt``/``SystemExit``
    escaping a task would be re-raised by asyncio in the event loop, not in our task."""
    try:
        return await work(), None
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        return None, exc


async def _through_native_cancellation(work: Callable[[], Awaitable[T]]) -> T:
    inner = asyncio.ensure_future(_await(work))
    held: BaseException | None = None
    with anyio.CancelScope(shield=True):
        while not inner.done():
            try:
                await asyncio.shield(inner)
            except asyncio.CancelledError as exc:
                if inner.cancelled():  # the work itself was cancelled (loop shutdown)
                    raise
                if held is None:
                    held = exc
    result, failure = inner.result()
    if held is not None:
        raise held  # a failure of the work loses to the cancellation
    if failure is not None:
        raise failure
    return result  # type: ignore[return-value]
