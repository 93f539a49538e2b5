"""What both engines share: the client, the database and the collections of the models."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern
from typing_extensions import Self

from anyodm.core.arguments import check_database_name, check_model_class
from anyodm.core.client import default_database_name, resolve_client
from anyodm.core.gateway import DatabaseGateway
from anyodm.model.concerns import ReadPreferenceMode, check_concerns

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

    def with_options(
        self,
        *,
        read_concern: ReadConcern | None = None,
        write_concern: WriteConcern | None = None,
        read_preference: ReadPreferenceMode | None = None,
    ) -> Self:
        """An engine on the same client, database and worker threads whose operations
        use these concerns (those not given stay this engine's).

        A model's own (``model_config``) and a call's override them; a transaction
        keeps its own.  The new engine never closes the client: closing it is the
        original engine's job (or its owner's).
        """
        owner = f"{type(self).__name__}.with_options()"
        concerns = check_concerns(owner, read_concern, write_concern, read_preference)
        derived = copy.copy(self)
        derived._gateway = DatabaseGateway(self._gateway.database.with_options(**concerns.given()))
        derived._owns_client = False
        return derived

    def __repr__(self) -> str:
        return f"<{type(self).__name__} database={self.database_name!r}>"
