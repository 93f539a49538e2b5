"""The engine's handle on its database, with a per-model collection cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson.codec_options import CodecOptions
from pymongo.collection import Collection
from pymongo.database import Database

from anyodm.core.batches import raw_codec_options

if TYPE_CHECKING:
    from anyodm.core.options import Concerns
    from anyodm.model import Model

__all__ = ["DatabaseGateway"]


class DatabaseGateway:
    """One PyMongo ``Database`` and the collections of the models used with it.

    A model's collection has the model's read concern, write concern and read
    preference (``model_config``), over the database's (the engine's, over the
    client's); an operation's own (``concerns=``) override those, on a copy cached per
    combination.
    """

    __slots__ = ("_collections", "_raw_collections", "_with_concerns", "database")

    def __init__(self, database: Database[Any]) -> None:
        self.database: Database[Any] = database
        self._collections: dict[type[Model], Collection[Any]] = {}
        self._raw_collections: dict[type[Model], Collection[Any]] = {}
        self._with_concerns: dict[tuple[Any, ...], Collection[Any]] = {}

    def collection(self, model: type[Model], concerns: Concerns | None = None) -> Collection[Any]:
        """The collection that stores ``model``'s documents (cached per model)."""
        try:
            coll = self._collections[model]
        except KeyError:
            coll = self.database.get_collection(model.__anyodm__.collection)
            model_concerns = model.__anyodm__.concerns
            if model_concerns is not None:
                coll = coll.with_options(**model_concerns.given())
            self._collections[model] = coll
        if concerns is None:
            return coll
        return self._overridden(coll, model, False, concerns)

    def raw_collection(
        self, model: type[Model], concerns: Concerns | None = None
    ) -> Collection[Any]:
        """``model``'s collection returning undecoded documents (``RawBSONDocument``),
        for reads decoded in slices (see :mod:`anyodm.core.batches`); cached per model."""
        try:
            raw = self._raw_collections[model]
        except KeyError:
            coll = self.collection(model)
            raw = coll.with_options(codec_options=raw_codec_options(coll.codec_options))
            self._raw_collections[model] = raw
        if concerns is None:
            return raw
        return self._overridden(raw, model, True, concerns)

    def _overridden(
        self, coll: Collection[Any], model: type[Model], raw: bool, concerns: Concerns
    ) -> Collection[Any]:
        key = (model, raw, concerns.key)
        try:
            return self._with_concerns[key]
        except KeyError:
            if len(self._with_concerns) >= _MAX_COMBINATIONS:
                self._with_concerns.clear()
            copy = coll.with_options(**concerns.given())
            self._with_concerns[key] = copy
            return copy

    def codec_options(self, model: type[Model]) -> CodecOptions[Any]:
        """How ``model``'s documents are decoded (the database's codec options)."""
        return self.collection(model).codec_options


#: collections with per-call concerns kept at most (a program uses a handful)
_MAX_COMBINATIONS = 256
