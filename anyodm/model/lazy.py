"""``NotLoaded``: what a lazy reference holds until ``engine.fetch`` loads it."""

from __future__ import annotations

from typing import Any

__all__ = ["NotLoaded"]


class NotLoaded:
    """A referenced document not loaded yet: its model and stored key.

    Saving the referencing instance stores the key unchanged; reading any attribute
    of the referenced model through it raises an ``AttributeError`` saying how to load it.
    """

    __slots__ = ("key", "model")

    def __init__(self, model: type[Any], key: Any) -> None:
        self.model: type[Any] = model
        self.key: Any = key

    @property
    def __anyodm_stored_pk__(self) -> Any:
        """The key as stored (what the reference field holds in the document)."""
        return self.key

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"{self.model.__name__} {self.key!r} is a lazy reference not loaded yet: "
            "load it with `await engine.fetch(instance, field_name)` (SyncEngine: "
            "`engine.fetch(...)`) before reading .{name}".replace("{name}", name)
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NotLoaded):
            return self.model is other.model and self.key == other.key
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.model, repr(self.key)))

    def __repr__(self) -> str:
        return f"NotLoaded({self.model.__name__}, {self.key!r})"
