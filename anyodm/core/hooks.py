"""Which event hooks a write runs, and in which order: one plan for both engine fronts.

A save of an instance fires ``SAVE`` and, whether its document is stored or not,
``UPDATE`` or ``INSERT`` (from its saved state, as the save will compare it: the
transaction's pending state inside one), then ``VALIDATE``; a delete fires ``DELETE``.
For each instance, in the order the caller gave them:

1. the before-hooks of its write events (``SAVE``, ``INSERT``/``UPDATE``, ``DELETE``), in
   the model's hook order (bases first, then declaration order), each hook once;
2. for a save, the validation step: the before-``VALIDATE`` hooks, the pydantic
   re-validation if the model has ``validate_on_save``, the after-``VALIDATE`` hooks;

then the write itself, then, once it succeeded, each instance's after-hooks of its
write events.  :class:`HookPlan` lists the steps; ``SyncEngine`` calls them
(:func:`run_steps`), ``Engine`` calls or awaits them on the event loop
(:func:`anyodm.aio.hooks.run_steps`).  ``skip_hooks=True`` leaves the hooks out, not
the validation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Final, NamedTuple, TypeVar

from pymongo.client_session import ClientSession

from anyodm.core.kinds import refuse_write
from anyodm.core.pending import state_for_save
from anyodm.model.hooks import Event, Hook, Timing
from anyodm.model.revalidation import revalidate

if TYPE_CHECKING:
    from anyodm.core.engine import SyncEngine
    from anyodm.core.session import SyncSession, SyncTransaction
    from anyodm.model import Model

__all__ = [
    "HookPlan",
    "SyncHookContext",
    "bulk_plan",
    "delete_plan",
    "run_steps",
    "save_plan",
    "with_sync_hooks",
]

T = TypeVar("T")

_INSERT_EVENTS: Final = frozenset({Event.SAVE, Event.INSERT, Event.VALIDATE})
_UPDATE_EVENTS: Final = frozenset({Event.SAVE, Event.UPDATE, Event.VALIDATE})
_DELETE_EVENTS: Final = frozenset({Event.DELETE})
_VALIDATE: Final = frozenset({Event.VALIDATE})

#: builds the context object a hook taking one receives, from the instance's events
ContextFactory = Callable[[frozenset[Event]], object]


class HookCall(NamedTuple):
    """One hook, to be called on one instance."""

    hook: Hook
    instance: Model
    #: the events the operation fires for the instance
    events: frozenset[Event]

    def invoke(self, context: ContextFactory) -> object:
        """Call the hook; an async hook's coroutine is returned, not awaited."""
        if self.hook.takes_context:
            return self.hook.function(self.instance, context(self.events))
        return self.hook.function(self.instance)

    def describe(self) -> str:
        return f"{self.hook.qualname} (hook of {type(self.instance).__name__})"


class Revalidation(NamedTuple):
    """The pydantic re-validation of one instance (``validate_on_save``)."""

    instance: Model

    def invoke(self, context: ContextFactory) -> object:
        revalidate(self.instance)
        return None


Step = HookCall | Revalidation


class HookPlan(NamedTuple):
    """What runs before an operation is sent and after it succeeded."""

    before: list[Step]
    after: list[Step]

    def refuse_async(self, operation: str) -> None:
        """``TypeError`` naming the first async hook: ``SyncEngine`` cannot await it
        (checked before any hook runs, so nothing runs and nothing is sent)."""
        for step in (*self.before, *self.after):
            if isinstance(step, HookCall) and step.hook.is_async:
                raise TypeError(
                    f"SyncEngine.{operation}(): {step.hook.qualname} is an async hook of "
                    f"{type(step.instance).__name__}; SyncEngine runs plain (def) hooks "
                    "only: use the async Engine, or declare the hook with def (or pass "
                    "skip_hooks=True)"
                )


def _calls(
    instance: Model, timing: Timing, events: frozenset[Event], fired: frozenset[Event]
) -> list[Step]:
    hooks = type(instance).__anyodm_hooks__.matching(timing, events)
    return [HookCall(hook, instance, fired) for hook in hooks]


def save_plan(
    instances: Iterable[Model], session: ClientSession | None, skip_hooks: bool
) -> HookPlan | None:
    """The steps of a save (``save_all``) of ``instances`` on the driver ``session``;
    None when there are none (the common case costs one attribute read per instance)."""
    before: list[Step] = []
    after: list[Step] = []
    seen: set[int] = set()
    for instance in instances:
        refuse_write(type(instance), "save", session)  # before any hook runs
        if not type(instance).__anyodm_hooks__.active or id(instance) in seen:
            continue
        seen.add(id(instance))
        _add_save_steps(instance, None, session, skip_hooks, before, after)
    return HookPlan(before, after) if before or after else None


def _add_save_steps(
    instance: Model,
    insert: bool | None,
    session: ClientSession | None,
    skip_hooks: bool,
    before: list[Step],
    after: list[Step],
) -> None:
    """The steps of one instance's save (``insert``: an insert, or None: decided from
    its saved state)."""
    hooks = type(instance).__anyodm_hooks__
    if skip_hooks or not hooks.hooks:
        if hooks.validate_on_save:
            before.append(Revalidation(instance))
        return
    if insert is None:
        insert = state_for_save(instance, session) is None
    fired = _INSERT_EVENTS if insert else _UPDATE_EVENTS
    writes = fired - _VALIDATE
    before += _calls(instance, "before", writes, fired)
    before += _calls(instance, "before", _VALIDATE, fired)
    if hooks.validate_on_save:
        before.append(Revalidation(instance))
    before += _calls(instance, "after", _VALIDATE, fired)
    after += _calls(instance, "after", writes, fired)


def bulk_plan(
    items: Iterable[tuple[str, Model]], session: ClientSession | None, skip_hooks: bool
) -> HookPlan | None:
    """The steps of a ``bulk_write``'s instance items, ``(kind, instance)`` in list
    order: ``"save"`` as a save, ``"insert"`` as a save that inserts, ``"delete"`` as a
    delete (None when there are none)."""
    before: list[Step] = []
    after: list[Step] = []
    for kind, instance in items:
        refuse_write(type(instance), "bulk_write", session)  # before any hook runs
        if not type(instance).__anyodm_hooks__.active:
            continue
        if kind == "delete":
            if not skip_hooks:
                before += _calls(instance, "before", _DELETE_EVENTS, _DELETE_EVENTS)
                after += _calls(instance, "after", _DELETE_EVENTS, _DELETE_EVENTS)
            continue
        insert = True if kind == "insert" else None
        _add_save_steps(instance, insert, session, skip_hooks, before, after)
    return HookPlan(before, after) if before or after else None


def delete_plan(instance: Model, skip_hooks: bool) -> HookPlan | None:
    """The steps of a delete of ``instance`` (None when there are none)."""
    refuse_write(type(instance), "delete")  # a view: before any hook runs
    if skip_hooks or not type(instance).__anyodm_hooks__.hooks:
        return None
    before = _calls(instance, "before", _DELETE_EVENTS, _DELETE_EVENTS)
    after = _calls(instance, "after", _DELETE_EVENTS, _DELETE_EVENTS)
    return HookPlan(before, after) if before or after else None


# -- the sync front ----------------------------------------------------------------------


class SyncHookContext:
    """What a hook taking a context receives on :class:`~anyodm.SyncEngine`.

    ``engine`` and ``session`` are where the operation runs: a hook's own writes made
    with ``context.engine.save(other, session=context.session)`` run in the caller's
    session or transaction (``session`` is None outside one), and commit or abort with
    it.  ``events`` holds what the operation fires for the instance (``Event.INSERT in
    context.events`` tells an insert from an update).
    """

    __slots__ = ("engine", "events", "session")

    engine: SyncEngine
    session: SyncSession | SyncTransaction | ClientSession | None
    events: frozenset[Event]

    def __init__(
        self,
        engine: SyncEngine,
        session: SyncSession | SyncTransaction | ClientSession | None,
        events: frozenset[Event],
    ) -> None:
        self.engine = engine
        self.session = session
        self.events = events

    def __repr__(self) -> str:
        events = ", ".join(sorted(event.name for event in self.events))
        return f"<SyncHookContext session={self.session!r} events={{{events}}}>"


def run_steps(steps: list[Step], context: ContextFactory) -> None:
    """Run the steps in order (``SyncEngine``): a hook that returns an awaitable is an
    error (``TypeError`` naming it), and so is anything a step raises."""
    for step in steps:
        result = step.invoke(context)
        if inspect.isawaitable(result):
            if isinstance(result, Coroutine):
                result.close()
            assert isinstance(step, HookCall)
            raise TypeError(
                f"{step.describe()} returned an awaitable: SyncEngine runs plain hooks "
                "only (use the async Engine)"
            )


def with_sync_hooks(
    plan: HookPlan | None,
    engine: SyncEngine,
    session: SyncSession | SyncTransaction | ClientSession | None,
    operation: str,
    write: Callable[[], T],
) -> T:
    """``write()`` between the plan's steps, on ``SyncEngine``."""
    if plan is None:
        return write()
    plan.refuse_async(operation)

    def context(events: frozenset[Event]) -> SyncHookContext:
        return SyncHookContext(engine, session, events)

    run_steps(plan.before, context)
    result = write()
    run_steps(plan.after, context)
    return result
