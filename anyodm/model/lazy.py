"""What a reference holds until it is loaded: :class:`NotLoaded` placeholders (a lazy
reference after a find, any reference after a find with ``references="keys"``) and the
empty list of a back-reference that was not loaded; :func:`maybe_loaded` and
:func:`is_loaded` to tell them from loaded values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

if TYPE_CHECKING:
    from anyodm.model.model import Model

__all__ = ["BackReferencesNotLoaded", "NotLoaded", "is_loaded", "maybe_loaded"]

T = TypeVar("T", bound="Model")


class NotLoaded(Generic[T]):
    """A referenced document not loaded yet: its model and stored key.

    Saving the referencing instance stores the key unchanged; reading any attribute
    of the referenced model through it raises an ``AttributeError`` saying how to load it.
    """

    __slots__ = ("key", "model")

    def __init__(self, model: type[T], key: Any) -> None:
        #: the referenced model (the reference field's, for a polymorphic family its base)
        self.model: type[T] = model
        #: the primary key as stored in the referencing document
        self.key: Any = key

    @property
    def __anyodm_stored_pk__(self) -> Any:
        """The key as stored (what the reference field holds in the document)."""
        return self.key

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"{self.model.__name__} {self.key!r} is not loaded (a lazy reference not "
            "loaded yet, or a reference a find with references='keys' read as its key): "
            "load it with `await engine.fetch(instance, field_name)` (SyncEngine: "
            "`engine.fetch(...)`) before reading .{name}".replace("{name}", name)
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NotLoaded):
            return self.model is other.model and bool(self.key == other.key)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.model, repr(self.key)))

    def __repr__(self) -> str:
        return f"NotLoaded({self.model.__name__}, {self.key!r})"


class BackReferencesNotLoaded(list[Any]):
    """The empty list a back-reference holds when the find did not load it (a find
    with ``references="keys"``, an instance loaded as the target of a reference):
    ``engine.fetch(instance, field)`` loads it. Equal to ``[]``; back-references are
    never saved, so saving the instance changes nothing of the documents pointing here.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "BackReferencesNotLoaded()"


@overload
def maybe_loaded(value: list[T]) -> list[T | NotLoaded[T]]: ...
@overload
def maybe_loaded(value: list[T | None]) -> list[T | NotLoaded[T] | None]: ...
@overload
def maybe_loaded(value: T) -> T | NotLoaded[T]: ...
@overload
def maybe_loaded(value: None) -> None: ...
def maybe_loaded(value: Any) -> Any:
    """A reference field's value typed as what it may hold: ``Author | NotLoaded[Author]``
    for ``book.author`` (``list[Author | NotLoaded[Author]]`` for a list of
    references). Returns ``value`` itself; for type checkers, which see the field as
    its target type even where a find left it unloaded (``references="keys"``, lazy
    references). Narrow with ``isinstance(value, NotLoaded)``."""
    return value


def is_loaded(value: Any) -> bool:
    """Whether a reference or back-reference field's value is loaded: not a
    :class:`NotLoaded` placeholder, nor a list holding one, nor a back-reference's
    :class:`BackReferencesNotLoaded`."""
    if isinstance(value, NotLoaded | BackReferencesNotLoaded):
        return False
    if isinstance(value, list):
        return not any(isinstance(item, NotLoaded) for item in value)
    return True
