"""Field expressions and the filter/sort builders used by the engines.

``Book.pages > 100`` builds ``{"pages": {"$gt": 100}}``; equality is always sent as
``{"field": {"$eq": value}}`` so that a user-supplied dict is never read as an operator.
Values are encoded through the field's type as ``save`` stores them (``QueryCodec``).
"""

from __future__ import annotations

import collections.abc as abc
import decimal
import difflib
import enum
import re
import types
import typing
import uuid
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, Union, get_args, get_origin, overload

import bson
import bson.binary
import bson.decimal128
import bson.regex
from pydantic import BaseModel

from anyodm.errors import InvalidFieldError
from anyodm.model.bson_types import regex_flags

if TYPE_CHECKING:
    from anyodm.model.field_codec import QueryCodec

__all__ = [
    "FieldProxy",
    "QueryExpression",
    "QueryLike",
    "SortExpression",
    "all_",
    "and_",
    "asc",
    "build_filter",
    "build_sort",
    "contains",
    "desc",
    "elem_match",
    "embedded",
    "eq",
    "exists",
    "gt",
    "gte",
    "in_",
    "lt",
    "lte",
    "match",
    "ne",
    "nor_",
    "not_in",
    "or_",
    "size",
]


#: What the combinators take: a query (a field expression or a raw dict). ``bool`` is
#: there for type checkers only: to them ``Book.pages > 100`` is a ``bool`` (the field
#: is an ``int``); at run time it is a :class:`QueryExpression`, and a real ``bool`` is
#: refused with a ``TypeError``.
QueryLike: TypeAlias = Mapping[str, Any] | bool


class QueryExpression(dict[str, Any]):
    """A MongoDB filter built from field expressions; combine with ``&`` and ``|``."""

    __slots__ = ("models",)
    models: frozenset[type[Any]]

    def __init__(
        self, query: Mapping[str, Any] | None = None, models: Iterable[type[Any]] = ()
    ) -> None:
        """``QueryExpression()`` is the empty query (it matches every document)."""
        super().__init__(query or {})
        self.models = frozenset(models)

    def __and__(self, other: Mapping[str, Any]) -> QueryExpression:
        return and_(self, other)

    def __rand__(self, other: Mapping[str, Any]) -> QueryExpression:
        return and_(other, self)

    def __or__(self, other: Mapping[str, Any]) -> QueryExpression:  # type: ignore[override]
        return or_(self, other)

    def __ror__(self, other: Mapping[str, Any]) -> QueryExpression:  # type: ignore[override]
        return or_(other, self)

    def __repr__(self) -> str:
        return f"QueryExpression({dict.__repr__(self)})"


class SortExpression(dict[str, int]):
    """A sort key with its direction, e.g. ``{"pages": -1}``; tuples of them sort by several."""

    __slots__ = ("models",)
    models: frozenset[type[Any]]

    def __init__(
        self, keys: Mapping[str, int] | None = None, models: Iterable[type[Any]] = ()
    ) -> None:
        """``SortExpression()`` is the empty sort (the server's order)."""
        super().__init__(keys or {})
        self.models = frozenset(models)

    def __repr__(self) -> str:
        return f"SortExpression({dict.__repr__(self)})"


# ------------------------------------------------------------------ field types


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation: Annotated and Optional/unions flattened."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [
            alt for arg in get_args(annotation) if arg is not type(None) for alt in _unwrap(arg)
        ]
    return [annotation]


_ARRAYS = (list, tuple, set, frozenset, abc.Sequence, abc.Set)


def _is_array(tp: Any) -> bool:
    origin = get_origin(tp) or tp
    return (
        isinstance(origin, type)
        and issubclass(origin, _ARRAYS)
        and not issubclass(origin, (str, bytes, bytearray))
    )


def _elements(tp: Any) -> list[Any]:
    args = [a for a in get_args(tp) if a is not Ellipsis]
    return [alt for arg in args for alt in _unwrap(arg)] or [Any]


def _is_any(tp: Any) -> bool:
    return tp is Any or tp is object or isinstance(tp, (typing.TypeVar, str, typing.ForwardRef))


def _is_stringy(tp: Any) -> bool:
    if _is_any(tp):
        return True
    if get_origin(tp) is typing.Literal:
        return all(isinstance(v, str) for v in get_args(tp))
    return isinstance(tp, type) and issubclass(tp, (str, bson.regex.Regex))


def _embedded_model(tp: Any) -> type[BaseModel] | None:
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


# ------------------------------------------------------------------ values


_PASS_THROUGH = (str, int, float, bool, type(None), bson.ObjectId)


def bson_value(value: Any) -> Any:
    """A query value in the form it is stored (Decimal128, reference ids, embedded docs)."""
    if isinstance(value, _PASS_THROUGH):
        return value
    if isinstance(value, BaseModel):
        info = getattr(type(value), "__anyodm__", None)
        if info is not None and getattr(info, "primary_field", None):
            return getattr(value, "__anyodm_stored_pk__")  # noqa: B009 - a Model's
        dump = getattr(value, "model_dump_doc", None)
        return dump() if dump is not None else value.model_dump()
    if isinstance(value, decimal.Decimal):
        return bson.decimal128.Decimal128(value)
    if isinstance(value, enum.Enum):
        return bson_value(value.value)
    if isinstance(value, uuid.UUID):
        return bson.binary.Binary.from_uuid(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [bson_value(item) for item in value]
    if isinstance(value, Mapping) and not isinstance(value, bson.SON):
        return {key: bson_value(item) for key, item in value.items()}
    return value


# ------------------------------------------------------------------ field proxies


class FieldProxy:
    """``Book.title``: a field of a model, used to build queries, sorts and indexes."""

    __slots__ = (
        "_annotation",
        "_codec",
        "_kind",
        "_model",
        "_models",
        "_name",
        "_path",
        "_target",
    )

    def __init__(
        self,
        model: type[Any],
        path: str,
        name: str,
        annotation: Any,
        kind: str = "",
        target: type[Any] | None = None,
    ) -> None:
        self._model = model
        self._models = frozenset((model,))  # what every expression of it is about
        self._path = path
        self._name = name
        self._annotation = annotation
        #: "reference" (stores the target's key), "back-reference" (never stored) or ""
        self._kind = kind
        #: the referenced model of a reference field
        self._target = target
        self._codec: QueryCodec | None = None  # built on first use

    @classmethod
    def for_field(cls, model: type[Any], name: str) -> FieldProxy:
        """The proxy of a top-level field of ``model``."""
        info = model.__anyodm__
        kind, target = _field_kind(info, name)
        annotation = model.__pydantic_fields__[name].annotation
        return cls(model, info.key_names[name], name, annotation, kind, target)

    def __repr__(self) -> str:
        return f"FieldProxy({self._model.__name__}.{self._name} -> {self._path!r})"

    def __str__(self) -> str:
        return self._path

    def __hash__(self) -> int:
        return hash((self._model, self._path))

    def __getattr__(self, name: str) -> FieldProxy:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._kind == "back-reference":
            raise AttributeError(
                f"{self._where} is a back-reference: queries cannot go through it to "
                f"{name!r} (it is read-only and never stored)"
            )
        if self._kind == "reference":
            what = self._target.__name__ if self._target is not None else "another model"
            raise AttributeError(
                f"{self._where} is a reference to {what}: queries cannot go through a "
                f"reference to {name!r} (only its key is stored in {self._model.__name__} "
                f"documents; find the {what} documents first and query by their keys)"
            )
        subs = self._embedded_models()
        for sub in subs:
            if name in sub.model_fields:
                sub_info = getattr(sub, "__anyodm__", None)
                key = sub_info.key_names[name] if sub_info is not None else name
                annotation = sub.model_fields[name].annotation
                kind, target = _field_kind(sub_info, name)
                return FieldProxy(
                    self._model,
                    f"{self._path}.{key}",
                    f"{self._name}.{name}",
                    annotation,
                    kind,
                    target,
                )
        known = [field for sub in subs for field in sub.model_fields]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise AttributeError(f"{self._where} has no sub-field {name!r}{hint}", name=name, obj=self)

    def _check_stored(self, what: str) -> None:
        """Refuse a back-reference (never stored) in a query, sort or index."""
        if self._kind == "back-reference":
            raise _back_reference_error(self._model, self._where, what)

    @property
    def _where(self) -> str:
        return f"{self._model.__name__}.{self._name}"

    def _alternatives(self) -> list[Any]:
        return _unwrap(self._annotation)

    def _embedded_models(self) -> list[type[BaseModel]]:
        """The embedded models the field holds: itself, optional, or as array elements."""
        return [
            sub
            for alt in self._alternatives()
            for candidate in [alt, *(_elements(alt) if _is_array(alt) else [])]
            if (sub := _embedded_model(candidate)) is not None
        ]

    def _expr(self, op: str, value: Any) -> QueryExpression:
        self._check_stored("a query")
        return QueryExpression({self._path: {op: value}}, self._models)

    def _query_codec(self) -> QueryCodec:
        """The field's ``QueryCodec`` (cached per field)."""
        codec = self._codec
        if codec is None:
            from anyodm.model.field_codec import query_codec

            model: Any = self._model  # (a class: hashable, which mypy cannot tell)
            target: Any = self._target if self._kind == "reference" else None
            codec = self._codec = query_codec(model, self._name, target)
        return codec

    def _value(self, value: Any) -> Any:
        """A compared value as the field stores it; a string for an ObjectId field must
        be one."""
        self._check_stored("a query")
        if isinstance(value, str) and self._is_object_id_field():
            if not bson.ObjectId.is_valid(value):
                raise ValueError(
                    f"{self._where} is an ObjectId field: {value!r} is not a valid ObjectId "
                    "(24 hex digits); such a query could never match"
                )
            return bson.ObjectId(value)
        return self._query_codec().value(value)

    def _is_object_id_field(self) -> bool:
        alternatives = [alt for alt in self._alternatives() if alt is not type(None)]
        return bool(alternatives) and all(
            isinstance(alt, type) and issubclass(alt, bson.ObjectId) for alt in alternatives
        )

    # comparisons
    def __eq__(self, value: Any) -> QueryExpression:  # type: ignore[override]
        return self._expr("$eq", self._value(value))

    def __ne__(self, value: Any) -> QueryExpression:  # type: ignore[override]
        return self._expr("$ne", self._value(value))

    def __gt__(self, value: Any) -> QueryExpression:
        self._not_a_reference(">")
        return self._expr("$gt", self._value(value))

    def __ge__(self, value: Any) -> QueryExpression:
        self._not_a_reference(">=")
        return self._expr("$gte", self._value(value))

    def __lt__(self, value: Any) -> QueryExpression:
        self._not_a_reference("<")
        return self._expr("$lt", self._value(value))

    def __le__(self, value: Any) -> QueryExpression:
        self._not_a_reference("<=")
        return self._expr("$lte", self._value(value))

    def _not_a_reference(self, op: str) -> None:
        """Refuse an order comparison or a regex on a reference (its key has no order
        a query could mean)."""
        if self._kind == "reference":
            what = self._target.__name__ if self._target is not None else "another model"
            raise TypeError(
                f"{self._where} is a reference to {what}: {op} is not supported on a "
                "reference (compare it with == / != / in_(), or query the referenced "
                "documents first)"
            )

    def eq(self, value: Any) -> QueryExpression:
        return self._expr("$eq", self._value(value))

    def ne(self, value: Any) -> QueryExpression:
        return self._expr("$ne", self._value(value))

    def gt(self, value: Any) -> QueryExpression:
        self._not_a_reference(">")
        return self._expr("$gt", self._value(value))

    def gte(self, value: Any) -> QueryExpression:
        self._not_a_reference(">=")
        return self._expr("$gte", self._value(value))

    def lt(self, value: Any) -> QueryExpression:
        self._not_a_reference("<")
        return self._expr("$lt", self._value(value))

    def lte(self, value: Any) -> QueryExpression:
        self._not_a_reference("<=")
        return self._expr("$lte", self._value(value))

    def in_(self, values: Iterable[Any]) -> QueryExpression:
        """The field equals one of ``values`` (for an array field: contains one)."""
        return self._expr("$in", [self._value(v) for v in self._listed("in_", values)])

    def not_in(self, values: Iterable[Any]) -> QueryExpression:
        """The field equals none of ``values`` (for an array field: contains none)."""
        return self._expr("$nin", [self._value(v) for v in self._listed("not_in", values)])

    def _listed(self, op: str, values: Any) -> list[Any]:
        """``values`` (any iterable, a generator too) read once into a list; a string,
        bytes, a dict or a model is refused with a ``TypeError`` naming the operation."""
        self._check_stored("a query")
        if isinstance(values, (str, bytes, bytearray, Mapping, BaseModel)) or not isinstance(
            values, Iterable
        ):
            hint = " (a string is not a list of its characters)" if isinstance(values, str) else ""
            raise TypeError(
                f"{self._where}.{op}() expects a list of values, not {type(values).__name__}{hint}"
            )
        return list(values)

    def exists(self, present: bool = True) -> QueryExpression:
        return self._expr("$exists", bool(present))

    def match(self, pattern: str | re.Pattern[str] | bson.regex.Regex[Any]) -> QueryExpression:
        """A regular expression match; only for string fields (or arrays of strings)."""
        self._check_stored("a query")
        self._not_a_reference("match()")
        alts = self._alternatives()
        if not any(
            _is_stringy(alt) or (_is_array(alt) and any(map(_is_stringy, _elements(alt))))
            for alt in alts
        ):
            raise TypeError(
                f"{self._where}: match() needs a string field, not {self._annotation!r}"
            )
        if isinstance(pattern, re.Pattern):
            spec: dict[str, Any] = {"$regex": pattern.pattern}
            options = regex_flags(pattern.flags)
        elif isinstance(pattern, bson.regex.Regex):
            spec = {"$regex": str(pattern.pattern)}
            options = regex_flags(pattern.flags) if isinstance(pattern.flags, int) else ""
        elif isinstance(pattern, str):
            spec = {"$regex": pattern}
            options = ""
        else:
            raise TypeError(
                f"{self._where}: match() expects a pattern, not {type(pattern).__name__}"
            )
        if options:
            spec["$options"] = options
        return QueryExpression({self._path: spec}, self._models)

    # array operators
    def _array_only(self, op: str) -> None:
        self._check_stored("a query")
        if not any(_is_array(alt) or _is_any(alt) for alt in self._alternatives()):
            raise TypeError(f"{self._where}: {op}() needs an array field, not {self._annotation!r}")

    def all(self, values: Iterable[Any]) -> QueryExpression:
        """The array field contains every one of ``values``."""
        self._array_only("all")
        element = self._element_value
        return self._expr("$all", [element(v) for v in self._listed("all", values)])

    def contains(self, value: Any) -> QueryExpression:
        """The array field has an element equal to ``value`` (a referenced instance of a
        list of references matches by its primary key)."""
        self._array_only("contains")
        return self._expr("$elemMatch", {"$eq": self._element_value(value)})

    def _element_value(self, value: Any) -> Any:
        """A value compared with the elements of the array field, as they are stored."""
        if isinstance(value, str):
            items = [i for alt in self._alternatives() if _is_array(alt) for i in _elements(alt)]
            if items and all(isinstance(i, type) and issubclass(i, bson.ObjectId) for i in items):
                if not bson.ObjectId.is_valid(value):
                    raise ValueError(f"{self._where}: {value!r} is not a valid ObjectId")
                return bson.ObjectId(value)
        return self._query_codec().element(value)

    def _element_condition(self, condition: Mapping[str, Any]) -> dict[str, Any]:
        """An operator dict on the elements (``{"$gt": 3}``), its values as stored."""
        return self._query_codec().condition(condition)

    def size(self, length: int) -> QueryExpression:
        """The array field has exactly ``length`` elements."""
        self._array_only("size")
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise TypeError(f"{self._where}: size() expects a non-negative int, not {length!r}")
        return self._expr("$size", length)

    def elem_match(self, *queries: QueryLike) -> QueryExpression:
        """An element of the array field matches all ``queries``.

        For arrays of embedded models use that model's fields
        (``Person.addresses.elem_match(Address.city == "Paris")``); for arrays of
        scalars pass an operator dict (``Book.scores.elem_match({"$gt": 3})``).
        """
        self._array_only("elem_match")
        if not queries:
            raise TypeError(f"{self._where}: elem_match() needs at least one query")
        allowed = {e for alt in self._alternatives() if _is_array(alt) for e in _elements(alt)}
        conditions: list[Mapping[str, Any]] = []
        for q in queries:
            if not isinstance(q, Mapping):
                raise TypeError(
                    f"{self._where}: elem_match() expects queries (field expressions or "
                    f"dicts), not {q!r}"
                )
            conditions.append(q)
            foreign = [
                m for m in getattr(q, "models", ()) if not any(_is_base(m, a) for a in allowed)
            ]
            if foreign:
                raise TypeError(
                    f"{self._where}: elem_match() got a query on {foreign[0].__name__}, "
                    "which is not the element type of this array"
                )
        if _text_searches(conditions):
            raise TypeError(
                f"{self._where}: elem_match() cannot hold a text search (query.text): "
                "MongoDB refuses $text inside $elemMatch"
            )
        parts = [self._element_condition(q) if _is_operators(q) else dict(q) for q in conditions]
        cond = parts[0] if len(parts) == 1 else {"$and": parts}
        return self._expr("$elemMatch", cond)

    # sorting
    def asc(self) -> SortExpression:
        self._check_stored("a sort")
        return SortExpression({self._path: 1}, self._models)

    def desc(self) -> SortExpression:
        self._check_stored("a sort")
        return SortExpression({self._path: -1}, self._models)


def _is_operators(value: Any) -> bool:
    """A raw dict of ``$``-operators on a value (``{"$gt": 3}``), not a query."""
    return (
        isinstance(value, Mapping)
        and not isinstance(value, QueryExpression)
        and bool(value)
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


def _back_reference_error(model: type[Any], where: str, what: str) -> InvalidFieldError:
    return InvalidFieldError(
        model,
        where,
        f"{what} cannot use a back-reference: it is read-only and never stored "
        "(query the documents that reference this one instead)",
    )


def _field_kind(info: Any, name: str) -> tuple[str, type[Any] | None]:
    """Whether field ``name`` of a (embedded) model is a reference (and to what) or a
    back-reference, from its ``__anyodm__`` shape (``None`` for a plain pydantic model)."""
    if info is None:
        return "", None
    if name in getattr(info, "back_reference_names", ()):
        return "back-reference", None
    if name in getattr(info, "reference_names", ()):
        try:
            return "reference", info.references[name]
        except TypeError:  # e.g. a generic embedded model's ``T = Reference()``: its
            return "reference", None  # parametrized classes resolve it; uses report it
    return "", None


def _is_base(model: type[Any], element: Any) -> bool:
    return isinstance(element, type) and issubclass(element, model)


# ------------------------------------------------------------------ module-level helpers


def _proxy(field: Any) -> FieldProxy:
    if not isinstance(field, FieldProxy):
        raise TypeError(f"expected a model field such as Book.title, not {field!r}")
    return field


def eq(field: Any, value: Any) -> QueryExpression:
    return _proxy(field).eq(value)


def ne(field: Any, value: Any) -> QueryExpression:
    return _proxy(field).ne(value)


def gt(field: Any, value: Any) -> QueryExpression:
    return _proxy(field).gt(value)


def gte(field: Any, value: Any) -> QueryExpression:
    return _proxy(field).gte(value)


def lt(field: Any, value: Any) -> QueryExpression:
    return _proxy(field).lt(value)


def lte(field: Any, value: Any) -> QueryExpression:
    return _proxy(field).lte(value)


def in_(field: Any, values: Iterable[Any]) -> QueryExpression:
    return _proxy(field).in_(values)


def not_in(field: Any, values: Iterable[Any]) -> QueryExpression:
    return _proxy(field).not_in(values)


def exists(field: Any, present: bool = True) -> QueryExpression:
    return _proxy(field).exists(present)


def match(field: Any, pattern: str | re.Pattern[str] | bson.regex.Regex[Any]) -> QueryExpression:
    return _proxy(field).match(pattern)


def all_(field: Any, values: Iterable[Any]) -> QueryExpression:
    return _proxy(field).all(values)


def contains(field: Any, value: Any) -> QueryExpression:
    """``field.contains(value)``."""
    return _proxy(field).contains(value)


def size(field: Any, length: int) -> QueryExpression:
    return _proxy(field).size(length)


def elem_match(field: Any, *queries: QueryLike) -> QueryExpression:
    return _proxy(field).elem_match(*queries)


def asc(field: Any) -> SortExpression:
    return _proxy(field).asc()


def desc(field: Any) -> SortExpression:
    return _proxy(field).desc()


_E = TypeVar("_E", bound=BaseModel)


@overload
def embedded(field: Sequence[_E] | AbstractSet[_E] | None) -> _E: ...
@overload
def embedded(field: _E | None) -> _E: ...
def embedded(field: Any) -> Any:
    """The embedded model inside an optional or array field, for paths through it:
    ``query.embedded(Person.address).city == "Paris"`` for ``address: Address | None``,
    ``query.embedded(Person.shelves).zip_code`` for ``shelves: list[Shelf]``.

    At run time it returns the field itself (``Person.address.city`` builds the same
    path); it is there for type checkers, to which ``Person.address`` is an
    ``Address | None`` without a ``city``. ``TypeError`` if the field holds no embedded
    model.
    """
    proxy = _proxy(field)
    if not proxy._embedded_models():
        raise TypeError(
            f"query.embedded() expects a field holding embedded models, and "
            f"{proxy._where} is {proxy._annotation!r}"
        )
    return proxy


def _combine(op: str, queries: tuple[QueryLike, ...]) -> QueryExpression:
    models: set[type[Any]] = set()
    parts: list[dict[str, Any]] = []
    for q in queries:
        if not isinstance(q, Mapping):
            raise TypeError(f"{op} expects queries (field expressions or dicts), not {q!r}")
        models.update(getattr(q, "models", ()))
        if isinstance(q, QueryExpression) and len(q) == 1 and op in q:
            parts.extend(q[op])  # flatten (a & b) & c
        else:
            parts.append(dict(q))
    if _text_searches(parts):
        if op == "$nor":
            raise TypeError(
                "nor_(): MongoDB refuses a text search (query.text) inside $nor; "
                "exclude words in the search itself (query.text('coffee -decaf'))"
            )
        if op == "$and":
            return QueryExpression(all_of(parts), models)
    return QueryExpression({op: parts}, models)


def _text_searches(parts: Iterable[Mapping[str, Any]]) -> int:
    """How many ``$text`` searches the queries hold (at their top level and in their
    logical operators); ``TypeError`` above one (MongoDB allows one per query)."""
    found = sum(_text_count(part) for part in parts)
    if found > 1:
        raise TypeError(
            "a query holds at most one text search (query.text): MongoDB allows one "
            "$text per query; put every word in one search"
        )
    return found


def _text_count(query: Mapping[str, Any]) -> int:
    count = 0
    for key, value in query.items():
        if key == "$text":
            count += 1
        elif key in ("$and", "$or", "$nor") and isinstance(value, (list, tuple)):
            count += sum(_text_count(part) for part in value if isinstance(part, Mapping))
    return count


def all_of(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Queries that must all match, as one filter: ``{"$and": parts}``, except that a
    ``$text`` search is kept at the top level (where every server accepts it), with
    the other conditions beside it."""
    text_at = next((i for i, part in enumerate(parts) if "$text" in part), None)
    if text_at is None:
        return {"$and": parts}
    rest = [dict(part) for part in parts]
    text = rest[text_at].pop("$text")
    rest = [part for part in rest if part]
    if len(rest) == 1:
        return {"$text": text, **rest[0]}
    combined: dict[str, Any] = {"$text": text}
    if rest:
        combined["$and"] = rest
    return combined


def and_(*queries: QueryLike) -> QueryExpression:
    """All of ``queries``."""
    if len(queries) == 1 and isinstance(queries[0], Mapping):
        return QueryExpression(queries[0], getattr(queries[0], "models", ()))
    return _combine("$and", queries)


def or_(*queries: QueryLike) -> QueryExpression:
    """Any of ``queries``."""
    return _combine("$or", queries)


def nor_(*queries: QueryLike) -> QueryExpression:
    """None of ``queries``."""
    return _combine("$nor", queries)


# ------------------------------------------------------------------ used by the engines


def _check_models(model: type[Any], used: Iterable[type[Any]], what: str) -> None:
    for other in used:
        if other is not model and not issubclass(model, other):
            raise TypeError(
                f"{what} uses a field of {other.__name__}, but the operation is on {model.__name__}"
            )


def build_filter(model: type[Any], *queries: Any, with_children: bool = True) -> dict[str, Any]:
    """Combine field expressions and raw dicts with ``$and`` (``{}`` when none).

    A field of another model raises ``TypeError`` before anything is sent. A subclass
    of a polymorphic family gets the filter on its discriminators first; with
    ``with_children=False`` any class of a family gets the filter on its own.
    """
    class_filter_of = getattr(getattr(model, "__anyodm__", None), "class_filter", None)
    family_filter = class_filter_of(with_children) if class_filter_of is not None else None
    if (
        len(queries) == 1 and type(queries[0]) is QueryExpression and family_filter is None
    ):  # the common case, fast
        q = queries[0]
        _check_models(model, q.models, "a query")
        return dict(q)
    parts: list[dict[str, Any]] = []
    for q in queries:
        if q is None:
            raise TypeError(
                f"a query on {model.__name__} was None: pass no query to match every "
                "document (a None is refused so that a missing filter never deletes or "
                "updates everything)"
            )
        if isinstance(q, bool) or not isinstance(q, Mapping):
            raise TypeError(
                f"a query on {model.__name__} must be a field expression or a dict, not {q!r}"
                + (" (was a field of a plain class compared?)" if isinstance(q, bool) else "")
            )
        _check_models(model, getattr(q, "models", ()), "a query")
        if q:
            parts.append(dict(q))
    if family_filter is not None:  # a polymorphic subclass: its own documents only
        parts.insert(0, family_filter)
    if not parts:
        return {}
    if len(parts) == 1:
        return parts[0]
    if _text_searches(parts):
        return all_of(parts)
    return {"$and": parts}


def _sort_items(model: type[Any], item: Any) -> list[tuple[str, Any]]:
    if isinstance(item, FieldProxy):
        _check_models(model, (item._model,), "sort")
        return list(item.asc().items())
    if isinstance(item, Mapping):
        _check_models(model, getattr(item, "models", ()), "sort")
        result = []
        for key, direction in item.items():
            if not isinstance(key, str):
                raise TypeError(f"sort keys must be strings, not {key!r}")
            if direction not in (1, -1) and not (
                isinstance(direction, Mapping) and "$meta" in direction
            ):
                raise ValueError(f"sort direction for {key!r} must be 1 or -1, not {direction!r}")
            _check_sort_key(model, key)
            result.append((key, direction))
        return result
    hint = (
        f" (a name: sort={{{item!r}: 1}} names a stored key explicitly)"
        if isinstance(item, str)
        else ""
    )
    raise TypeError(
        f"cannot sort {model.__name__} by {item!r}: a sort is a field of the model "
        f"({model.__name__}.<field>), query.asc(...)/query.desc(...), a tuple of them, "
        f"or a raw dict of stored keys{hint}"
    )


def _check_sort_key(model: type[Any], key: str) -> None:
    """Refuse a stored key path starting at a back-reference (never stored)."""
    info = getattr(model, "__anyodm__", None)
    names = getattr(info, "back_reference_names", ())
    if info is None or not names:
        return
    first = key.split(".", 1)[0]
    for name in names:
        if info.key_names[name] == first:
            raise _back_reference_error(model, f"{model.__name__}.{name}", "a sort")


def build_sort(model: type[Any], sort: Any) -> list[tuple[str, int]] | None:
    """``None``, a field, ``asc()``/``desc()``, a raw dict, or a tuple/list of them.

    A name (``"pages"``) or a tuple of names is refused with a ``TypeError``, as in
    ODMantic: a sort by a stored key is the explicit raw dict ``{"pages": 1}``.
    """
    if sort is None:
        return None
    if isinstance(sort, (tuple, list)):
        items = [pair for part in sort for pair in _sort_items(model, part)]
    else:
        items = _sort_items(model, sort)
    return items or None
