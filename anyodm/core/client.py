"""Resolving the ``client`` argument of the engines into a synchronous MongoClient."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from anyodm.core.arguments import check_database_name

__all__ = ["DEFAULT_DATABASE", "default_database_name", "resolve_client"]

#: The database used when neither ``database=`` nor the connection string names one.
DEFAULT_DATABASE = "test"

_ASYNC_CLIENT_HELP = (
    "anyodm drives the synchronous pymongo.MongoClient in worker threads (that is how it "
    "runs on trio as well as asyncio); pass MongoClient(...) or a connection string instead, "
    'e.g. Engine(client=MongoClient("mongodb://localhost:27017"))'
)


def resolve_client(client: Any, owner: str) -> tuple[MongoClient[Any], bool]:
    """Return ``(client, owned)``: a connection string (or None) makes an owned client."""
    if client is None:
        return MongoClient(), True
    if isinstance(client, str):
        return MongoClient(client), True
    if isinstance(client, MongoClient):
        return client, False
    kind = f"{type(client).__module__}.{type(client).__qualname__}"
    if "Async" in type(client).__name__ or "motor" in kind.lower():
        raise TypeError(f"{owner}(client=...) got an async client ({kind}). {_ASYNC_CLIENT_HELP}")
    raise TypeError(
        f"{owner}(client=...) needs a pymongo.MongoClient or a connection string, got {kind}"
    )


def default_database_name(client: MongoClient[Any], owner: str) -> str:
    """The database named in the client's connection string, else ``"test"``.

    The same choice as PyMongo's ``client.get_default_database("test")``.
    """
    name = client.get_default_database(DEFAULT_DATABASE).name
    check_database_name(name, owner)
    return name
