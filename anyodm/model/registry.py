"""Every ``Model`` class the process defined, for what needs the models referencing a
given one (the delete rules of ``Reference(on_delete=...)``).

Held weakly: a model class defined in a function is forgotten once it is gone.  The
``version`` grows with each registration, so what is computed from the registry can be
cached until a model is added.  Whether any class (model or embedded model) declared
a delete rule other than ``"leave"`` is noted too, so that deletes pay nothing for
the rules while none exists.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

__all__ = [
    "any_delete_rules",
    "known_models",
    "note_delete_rules",
    "register_model",
    "registry_version",
]

_lock = threading.Lock()
_models: weakref.WeakSet[type[Any]] = weakref.WeakSet()
_version = 0
_rules_declared = False


def register_model(model: type[Any]) -> None:
    """Add a model class (called once per class, at its creation)."""
    global _version
    with _lock:
        _models.add(model)
        _version += 1


def note_delete_rules(cls: type[Any], reference_names: tuple[str, ...]) -> None:
    """Note whether one of a (embedded) model's reference fields declares a delete rule."""
    from anyodm.model.fields import odm_options

    global _rules_declared, _version
    for name in reference_names:
        options = odm_options(cls.model_fields[name])
        if options is not None and options.on_delete != "leave":
            with _lock:
                _rules_declared = True
                _version += 1
            return


def any_delete_rules() -> bool:
    """Whether some class declared ``Reference(on_delete="deny"/"cascade")``."""
    return _rules_declared


def registry_version() -> int:
    """How many registrations there were so far (a cache key)."""
    return _version


def known_models() -> list[type[Any]]:
    """The model classes alive now."""
    with _lock:
        return list(_models)
