"""``Index`` declarations and the ``pymongo.IndexModel`` list of a model."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo import IndexModel

from anyodm.model.fields import odm_options
from anyodm.model.query import FieldProxy, SortExpression

__all__ = ["Index", "model_indexes"]

KeySpec = FieldProxy | SortExpression | str | tuple[str, Any]


class Index:
    """An index for ``model_config["indexes"]``: single, compound, unique, named.

    ``Index(Book.title)``, ``Index(Book.author, Book.pages.desc(), unique=True,
    name="author_pages")``; keys may also be stored key names or ``(key, direction)``
    pairs. Extra keywords (``sparse=``, ``partialFilterExpression=``, ...) go to
    ``pymongo.IndexModel``.
    """

    def __init__(
        self,
        *keys: KeySpec,
        unique: bool = False,
        name: str | None = None,
        index_name: str | None = None,
        **options: Any,
    ) -> None:
        if not keys:
            raise TypeError("Index() needs at least one key")
        self.keys = keys
        self.unique = unique
        self.name = name or index_name
        self.options = options

    def __repr__(self) -> str:
        return f"Index({', '.join(map(repr, self.keys))}, unique={self.unique}, name={self.name!r})"

    def key_list(self, model: type[Any]) -> list[tuple[str, Any]]:
        """The keys as ``(stored path, direction)`` pairs, checked against ``model``."""
        pairs: list[tuple[str, Any]] = []
        for key in self.keys:
            if isinstance(key, FieldProxy):
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
        if self.unique:
            options["unique"] = True
        if self.name:
            options["name"] = self.name
        return IndexModel(self.key_list(model), **options)


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
    """``Field(index=/unique=)`` indexes, then those of ``model_config["indexes"]``."""
    info = model.__anyodm__
    result: list[IndexModel] = []
    for name, field in model.__pydantic_fields__.items():
        opts = odm_options(field)
        if opts is not None and (opts.index or opts.unique) and name != info.primary_field:
            kwargs = {"unique": True} if opts.unique else {}
            result.append(IndexModel([(info.key_names[name], 1)], **kwargs))
    for item in _spec_items(model, spec):
        if isinstance(item, IndexModel):
            result.append(item)
        elif isinstance(item, Index):
            result.append(item.to_index_model(model))
        else:
            result.append(Index(item).to_index_model(model))
    return result
