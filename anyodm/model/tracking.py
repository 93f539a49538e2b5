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
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, NamedTuple

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions

from anyodm.model.storable import UNENCODABLE, unstorable_error

__all__ = [
    "MAYBE_STORED",
    "SavePlan",
    "SavedState",
    "StoredDocument",
    "changes_for_save",
    "encode_document",
    "is_persisted",
    "keeps_extras",
    "mark_saved",
    "mark_unsaved",
    "plan_save",
    "saved_state",
    "set_saved_state",
    "stored_values",
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


class _MaybeStored:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MAYBE_STORED"


#: The saved state of an instance whose stored document is unknown.
MAYBE_STORED: Final = _MaybeStored()


_FLOAT = struct.Struct("<d")
#: types whose equal values of the same type always have the same encoding
_PLAIN: Final = frozenset({str, int, bool, type(None), bson.ObjectId, bytes})


def _same_stored_form(new: Any, old: Any, codec: CodecOptions[Any]) -> bool:
    """Whether two values (a dumped one, a decoded one) have the same BSON encoding.

    Equality is not enough: ``1 == 1.0 == True``, dicts equal in another key order, a
    naive and an aware datetime, microseconds the server drops; and values of different
    types may store alike (a tuple and a list, a UUID and its binary).
    """
    kind = type(new)
    if kind is type(old):
        if kind in _PLAIN:
            return bool(new == old)
        if kind is float:
            return _FLOAT.pack(new) == _FLOAT.pack(old)
    elif isinstance(new, bson.ObjectId) and isinstance(old, bson.ObjectId):
        return bool(new == old)  # anyodm's ObjectId and the driver's
    return _encoded_fields({"": new}, [""], codec) == _encoded_fields({"": old}, [""], codec)


def _changed_fields(
    doc: dict[str, Any], old: dict[str, Any], codec: CodecOptions[Any]
) -> dict[str, Any]:
    """The fields of ``doc`` whose stored form differs from ``old``'s (or that it lacks).

    Plain values of one type are compared directly; the others (containers,
    datetimes...) by their encodings, all at once first: usually none of them changed.
    """
    changes: dict[str, Any] = {}
    encoded: list[str] = []
    for key, new in doc.items():
        if key in _NOT_COMPARED:
            continue
        if key not in old:
            changes[key] = new
            continue
        prior = old[key]
        kind = type(new)
        if kind is type(prior) and kind in _PLAIN:
            if new != prior:
                changes[key] = new
        elif kind is float and type(prior) is float:
            if _FLOAT.pack(new) != _FLOAT.pack(prior):
                changes[key] = new
        elif isinstance(new, bson.ObjectId) and isinstance(prior, bson.ObjectId):
            if new != prior:
                changes[key] = new
        else:
            encoded.append(key)
    if encoded and _encoded_fields(doc, encoded, codec) != _encoded_fields(old, encoded, codec):
        for key in encoded:
            if not _same_stored_form(doc[key], old[key], codec):
                changes[key] = doc[key]
    return changes


def _encoded_fields(doc: Mapping[str, Any], keys: list[str], codec: CodecOptions[Any]) -> bytes:
    """The encoding of some fields of ``doc`` (``b""`` if they can't be encoded: the
    save reports it)."""
    try:
        return bson.encode({key: doc[key] for key in keys}, codec_options=codec)
    except Exception:
        return b""


class StoredDocument:
    """A stored document as BSON bytes: immutable, nothing of it is shared with any
    instance (every read of it decodes a fresh copy).

    The bytes may be derived on first use from other bytes (:meth:`derived`): a loaded
    document whose referenced documents were looked up into it keeps the server's bytes,
    and the stored form (keys in place of the looked-up documents) is made only when a
    save asks for it.
    """

    __slots__ = ("_derive", "_raw")

    def __init__(self, raw: bytes) -> None:
        self._raw: bytes | None = raw
        self._derive: tuple[bytes, Callable[[dict[str, Any]], Mapping[str, Any]]] | None = None

    @classmethod
    def derived(
        cls, source: bytes, derive: Callable[[dict[str, Any]], Mapping[str, Any]]
    ) -> StoredDocument:
        """The stored document ``derive`` makes of a fresh decoded copy of ``source``."""
        state = cls.__new__(cls)
        state._raw = None
        state._derive = (source, derive)
        return state

    @property
    def raw(self) -> bytes:
        """The document's BSON bytes."""
        raw = self._raw
        if raw is None:
            assert self._derive is not None
            source, derive = self._derive
            raw = bson.encode(derive(bson.decode(source, _CODEC)), codec_options=_CODEC)
            self._raw, self._derive = raw, None
        return raw

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> StoredDocument:
        """The stored form of a BSON-ready document."""
        return cls(bson.encode(doc, codec_options=_CODEC))

    def to_dict(self, codec_options: CodecOptions[Any] = _CODEC) -> dict[str, Any]:
        """The document decoded (a fresh copy each time)."""
        decoded: dict[str, Any] = bson.decode(self.raw, codec_options)
        return decoded

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under a top-level ``key`` (a fresh object)."""
        return self.to_dict().get(key, default)

    def with_element(self, key: str, value: Any) -> StoredDocument:
        """This document with ``key`` set to ``value``."""
        doc = self.to_dict()
        doc[key] = value
        return StoredDocument.of(doc)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StoredDocument):
            return self.raw == other.raw
        return NotImplemented

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # pyright: ignore[reportIncompatibleMethodOverride]

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


def encode_document(
    instance: Any, doc: Mapping[str, Any], codec_options: CodecOptions[Any] | None = None
) -> bytes:
    """``doc`` (the instance's dumped document) as BSON; a value BSON can't store raises
    ``InvalidValueError`` naming the model and the field, before anything is sent."""
    codec = _CODEC if codec_options is None else codec_options
    try:
        return bson.encode(doc, codec_options=codec)
    except UNENCODABLE as exc:
        raise unstorable_error(type(instance), doc, codec) from exc


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


def plan_save(
    instance: Any,
    state: SavedState | None = None,
    *,
    use_own: bool = True,
    codec_options: CodecOptions[Any] | None = None,
) -> SavePlan:
    """Compare the instance with a saved state (its own unless ``use_own`` is False).

    The document is dumped and encoded once (with the collection's ``codec_options``);
    its encoding is also what the saved state becomes once the write is durable.
    """
    doc: dict[str, Any] = instance.model_dump_doc()
    sent = StoredDocument(encode_document(instance, doc, codec_options))
    base = saved_state(instance) if use_own else state
    if type(base) is not StoredDocument:
        return SavePlan(doc, doc, (), False, sent)
    if sent.raw == base.raw:
        return SavePlan(doc, {}, (), True, base)
    codec = _comparing(codec_options)
    old = base.to_dict(codec)
    if "_id" not in old or not _same_stored_form(doc["_id"], old["_id"], codec):
        return SavePlan(doc, doc, (), False, sent)  # another key: another document
    changes = _changed_fields(doc, old, codec)
    unset: tuple[str, ...] = ()
    if keeps_extras(type(instance)):
        unset = tuple(key for key in old if key not in doc and key not in _NOT_COMPARED)
    return SavePlan(doc, changes, unset, True, sent)


#: id(collection codec options) -> (those options, the comparing options): the options
#: of a collection are one object, so they are found by identity (hashing them costs more)
_COMPARING: dict[int, tuple[CodecOptions[Any], CodecOptions[Any]]] = {}


def _comparing(codec_options: CodecOptions[Any] | None) -> CodecOptions[Any]:
    """How a saved state is decoded to be compared with a dumped document: as the
    collection encodes (its UUID representation, its type codecs), into plain dicts."""
    if codec_options is None:
        return _CODEC
    known = _COMPARING.get(id(codec_options))
    if known is not None and known[0] is codec_options:
        return known[1]
    comparing = codec_options.with_options(document_class=dict)
    if len(_COMPARING) > 64:  # many clients made and dropped: start again
        _COMPARING.clear()
    _COMPARING[id(codec_options)] = (codec_options, comparing)
    return comparing


def stored_values(
    state: StoredDocument, keys: tuple[str, ...], codec_options: CodecOptions[Any] | None = None
) -> dict[str, Any]:
    """The values ``state`` stores under the top-level ``keys`` (``None`` for a missing
    one), decoded as the collection encodes, so that a filter sends them as stored."""
    doc = state.to_dict(_comparing(codec_options))
    return {key: doc.get(key) for key in keys}


def keeps_extras(model: type[Any]) -> bool:
    """Whether the model stores extra fields (``extra="allow"``): a stored key it no
    longer has was removed from the instance, so a save removes it too."""
    return bool(model.model_config.get("extra") == "allow")


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
