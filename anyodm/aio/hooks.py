"""Event hooks on the async front: the plan of :mod:`anyodm.core.hooks`, run on the
event loop (hooks are called there, never in a worker thread; async ones awaited)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from pymongo.client_session import ClientSession

from anyodm.core.hooks import HookPlan, Step
from anyodm.model.hooks import Event

if TYPE_CHECKING:
    from anyodm.aio.engine import Engine
    from anyodm.aio.session import Session, Transaction

__all__ = ["HookContext", "run_steps", "with_hooks"]

T = TypeVar("T")


class HookContext:
    """What a hook taking a context receives on the async :class:`~anyodm.Engine`.

    ``engine`` and ``session`` are where the operation runs: a hook's own writes made
    with ``await context.engine.save(other, session=context.session)`` run in the
    caller's session or transaction (``session`` is None outside one), and commit or
    abort with it.  ``events`` holds what the operation fires for the instance
    (``Event.INSERT in context.events`` tells an insert from an update).
    """

    __slots__ = ("engine", "events", "session")

    engine: Engine
    session: Session | Transaction | ClientSession | None
    events: frozenset[Event]

    def __init__(
        self,
        engine: Engine,
        session: Session | Transaction | ClientSession | None,
        events: frozenset[Event],
    ) -> None:
        self.engine = engine
        self.session = session
        self.events = events

    def __repr__(self) -> str:
        events = ", ".join(sorted(event.name for event in self.events))
        return f"<HookContext session={self.session!r} events={{{events}}}>"


async def run_steps(steps: list[Step], context: Callable[[frozenset[Event]], object]) -> None:
    """Run the steps in order on the event loop, awaiting what a hook returns if it is
    awaitable.  A cancellation while one is awaited propagates from here like any
    exception a step raises: the steps after it do not run."""
    for step in steps:
        result = step.invoke(context)
        if inspect.isawaitable(result):
            await result


async def with_hooks(
    plan: HookPlan,
    engine: Engine,
    session: Session | Transaction | ClientSession | None,
    write: Callable[[], Awaitable[T]],
) -> T:
    """``await write()`` between the plan's steps: the before-steps first (if one raises
    or is cancelled, ``write`` is never called), the after-steps once it returned."""

    def context(events: frozenset[Event]) -> HookContext:
        return HookContext(engine, session, events)

    await run_steps(plan.before, context)
    result = await write()
    await run_steps(plan.after, context)
    return result
