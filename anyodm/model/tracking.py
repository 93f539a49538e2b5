"""Change tracking: what a save has to send, and what the instance remembers afterwards.

An instance's *saved state* is what the database holds for it, as far as anyodm knows,
kept as the BSON bytes of the stored document (:class:`StoredDocument`): immutable, so
no mutation of the instance (in place, at any depth) can reach it.  A save encodes the
instance's document once and compares it with the saved state field by field, by their
encodings: the top-level fields whose stored form differs are ``$set``, extra fields
that disappeared are ``$unset``, and nothing else is sent.

The saved state is one of:

* a :class:`StoredDocument`: the stored document;
* ``None``: never stored (a fresh instance, or its document was deleted);
* :data:`MAYBE_STORED`: nothing reliable is known (a write whose outcome is unknown, a
  transaction anyodm does not manage, the before-image of a find-and-modify).  The next
  save sends the whole document as an upsert, which is right either way.

Who changes it (:mod:`anyodm.core.operations`, :mod:`anyodm.core.pending`): a read sets
it from the bytes the server sent; a save records the document it *sent* — encoded
before the round trip, so a change made by another task meanwhile stays modified — and
only once the write is durable (at once outside a transaction, at commit inside one).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.errors import InvalidDocument

__all__ = [
    "MAYBE_STORED",
    "SavePlan",
    "SavedState",
    "StoredDocument",
    "changes_for_save",
    "encode_document",
    "is_persisted",
    "mark_saved",
    "mark_unsaved",
    "plan_save",
    "saved_state",
    "set_saved_state",
]

_STATE = "__anyodm_state__"
#: keys a save never compares: the primary key (a new key is a new document) and the
#: revision (optimistic concurrency keeps it itself)
_NOT_COMPARED = frozenset({"_id", "_rev"})

#: how saved states are encoded (only ever compared with each other and with what the
#: server sent, never decoded into the instance)
_CODEC: Final[CodecOptions[dict[str, Any]]] = CodecOptions(
    uuid_representation=UuidRepresentation.STANDARD, tz_aware=True
)

_INT32 = struct.Struct("<i")


class _MaybeStored:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MAYBE_STORED"


#: The saved state of an instance whose stored document is unknown.
MAYBE_STORED: Final = _MaybeStored()


def _element_sizes() -> dict[int, int]:
    """Value sizes of the BSON types of fixed size (by type byte)."""
    fixed = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8}
    fixed.update({0x12: 8, 0x13: 16, 0x7F: 0, 0xFF: 0})
    return fixed


_FIXED: Final = _element_sizes()
_LENGTH_PREFIXED: Final = frozenset({0x02, 0x0D, 0x0E})  # string, code, symbol
_SELF_SIZED: Final = frozenset({0x03, 0x04, 0x0F})  # document, array, code with scope


def split_elements(data: bytes) -> dict[str, bytes]:
    """The top-level elements of a BSON document: key -> the element's bytes (type byte,
    key and value), in document order."""
    elements: dict[str, bytes] = {}
    end = len(data) - 1
    pos = 4
    unpack = _INT32.unpack_from
    while pos < end:
        kind = data[pos]
        key_end = data.index(0, pos + 1)
        start = key_end + 1
        size = _FIXED.get(kind)
        if size is None:
            if kind in _LENGTH_PREFIXED:
                size = 4 + unpack(data, start)[0]
            elif kind in _SELF_SIZED:
                size = unpack(data, start)[0]
            elif kind == 0x05:  # binary: length, subtype, bytes
                size = 5 + unpack(data, start)[0]
            elif kind == 0x0B:  # regex: two C strings
                size = data.index(0, data.index(0, start) + 1) + 1 - start
            elif kind == 0x0C:  # DBPointer: a string and an ObjectId
                size = 16 + unpack(data, start)[0]
            else:
                raise ValueError(f"unknown BSON element type 0x{kind:02x}")
        elements[data[pos + 1 : key_end].decode()] = data[pos : start + size]
        pos = start + size
    return elements


def _element_value(element: bytes) -> Any:
    """The python value of one element (decoded from a one-element document)."""
    doc = bson.decode(_INT32.pack(len(element) + 5) + element + b"\x00", _CODEC)
    return next(iter(doc.values()))


class StoredDocument:
    """A stored document as BSON bytes, split into its top-level elements on first use.

    Immutable: nothing of it is shared with any instance.
    """

    __slots__ = ("_elements", "raw")

    def __init__(self, raw: bytes, elements: dict[str, bytes] | None = None) -> None:
        self.raw = raw
        self._elements = elements

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> StoredDocument:
        """The stored form of a BSON-ready document."""
        return cls(bson.encode(doc, codec_options=_CODEC))

    def elements(self) -> Mapping[str, bytes]:
        """Top-level key -> element bytes (read-only by convention: never handed out)."""
        elements = self._elements
        if elements is None:
            elements = self._elements = split_elements(self.raw)
        return elements

    def get(self, key: str, default: Any = None) -> Any:
        """The decoded value stored under a top-level ``key`` (a fresh object)."""
        element = self.elements().get(key)
        return default if element is None else _element_value(element)

    def __contains__(self, key: object) -> bool:
        return key in self.elements()

    def with_element(self, key: str, value: Any) -> StoredDocument:
        """This document with ``key`` set to ``value`` (appended if it was missing)."""
        elements = dict(self.elements())
        elements[key] = split_elements(bson.encode({key: value}, codec_options=_CODEC))[key]
        body = b"".join(elements.values())
        return StoredDocument(_INT32.pack(len(body) + 5) + body + b"\x00", elements)

    def to_dict(self) -> dict[str, Any]:
        """The document decoded (a fresh copy each time)."""
        return bson.decode(self.raw, _CODEC)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StoredDocument):
            return self.raw == other.raw
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StoredDocument({self.to_dict()!r})"


SavedState = StoredDocument | _MaybeStored | None


def saved_state(instance: Any) -> SavedState:
    """The instance's own saved state (see the module docs)."""
    state: SavedState = getattr(instance, _STATE, None)
    return state


def set_saved_state(instance: Any, state: SavedState) -> None:
    """Replace the instance's saved state (the database changed, durably)."""
    object.__setattr__(instance, _STATE, state)


def is_persisted(instance: Any) -> bool:
    """Whether the instance was loaded from, or durably saved to, the database."""
    return type(saved_state(instance)) is StoredDocument


def encode_document(instance: Any, doc: Mapping[str, Any]) -> bytes:
    """``doc`` (the instance's dumped document) as BSON; a value BSON can't store raises
    ``InvalidValueError`` naming the model and the field, before anything is sent."""
    try:
        return bson.encode(doc, codec_options=_CODEC)
    except (InvalidDocument, TypeError, OverflowError) as exc:
        from anyodm.errors import InvalidValueError

        model = type(instance)
        field = _unencodable_field(doc)
        raise InvalidValueError(
            model,
            f"{model.__name__}.{field}",
            f"the value can't be stored in MongoDB ({exc}); declare the field with a "
            "BSON type (str, int, float, bool, datetime, dict[str, ...], list, ...)",
        ) from exc


def _unencodable_field(doc: Mapping[str, Any]) -> str:
    for key, value in doc.items():
        try:
            bson.encode({"v": value}, codec_options=_CODEC)
        except Exception:
            return str(key)
    return "?"


class SavePlan(NamedTuple):
    """What one save sends.

    ``doc`` is the whole current document (stored key names); ``changes`` the fields
    to ``$set`` — the whole document (``_id`` included) when nothing is known stored,
    otherwise only the fields whose encoding differs; ``unset`` the extra fields to
    remove; ``stored`` tells whether a stored document is the base; ``sent`` is the
    saved state the write gives the instance once durable.
    """

    doc: dict[str, Any]
    changes: dict[str, Any]
    unset: tuple[str, ...]
    stored: bool
    sent: StoredDocument


def plan_save(instance: Any, state: SavedState | None = None, *, use_own: bool = True) -> SavePlan:
    """Compare the instance with a saved state (its own unless ``use_own`` is False).

    The document is dumped and encoded once; its encoding is also what the saved
    state becomes once the write is durable.
    """
    doc: dict[str, Any] = instance.model_dump_doc()
    raw = encode_document(instance, doc)
    base = saved_state(instance) if use_own else state
    if type(base) is not StoredDocument:
        return SavePlan(doc, doc, (), False, StoredDocument(raw))
    if raw == base.raw:
        return SavePlan(doc, {}, (), True, base)
    current = split_elements(raw)
    sent = StoredDocument(raw, current)
    old = base.elements()
    if old.get("_id") != current["_id"]:  # another key: another document
        return SavePlan(doc, doc, (), False, sent)
    changes = {
        key: doc[key]
        for key, element in current.items()
        if key not in _NOT_COMPARED and old.get(key) != element
    }
    unset: tuple[str, ...] = ()
    if _keeps_extras(instance):
        unset = tuple(key for key in old if key not in current and key not in _NOT_COMPARED)
    return SavePlan(doc, changes, unset, True, sent)


def _keeps_extras(instance: Any) -> bool:
    """Whether the model stores extra fields (``extra="allow"``): a stored key it no
    longer has was removed from the instance, so a save removes it too."""
    return bool(type(instance).model_config.get("extra") == "allow")


def changes_for_save(instance: Any) -> dict[str, Any]:
    """The ``$set`` payload (stored key names) of the fields modified since load/save.

    An instance with nothing known stored (or whose primary key was changed) gets every
    field, ``_id`` included; a persisted one only the changed fields, never ``_id``.
    """
    return plan_save(instance).changes


def mark_saved(instance: Any, sent: StoredDocument | None = None) -> None:
    """The write of ``sent`` (default: the instance's current document) is durable."""
    if sent is None:
        sent = StoredDocument(encode_document(instance, instance.model_dump_doc()))
    set_saved_state(instance, sent)


def mark_unsaved(instance: Any) -> None:
    """The instance's document is not in the database (deleted, or never stored)."""
    set_saved_state(instance, None)
