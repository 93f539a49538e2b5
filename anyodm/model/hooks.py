"""Event hooks declared on models: ``@before_event(Save)``, ``@after_event(Delete)``...

Declaring only (no I/O): the decorators mark methods, and :func:`collect_hooks` reads the
marked methods of a model class when the class is made (its bases' first, then its own,
in declaration order).  Which hooks an operation runs, and when, is decided by
:mod:`anyodm.core.hooks`.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, NamedTuple, TypeVar

__all__ = [
    "NO_HOOKS",
    "Delete",
    "Event",
    "Hook",
    "Insert",
    "ModelHooks",
    "Save",
    "Update",
    "Validate",
    "after_event",
    "before_event",
    "collect_hooks",
]

F = TypeVar("F", bound=Callable[..., Any])

Timing = Literal["before", "after"]


class Event(enum.Enum):
    """What happens to an instance's document, for :func:`before_event` / :func:`after_event`.

    * ``SAVE``: every ``save`` / ``save_all`` of the instance;
    * ``INSERT``: a save that creates its document (the instance is not known to be
      stored: fresh, or deleted since);
    * ``UPDATE``: a save of an instance that is stored (loaded or saved before);
    * ``VALIDATE``: the validation step of a save, right before the write;
    * ``DELETE``: ``delete`` of the instance.
    """

    INSERT = "insert"
    UPDATE = "update"
    SAVE = "save"
    DELETE = "delete"
    VALIDATE = "validate"


Insert: Final = Event.INSERT
Update: Final = Event.UPDATE
Save: Final = Event.SAVE
Delete: Final = Event.DELETE
Validate: Final = Event.VALIDATE

#: the attribute a decorated function carries: ((timing, events), ...)
_MARK = "__anyodm_hook_events__"


class Hook(NamedTuple):
    """One hook method of a model class, as declared."""

    #: ``Book.touch``: the class that declared it and the method's name
    qualname: str
    name: str
    function: Callable[..., Any]
    before: frozenset[Event]
    after: frozenset[Event]
    #: called as ``function(instance, context)`` (else ``function(instance)``)
    takes_context: bool
    is_async: bool

    def events(self, timing: Timing) -> frozenset[Event]:
        return self.before if timing == "before" else self.after


class ModelHooks:
    """The hooks of one model class, in their run order, and whether its saves
    re-validate the instance (``model_config["validate_on_save"]``)."""

    __slots__ = ("_matching", "active", "hooks", "validate_on_save")

    hooks: tuple[Hook, ...]
    validate_on_save: bool
    #: anything to do on a write (hooks, or the validation)
    active: bool

    def __init__(self, hooks: tuple[Hook, ...], validate_on_save: bool) -> None:
        self.hooks = hooks
        self.validate_on_save = validate_on_save
        self.active = bool(hooks) or validate_on_save
        self._matching: dict[tuple[Timing, frozenset[Event]], tuple[Hook, ...]] = {}

    def matching(self, timing: Timing, events: frozenset[Event]) -> tuple[Hook, ...]:
        """The hooks declared for ``timing`` and any of ``events``, each once, in order."""
        key = (timing, events)
        found = self._matching.get(key)
        if found is None:
            found = tuple(hook for hook in self.hooks if hook.events(timing) & events)
            self._matching[key] = found
        return found

    def __repr__(self) -> str:
        names = ", ".join(hook.qualname for hook in self.hooks)
        return f"<ModelHooks [{names}] validate_on_save={self.validate_on_save}>"


#: the hooks of a model without any
NO_HOOKS: Final = ModelHooks((), False)


def _events_of(events: tuple[Any, ...], decorator: str) -> frozenset[Event]:
    """The events given to a decorator (``Save``, ``Insert, Update``, or a list of them)."""
    chosen: list[Event] = []
    for item in events:
        if isinstance(item, Event):
            chosen.append(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            chosen.extend(_events_of(tuple(item), decorator))
        elif callable(item):
            raise TypeError(
                f"{decorator}() takes the events first: write @{decorator}(Save) "
                f"(or Insert, Update, Delete, Validate), not @{decorator}"
            )
        else:
            raise TypeError(
                f"{decorator}() takes events (Insert, Update, Save, Delete, Validate, or "
                f"anyodm.Event members), got {item!r}"
            )
    if not chosen:
        raise TypeError(f"{decorator}() needs at least one event, e.g. @{decorator}(Save)")
    return frozenset(chosen)


def _check_callable(function: Any, decorator: str) -> None:
    """A hook is a plain or async function taking ``(self)`` or ``(self, context)``."""
    name = getattr(function, "__qualname__", repr(function))
    if isinstance(function, (staticmethod, classmethod, property)):
        raise TypeError(
            f"@{decorator}() on {name}: a hook is an instance method, not a "
            f"{type(function).__name__}"
        )
    if not callable(function):
        raise TypeError(f"@{decorator}() needs a method, got {function!r}")
    if inspect.isasyncgenfunction(function) or inspect.isgeneratorfunction(function):
        raise TypeError(f"@{decorator}() on {name}: a hook cannot be a generator")
    _takes_context(function, name)


def _takes_context(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` takes a context after the instance; ``TypeError`` naming it if
    it can be called neither as ``f(instance)`` nor as ``f(instance, context)``."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # no signature to read: called with the instance only
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    required = [p for p in positional if p.default is p.empty]
    keyword_only = [p for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if keyword_only or len(required) > 2 or (not positional and not varargs):
        raise TypeError(f"{name}: a hook method takes (self) or (self, context)")
    return len(positional) >= 2 or varargs


def _mark(timing: Timing, events: tuple[Any, ...]) -> Callable[[F], F]:
    decorator = f"{timing}_event"
    chosen = _events_of(events, decorator)

    def mark(function: F) -> F:
        _check_callable(function, decorator)
        marks: tuple[tuple[Timing, frozenset[Event]], ...] = getattr(function, _MARK, ())
        try:
            setattr(function, _MARK, (*marks, (timing, chosen)))
        except (AttributeError, TypeError):
            raise TypeError(
                f"@{decorator}() cannot mark {function!r}: declare the hook with def "
                "(or async def) in the model's class body"
            ) from None
        return function

    return mark


def before_event(*events: Event | Iterable[Event]) -> Callable[[F], F]:
    """Run the decorated method before each write of the instance that fires one of
    ``events``: ``@before_event(Save)``, ``@before_event(Insert, Update)``.

    The method is plain or ``async``, and takes ``(self)`` or ``(self, context)`` (a
    :class:`~anyodm.HookContext` / :class:`~anyodm.SyncHookContext` giving the engine
    and the caller's session).  If it raises, the operation is abandoned: nothing of it
    is sent.
    """
    return _mark("before", events)


def after_event(*events: Event | Iterable[Event]) -> Callable[[F], F]:
    """Run the decorated method after each write of the instance that fires one of
    ``events`` succeeded (``@after_event(Delete)``); like :func:`before_event`, but
    what it raises propagates after the write happened."""
    return _mark("after", events)


def _marks_of(value: Any) -> tuple[tuple[Timing, frozenset[Event]], ...]:
    """The hook marks a class attribute carries (none for anything else)."""
    try:
        marks = getattr(value, _MARK, ())
    except Exception:  # an attribute that computes itself and fails: not a hook
        return ()
    return marks if isinstance(marks, tuple) else ()


def _hook_of(owner: type[Any], name: str, value: Any) -> Hook | None:
    marks = _marks_of(value)
    if not marks or isinstance(value, (staticmethod, classmethod, property)):
        return None
    before = frozenset(e for timing, events in marks if timing == "before" for e in events)
    after = frozenset(e for timing, events in marks if timing == "after" for e in events)
    qualname = f"{owner.__name__}.{name}"
    return Hook(
        qualname=qualname,
        name=name,
        function=value,
        before=before,
        after=after,
        takes_context=_takes_context(value, qualname),
        is_async=inspect.iscoroutinefunction(value),
    )


def collect_hooks(cls: type[Any], *, embedded: bool) -> ModelHooks:
    """The hooks of ``cls``: its bases' first (the most basic first), then its own, each
    in declaration order.  A method of a subclass with a hook's name replaces that hook
    in its place (as a hook only if it is decorated itself).  ``TypeError`` naming the
    class for hooks on an embedded model (it is saved as part of its document)."""
    by_name: dict[str, Hook | None] = {}
    for klass in reversed(cls.__mro__):
        for name, value in list(vars(klass).items()):  # reading a value may add entries
            if name in by_name or _marks_of(value):
                by_name[name] = _hook_of(klass, name, value)
    hooks = tuple(hook for hook in by_name.values() if hook is not None)
    if embedded:
        if hooks:
            raise TypeError(
                f"{cls.__name__}.{hooks[0].name}: event hooks are for Model classes; an "
                "EmbeddedModel is written as part of its document (declare the hook on "
                "the Model holding it)"
            )
        return NO_HOOKS
    validate = bool(getattr(cls, "model_config", {}).get("validate_on_save", False))
    if not hooks and not validate:
        return NO_HOOKS
    return ModelHooks(hooks, validate)
