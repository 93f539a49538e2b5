"""Stand-in classes that keep pydantic-core from reusing a model's own validator.

When pydantic-core builds a validator or serializer for a ``model`` schema whose class
is complete, it reuses the class's own ``__pydantic_validator__`` /
``__pydantic_serializer__`` and ignores the schema it was given, so the document
rewrites of :mod:`anyodm.model.schema` would be lost. The document schemas therefore
name, for each model class, a *stand-in*: a subclass that pydantic never built (so it
has no prebuilt validator of its own) whose ``__new__`` makes an instance of the real
class, so the document validator creates real instances directly. For serialization,
``isinstance(real_instance, stand_in)`` holds, so a stand-in in a union still matches
the real instances.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["standin"]

_lock = threading.Lock()
_standins: dict[type, type] = {}  # model classes live as long as the program
_metaclasses: dict[type, type] = {}


def _standin_metaclass(meta: type) -> type:
    """A subclass of ``meta`` whose classes answer isinstance/issubclass for their original.

    Plain ``type`` checks: ABC's would walk the original's subclasses, stand-in included.
    """
    found = _metaclasses.get(meta)
    if found is None:

        def __instancecheck__(cls: Any, instance: Any) -> bool:
            return type.__instancecheck__(cls.__anyodm_original__, instance)

        def __subclasscheck__(cls: Any, subclass: type) -> bool:
            return type.__subclasscheck__(cls.__anyodm_original__, subclass)

        found = _metaclasses[meta] = type(
            f"StandIn{meta.__name__}",
            (meta,),
            {"__instancecheck__": __instancecheck__, "__subclasscheck__": __subclasscheck__},
        )
    return found


def _maker(cls: Any) -> Callable[..., Any]:
    """``stand_in.__new__``: an instance of ``cls`` (a C-level call for the usual class)."""
    if cls.__new__ is object.__new__:
        return functools.partial(object.__new__, cls)
    own_new = cls.__new__

    def make(_standin: type, *args: Any, **kwargs: Any) -> Any:
        return own_new(cls)

    return make


def standin(cls: type) -> type:
    """The stand-in of a pydantic model class (created once)."""
    with _lock:
        found = _standins.get(cls)
        if found is None:
            namespace = {
                "__slots__": (),
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__anyodm_original__": cls,
                "__new__": staticmethod(_maker(cls)),
            }
            # type.__new__ rather than the metaclass: the stand-in must stay unbuilt.
            found = type.__new__(_standin_metaclass(type(cls)), cls.__name__, (cls,), namespace)
            _standins[cls] = found
    return found
