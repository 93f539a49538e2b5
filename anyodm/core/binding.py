"""Engine methods bound to a session, written once on the engine and never again.

A session or transaction offers the engine's operations with ``session=`` filled in::

    class SessionOperations:
        find = session_bound(EngineMethods.find)

``session.find(Book, ...)`` then calls ``session.engine.find(Book, ..., session=session)``.
The bound method carries the engine method's name, docstring and signature (without
``session``), so ``help()`` and the API reference show them, and refuses a ``session=``
argument (it would replace the bound session). Type checkers cannot see a parameter
removed from a signature: the session classes declare the bound methods' signatures for
them (under ``TYPE_CHECKING``), and a test checks those against the engine's.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Concatenate, Generic, TypeVar, overload

from typing_extensions import ParamSpec, Self

__all__ = ["SessionBound", "session_bound"]

P = ParamSpec("P")
R = TypeVar("R")


def _without_session(signature: inspect.Signature) -> inspect.Signature:
    params = [p for p in signature.parameters.values() if p.name not in ("self", "session")]
    return signature.replace(parameters=params)


class SessionBound(Generic[P, R]):
    """A descriptor: the engine method ``name`` of ``instance.engine``, with ``session=``
    set to ``instance``.

    A new bound callable on each access, like Python's bound methods (caching it on the
    session would tie the session to itself in a reference cycle).
    """

    def __init__(self, method: Callable[Concatenate[Any, P], R]) -> None:
        self._method = method
        self._name = method.__name__
        self.__doc__ = f"Like the engine's ``{self._name}``, in this session.\n\n" + (
            inspect.getdoc(method) or ""
        )
        self.__signature__: inspect.Signature = _without_session(inspect.signature(method))

    def __set_name__(self, owner: type[Any], name: str) -> None:
        if name != self._name:
            raise TypeError(
                f"{owner.__name__}.{name} binds the engine's {self._name}: use the same name"
            )

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: type[Any]) -> Callable[P, R]: ...
    def __get__(self, instance: Any, owner: type[Any]) -> Self | Callable[P, R]:
        if instance is None:
            return self
        engine_method = getattr(instance.engine, self._name)
        bound: Callable[P, R] = functools.partial(engine_method, session=instance)
        owner_name = f"{type(instance).__name__}.{self._name}"
        return _Bound(bound, self._method, self.__doc__, self.__signature__, owner_name)

    def __repr__(self) -> str:
        return f"<engine method {self._name} bound to the session>"


class _Bound:
    """A callable carrying its own name, docstring and signature (for ``help()``)."""

    def __init__(
        self,
        call: Callable[..., Any],
        method: Callable[..., Any],
        doc: str | None,
        signature: inspect.Signature,
        owner_name: str,
    ) -> None:
        self._call = call
        self._owner_name = owner_name
        self.__name__ = method.__name__
        self.__qualname__ = method.__qualname__
        self.__module__ = method.__module__
        self.__doc__ = doc
        self.__signature__ = signature
        self.__wrapped__ = method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "session" in kwargs:  # it would replace the session this method is bound to
            raise TypeError(
                f"{self._owner_name}() takes no session= argument: it runs in this "
                f"{self._owner_name.split('.')[0]}; call the engine's {self.__name__}() "
                "to choose a session"
            )
        return self._call(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<bound session method {self.__name__}>"


def session_bound(method: Callable[Concatenate[Any, P], R]) -> SessionBound[P, R]:
    """Offer the engine ``method`` on sessions: ``find = session_bound(EngineMethods.find)``."""
    return SessionBound(method)
