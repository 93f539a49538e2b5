"""``Index`` declarations and the ``pymongo.IndexModel`` list of a model.

In a polymorphic family the base model's indexes cover the whole collection; a
subclass's own indexes (those it declares, not those it inherits) cover only its
documents and its subclasses': each gets a ``partialFilterExpression`` on ``_t``, so
siblings may share a value that one of them declares unique.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, get_args

from pymongo import IndexModel

from anyodm.model.fields import odm_options
from anyodm.model.query import FieldProxy, SortExpression

__all__ = ["Index", "IndexKind", "model_indexes"]

#: The kinds of index ``Index(kind=...)`` makes of its keys.
IndexKind = Literal["text", "hashed", "2dsphere"]
_KINDS: tuple[str, ...] = get_args(IndexKind)

#: What ``Index()`` takes at run time. Its parameters are typed ``Any``: to a type
#: checker ``Book.pages`` is the field's value type (``int``), not a field proxy.
KeySpec = FieldProxy | SortExpression | str | tuple[str, Any]


class Index:
    """An index for ``model_config["indexes"]``: single, compound, unique, named.

    ``Index(Book.title)``, ``Index(Book.author, Book.pages.desc(), unique=True,
    name="author_pages")``; keys may also be stored key names or ``(key, direction)``
    pairs. ``kind="text"`` makes a text index of the keys (``weights=`` may name them
    by field: ``weights={Book.title: 10}``), ``kind="hashed"`` / ``"2dsphere"`` the
    others. Extra keywords (``sparse=``, ``partialFilterExpression=``,
    ``default_language=``, ...) go to ``pymongo.IndexModel``.
    """

    def __init__(
        self,
        *keys: Any,
        unique: bool = False,
        name: str | None = None,
        index_name: str | None = None,
        kind: IndexKind | None = None,
        **options: Any,
    ) -> None:
        if not keys:
            raise TypeError("Index() needs at least one key")
        if kind is not None and kind not in _KINDS:
            raise TypeError(
                f"Index(kind=...) is one of {', '.join(map(repr, _KINDS))}, not {kind!r:.80}"
            )
        self.keys = keys
        self.unique = unique
        self.name: str | None = name or index_name
        #: every key's type instead of a direction: ``"text"`` (a text index, what
        #: ``query.text`` searches), ``"hashed"``, ``"2dsphere"``
        self.kind: IndexKind | None = kind
        self.options = options

    def __repr__(self) -> str:
        return f"Index({', '.join(map(repr, self.keys))}, unique={self.unique}, name={self.name!r})"

    def key_list(self, model: type[Any]) -> list[tuple[str, Any]]:
        """The keys as ``(stored path, direction)`` pairs, checked against ``model``."""
        pairs: list[tuple[str, Any]] = []
        for key in self.keys:
            if isinstance(key, FieldProxy):
                key._check_stored("an index")
                pairs.extend(_checked(model, key.asc()).items())
            elif isinstance(key, Mapping):
                pairs.extend(_checked(model, key).items())
            elif isinstance(key, str):
                pairs.append((key, 1))
            elif isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str):
                pairs.append((key[0], key[1]))
            else:
                raise TypeError(f"{model.__name__}: invalid index key {key!r}")
        return pairs

    def to_index_model(self, model: type[Any]) -> IndexModel:
        options = dict(self.options)
        keys = self.key_list(model)
        if self.kind is not None:
            keys = [(key, self.kind) for key, _ in keys]
        if isinstance(options.get("weights"), Mapping):
            options["weights"] = _weights(model, options["weights"])
        if self.unique:
            options["unique"] = True
        if self.name:
            options["name"] = self.name
        return IndexModel(keys, **options)


def _weights(model: type[Any], weights: Mapping[Any, Any]) -> dict[str, Any]:
    """A text index's ``weights=``: fields (``Book.title``) or stored key names -> weight."""
    stored: dict[str, Any] = {}
    for key, weight in weights.items():
        if isinstance(key, FieldProxy):
            key._check_stored("an index")
            _checked(model, key.asc())
            stored[key._path] = weight
        elif isinstance(key, str):
            stored[key] = weight
        else:
            raise TypeError(f"{model.__name__}: invalid text index weight key {key!r}")
    return stored


def _checked(model: type[Any], keys: Mapping[str, Any]) -> Mapping[str, Any]:
    for other in getattr(keys, "models", ()):
        if not issubclass(model, other):
            raise TypeError(f"an index of {model.__name__} uses a field of {other.__name__}")
    return keys


def _spec_items(model: type[Any], spec: Any) -> Iterable[Any]:
    if spec is None:
        return []
    if callable(spec) and not isinstance(spec, (Index, IndexModel)):
        spec = spec()
    if isinstance(spec, (Index, IndexModel, str)):
        return [spec]
    if not isinstance(spec, Iterable):
        raise TypeError(f"{model.__name__}: model_config['indexes'] must be a list or a callable")
    return list(spec)


def model_indexes(model: type[Any], spec: Any | Callable[[], Any]) -> list[IndexModel]:
    """``Field(index=/unique=)`` indexes, then those of ``model_config["indexes"]``; for
    a polymorphic subclass only its own, limited to its documents."""
    info = model.__anyodm__
    fields = _field_indexes(model)
    declared = [_index_model(model, item) for item in _spec_items(model, spec)]
    family = getattr(info, "family", None)
    if family is None or family.root is model:
        return [*fields, *declared]
    parent = next(
        base for base in model.__mro__[1:] if getattr(base, "__anyodm__", None) is not None
    )
    inherited = [index.document for index in _field_indexes(parent)]
    own = [index for index in fields if index.document not in inherited]
    return [_limited_to_class(model, index) for index in [*own, *declared]]


def _field_indexes(model: type[Any]) -> list[IndexModel]:
    info = model.__anyodm__
    result: list[IndexModel] = []
    for name, field in model.__pydantic_fields__.items():
        opts = odm_options(field)
        if opts is not None and (opts.index or opts.unique) and name != info.primary_field:
            kwargs = {"unique": True} if opts.unique else {}
            result.append(IndexModel([(info.key_names[name], 1)], **kwargs))
    return result


def _index_model(model: type[Any], item: Any) -> IndexModel:
    if isinstance(item, IndexModel):
        return item
    if isinstance(item, Index):
        return item.to_index_model(model)
    return Index(item).to_index_model(model)


def _default_name(keys: list[tuple[str, Any]]) -> str:
    """The name the server (and PyMongo) give an index that was not named."""
    return "_".join(f"{key}_{direction}" for key, direction in keys)


def _limited_to_class(model: type[Any], index: IndexModel) -> IndexModel:
    """``index`` covering only the documents of ``model`` (a polymorphic subclass) and
    of its subclasses: a partial filter on the discriminator (added to the index's own
    partial filter, if any), and, unless it was named, the discriminator in its name."""
    info = model.__anyodm__
    family = info.family
    options = dict(index.document)
    keys = list(options.pop("key").items())
    name = options.pop("name")
    values = family.values_of(model)
    conditions = [{family.key: values[0] if len(values) == 1 else {"$in": values}}]
    own = dict(options.pop("partialFilterExpression", None) or {})
    if options.pop("sparse", False):  # the server refuses sparse with a partial filter
        if len(keys) != 1:
            raise TypeError(
                f"{model.__name__}: the index {name!r} of a polymorphic subclass covers only "
                "its documents (a partial filter), which cannot be combined with "
                "sparse=True on several keys: give it a partialFilterExpression instead"
            )
        own.setdefault(keys[0][0], {"$exists": True})
    if own:
        conditions.append(own)
    if name == _default_name(keys):
        name = f"{name}_{info.discriminator}"
    return IndexModel(keys, name=name, partialFilterExpression=_all_of(conditions), **options)


def _all_of(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    """One partial filter meeting every condition: merged into one document where their
    keys differ, else one top-level ``$and`` of them (partial filters allow ``$and``
    only at the top level, so a condition's own ``$and`` is flattened into it)."""
    merged: dict[str, Any] = {}
    for condition in conditions:
        if "$and" in condition or merged.keys() & condition.keys():
            return {"$and": [part for c in conditions for part in _and_parts(c)]}
        merged.update(condition)
    return merged


def _and_parts(condition: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for key, value in condition.items():
        if key == "$and":
            parts.extend(dict(part) for part in value)
        else:
            parts.append({key: value})
    return parts
