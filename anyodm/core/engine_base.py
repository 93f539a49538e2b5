"""What both engines share: the client, the database and the collections of the models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database

from anyodm.core.arguments import check_database_name, check_model_class
from anyodm.core.client import default_database_name, resolve_client
from anyodm.core.gateway import DatabaseGateway

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = ["EngineBase"]


class EngineBase:
    """The client (owned when built from a connection string) and the database."""

    def __init__(
        self,
        client: MongoClient[Any] | str | None,
        database: str | None,
        transaction_time_limit: float,
    ) -> None:
        owner = type(self).__name__
        if database is not None:
            check_database_name(database, owner)
        self._client, self._owns_client = resolve_client(client, owner)
        if database is None:
            database = default_database_name(self._client, owner)
        self.database_name = database
        self._gateway = DatabaseGateway(self._client[database])
        self.transaction_time_limit = transaction_time_limit

    @property
    def client(self) -> MongoClient[Any]:
        """The PyMongo client."""
        return self._client

    @property
    def database(self) -> Database[Any]:
        """The PyMongo database the models are stored in."""
        return self._gateway.database

    def get_collection(self, model: type[Model]) -> Collection[Any]:
        """The PyMongo collection of ``model``."""
        return self._gateway.collection(check_model_class(model, "get_collection"))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} database={self.database_name!r}>"
