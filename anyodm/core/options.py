"""Per-call driver options and read/write concerns: what each operation accepts, checked
before anything is sent, and the collection an operation runs on.

Each operation takes its options as keywords (``engine.find(Book, hint=Book.title,
comment="report")``), typed by one of the ``TypedDict`` below, so a type checker refuses
an option the operation cannot take; at run time such an option is a ``TypeError``
naming the operation and the option.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from pymongo.collation import Collation
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from anyodm.errors import InvalidOperationError
from anyodm.model.concerns import (
    Concerns,
    ReadPreferenceMode,
    check_concerns,
    unacknowledged_refused,
)
from anyodm.model.index import Index
from anyodm.model.query import FieldProxy, SortExpression, bson_value

if TYPE_CHECKING:
    from pymongo.client_session import ClientSession
    from pymongo.collection import Collection

    from anyodm.core.gateway import DatabaseGateway
    from anyodm.model import Model

__all__ = [
    "NO_OPTIONS",
    "CallOptions",
    "Concerns",
    "CountOptions",
    "DistinctOptions",
    "FindOneOptions",
    "FindOptions",
    "ReadPreferenceMode",
    "SaveOptions",
    "WriteOptions",
    "call_options",
    "check_concerns",
    "refuse_in_transaction",
    "writable_collection",
]


class _Common(TypedDict, total=False):
    #: any BSON value, shown in the server's logs, profiler and ``currentOp``
    comment: Any


class SaveOptions(_Common, total=False):
    """What ``save``, ``save_all`` and ``delete`` accept."""

    write_concern: WriteConcern


class WriteOptions(SaveOptions, total=False):
    """What ``remove``, ``update_one``, ``update_many``, ``find_one_and_update`` and
    ``find_one_and_delete`` accept."""

    #: an index name, a field (``Book.title``, ``Book.pages.desc()``), an ``Index`` or a
    #: list of ``(field, direction)`` pairs
    hint: Any
    collation: Collation | Mapping[str, Any]
    #: variables for ``$$name`` in ``$expr``; values are data (never read as expressions)
    let: Mapping[str, Any]


class _Reads(_Common, total=False):
    collation: Collation | Mapping[str, Any]
    read_concern: ReadConcern
    read_preference: ReadPreferenceMode


class DistinctOptions(_Reads, total=False):
    """What ``distinct`` accepts."""


class CountOptions(_Reads, total=False):
    """What ``count`` accepts."""

    hint: Any


class FindOneOptions(CountOptions, total=False):
    """What ``find_one`` accepts."""

    allow_disk_use: bool
    let: Mapping[str, Any]


class FindOptions(FindOneOptions, total=False):
    """What ``find`` and ``aggregate`` accept."""

    #: documents per server batch (also when reading the whole result at once)
    batch_size: int


def _keys(options: Any) -> frozenset[str]:
    return frozenset(options.__required_keys__ | options.__optional_keys__)


#: the options each operation accepts
ACCEPTED: dict[str, frozenset[str]] = {
    "find": _keys(FindOptions),
    "aggregate": _keys(FindOptions),
    "find_one": _keys(FindOneOptions),
    "count": _keys(CountOptions),
    "distinct": _keys(DistinctOptions),
    "save": _keys(SaveOptions),
    "save_all": _keys(SaveOptions),
    "delete": _keys(SaveOptions),
    **dict.fromkeys(
        ("remove", "update_one", "update_many", "find_one_and_update", "find_one_and_delete"),
        _keys(WriteOptions),
    ),
}


class CallOptions:
    """One call's validated options: the driver's keyword arguments, the batch size
    (0: not given) and the concerns given for the call (None: none)."""

    __slots__ = ("batch_size", "comment", "concerns", "driver", "operation")

    def __init__(
        self,
        operation: str,
        driver: dict[str, Any],
        batch_size: int = 0,
        concerns: Concerns | None = None,
    ) -> None:
        self.operation: str = operation
        #: the PyMongo keyword arguments (find's spelling: ``allow_disk_use``)
        self.driver: dict[str, Any] = driver
        self.batch_size: int = batch_size
        self.concerns: Concerns | None = concerns
        self.comment: dict[str, Any] = {"comment": driver["comment"]} if "comment" in driver else {}

    def aggregate_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``Collection.aggregate`` (its spelling)."""
        given = dict(self.driver)
        if "allow_disk_use" in given:
            given["allowDiskUse"] = given.pop("allow_disk_use")
        return given

    def without(self, *names: str) -> dict[str, Any]:
        """The driver keyword arguments but ``names``."""
        return {key: value for key, value in self.driver.items() if key not in names}


#: no option given
NO_OPTIONS = CallOptions("", {})


def _wrong(where: str, option: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{where}: {option} must be {expected}, not {value!r:.80}")


def call_options(
    model: type[Any] | None, operation: str, options: Mapping[str, Any]
) -> CallOptions:
    """Check ``options`` for ``operation`` on ``model``; raise before anything is sent."""
    if not options:
        return NO_OPTIONS
    accepted = ACCEPTED[operation]
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(
            f"{operation}() got an unexpected option {unknown[0]!r} (it accepts "
            f"{', '.join(sorted(accepted))})"
        )
    where = f"{operation}()" if model is None else f"{operation}() on {model.__name__}"
    driver: dict[str, Any] = {}
    if "comment" in options:
        driver["comment"] = bson_value(options["comment"])
    if options.get("hint") is not None:
        driver["hint"] = _hint(model, options["hint"], where)
    if options.get("collation") is not None:
        driver["collation"] = _collation(options["collation"], where)
    if options.get("allow_disk_use") is not None:
        allow = options["allow_disk_use"]
        if not isinstance(allow, bool):
            raise _wrong(where, "allow_disk_use", "True or False", allow)
        driver["allow_disk_use"] = allow
    if options.get("let") is not None:
        driver["let"] = _let(options["let"], where)
    batch_size = options.get("batch_size")
    if batch_size is not None and (
        not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1
    ):
        raise _wrong(where, "batch_size", "a positive int", batch_size)
    concerns = check_concerns(
        where,
        options.get("read_concern"),
        options.get("write_concern"),
        options.get("read_preference"),
    )
    return CallOptions(operation, driver, batch_size or 0, concerns or None)


def _hint(model: type[Any] | None, hint: Any, where: str) -> str | list[tuple[str, Any]]:
    """An index name as is; fields, an ``Index`` or ``(field, direction)`` pairs as the
    index's keys (checked against ``model``)."""
    if isinstance(hint, str):
        return hint
    assert model is not None  # the operations taking a hint have a model
    if isinstance(hint, Index):
        return hint.key_list(model)
    if isinstance(hint, (FieldProxy, SortExpression)):
        return Index(hint).key_list(model)
    if isinstance(hint, Mapping):
        return Index(dict(hint)).key_list(model)
    if isinstance(hint, Sequence) and hint:
        return Index(*(_pair(model, key) for key in hint)).key_list(model)
    raise _wrong(
        where,
        "hint",
        "an index name, a field, an Index or a list of (field, direction) pairs",
        hint,
    )


def _pair(model: type[Any], key: Any) -> Any:
    """``(Book.title, -1)`` as ``("title", -1)`` (the field checked against ``model``)."""
    if isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], FieldProxy):
        return (Index(key[0]).key_list(model)[0][0], key[1])
    return key


def _collation(collation: Any, where: str) -> Collation | dict[str, Any]:
    if isinstance(collation, Collation):
        return collation
    if isinstance(collation, Mapping) and isinstance(collation.get("locale"), str):
        return dict(collation)
    raise _wrong(where, "collation", "a pymongo Collation or a dict with a 'locale'", collation)


def _let(let: Any, where: str) -> dict[str, Any]:
    """Each variable's value encoded as query values are, and kept data: user data that
    looks like an expression (``"$field"``, ``{"$add": ...}``) is sent as a ``$literal``."""
    if not isinstance(let, Mapping):
        raise _wrong(where, "let", "a dict of variable names to values", let)
    encoded: dict[str, Any] = {}
    for name, value in let.items():
        if not isinstance(name, str) or not name[:1].isalpha() or not name[:1].islower():
            raise _wrong(
                where, "let", "a dict whose keys are variable names (starting lowercase)", name
            )
        encoded[name] = _as_data(bson_value(value))
    return encoded


def _as_data(value: Any) -> Any:
    """A value that an expression could misread (a string starting with ``$``, a
    document, an array) wrapped in ``$literal``; other scalars need no wrapping."""
    if isinstance(value, (dict, list)) or (isinstance(value, str) and value.startswith("$")):
        return {"$literal": value}
    return value


def refuse_in_transaction(options: CallOptions, session: ClientSession | None) -> None:
    """A transaction keeps its own read concern, write concern and read preference:
    giving one to an operation inside it is refused (before anything is sent)."""
    if options.concerns is not None and session is not None and session.in_transaction:
        given = ", ".join(sorted(options.concerns.given()))
        raise InvalidOperationError(
            f"{options.operation}(): {given} cannot be given to an operation inside a "
            "transaction: the transaction's own apply to all of its operations (give "
            "them to the transaction: engine.transaction(read_concern=..., "
            "write_concern=..., read_preference=...))"
        )


def writable_collection(
    gateway: DatabaseGateway,
    model: type[Model],
    options: CallOptions,
    session: ClientSession | None,
) -> Collection[Any]:
    """``model``'s collection for a write of ``options.operation``, with the call's
    concerns (refused inside a transaction); an unacknowledged write concern however
    it came (engine, client) is refused before anything is sent."""
    concerns = options.concerns
    if concerns is not None:
        refuse_in_transaction(options, session)
    collection = gateway.collection(model, concerns)
    if not collection.write_concern.acknowledged and not (
        session is not None and session.in_transaction
    ):
        operation = f"{options.operation}()" if options.operation else "a write"
        raise unacknowledged_refused(f"{operation} on {model.__name__}")
    return collection
