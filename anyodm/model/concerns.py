"""Read concern, write concern and read preference, checked once: for a model's
``model_config``, an engine's ``with_options`` or one call."""

from __future__ import annotations

from typing import Any, TypeAlias

from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import (
    Nearest,
    Primary,
    PrimaryPreferred,
    Secondary,
    SecondaryPreferred,
)
from pymongo.write_concern import WriteConcern

from anyodm.errors import InvalidOperationError

__all__ = ["CONCERN_NAMES", "Concerns", "ReadPreferenceMode", "check_concerns"]

#: a read preference (``pymongo.ReadPreference.SECONDARY``, ``Nearest(tag_sets=...)``...)
ReadPreferenceMode: TypeAlias = (
    Primary | PrimaryPreferred | Secondary | SecondaryPreferred | Nearest
)
_MODES = (Primary, PrimaryPreferred, Secondary, SecondaryPreferred, Nearest)

CONCERN_NAMES = ("read_concern", "write_concern", "read_preference")


class Concerns:
    """A read concern, write concern and read preference (each optional) for
    ``Collection.with_options``; ``key`` tells equal combinations apart (PyMongo's
    objects are not hashable)."""

    __slots__ = ("key", "read_concern", "read_preference", "write_concern")

    def __init__(
        self,
        read_concern: ReadConcern | None = None,
        write_concern: WriteConcern | None = None,
        read_preference: ReadPreferenceMode | None = None,
    ) -> None:
        self.read_concern: ReadConcern | None = read_concern
        self.write_concern: WriteConcern | None = write_concern
        self.read_preference: ReadPreferenceMode | None = read_preference
        self.key: tuple[str, str, str] = (
            repr(read_concern and read_concern.document),
            repr(write_concern and write_concern.document),
            repr(read_preference and read_preference.document),
        )

    def __bool__(self) -> bool:
        return not (
            self.read_concern is None
            and self.write_concern is None
            and self.read_preference is None
        )

    def given(self) -> dict[str, Any]:
        """The keyword arguments of ``with_options`` for the concerns given."""
        given: dict[str, Any] = {}
        if self.read_concern is not None:
            given["read_concern"] = self.read_concern
        if self.write_concern is not None:
            given["write_concern"] = self.write_concern
        if self.read_preference is not None:
            given["read_preference"] = self.read_preference
        return given


def check_concerns(
    owner: str,
    read_concern: Any = None,
    write_concern: Any = None,
    read_preference: Any = None,
) -> Concerns:
    """Each concern checked (``TypeError`` naming ``owner`` and the option); an
    unacknowledged write concern (``w=0``) is refused (``InvalidOperationError``):
    anyodm reports what each write did (saved state, counts), which an unacknowledged
    write cannot tell."""
    if read_concern is not None and not isinstance(read_concern, ReadConcern):
        raise _wrong(owner, "read_concern", "a pymongo ReadConcern", read_concern)
    if write_concern is not None:
        if not isinstance(write_concern, WriteConcern):
            raise _wrong(owner, "write_concern", "a pymongo WriteConcern", write_concern)
        if not write_concern.acknowledged:
            raise unacknowledged_refused(owner)
    if read_preference is not None and not isinstance(read_preference, _MODES):
        raise _wrong(owner, "read_preference", "a pymongo ReadPreference mode", read_preference)
    return Concerns(read_concern, write_concern, read_preference)


def unacknowledged_refused(owner: str) -> InvalidOperationError:
    """The error for an unacknowledged write concern (``w=0``)."""
    return InvalidOperationError(
        f"{owner}: an unacknowledged write concern (w=0) is not supported: anyodm reports "
        "what each write did (the saved state of instances, counts), which an "
        "unacknowledged write cannot tell; use w=1 or more (or engine.get_collection(Model) "
        "for fire-and-forget writes)"
    )


def _wrong(owner: str, option: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{owner}: {option} must be {expected}, not {value!r:.80}")
