"""The engine's handle on its database, with a per-model collection cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo.collection import Collection
from pymongo.database import Database

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = ["DatabaseGateway"]


class DatabaseGateway:
    """One PyMongo ``Database`` and the collections of the models used with it."""

    __slots__ = ("_collections", "database")

    def __init__(self, database: Database[Any]) -> None:
        self.database = database
        self._collections: dict[type[Model], Collection[Any]] = {}

    def collection(self, model: type[Model]) -> Collection[Any]:
        """The collection that stores ``model``'s documents (cached per model)."""
        try:
            return self._collections[model]
        except KeyError:
            coll = self.database.get_collection(model.__anyodm__.collection)
            self._collections[model] = coll
            return coll
