"""The engine's handle on its database, with a per-model collection cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson.codec_options import CodecOptions
from pymongo.collection import Collection
from pymongo.database import Database

from anyodm.core.batches import raw_codec_options

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = ["DatabaseGateway"]


class DatabaseGateway:
    """One PyMongo ``Database`` and the collections of the models used with it."""

    __slots__ = ("_collections", "_raw_collections", "database")

    def __init__(self, database: Database[Any]) -> None:
        self.database: Database[Any] = database
        self._collections: dict[type[Model], Collection[Any]] = {}
        self._raw_collections: dict[type[Model], Collection[Any]] = {}

    def collection(self, model: type[Model]) -> Collection[Any]:
        """The collection that stores ``model``'s documents (cached per model)."""
        try:
            return self._collections[model]
        except KeyError:
            coll = self.database.get_collection(model.__anyodm__.collection)
            self._collections[model] = coll
            return coll

    def raw_collection(self, model: type[Model]) -> Collection[Any]:
        """``model``'s collection returning undecoded documents (``RawBSONDocument``),
        for reads decoded in slices (see :mod:`anyodm.core.batches`); cached per model."""
        try:
            return self._raw_collections[model]
        except KeyError:
            coll = self.collection(model)
            raw = coll.with_options(codec_options=raw_codec_options(coll.codec_options))
            self._raw_collections[model] = raw
            return raw

    def codec_options(self, model: type[Model]) -> CodecOptions[Any]:
        """How ``model``'s documents are decoded (the database's codec options)."""
        return self.collection(model).codec_options
