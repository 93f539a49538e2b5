"""The benchmarked clients, by name; each is imported only when it runs."""

from __future__ import annotations

import importlib
from typing import Any

#: name -> (module, class, constructor arguments), in the order of the report.
CLIENTS: dict[str, tuple[str, str, tuple[Any, ...]]] = {
    "pymongo_sync": ("raw", "PyMongoSync", ()),
    "pymongo_threads_asyncio": ("raw", "PyMongoThreads", ("asyncio",)),
    "pymongo_threads_trio": ("raw", "PyMongoThreads", ("trio",)),
    "pymongo_async": ("raw", "PyMongoAsync", ()),
    "odmantic_async": ("odmantic_clients", "ODManticAsync", ()),
    "odmantic_sync": ("odmantic_clients", "ODManticSync", ()),
    "beanie": ("beanie_client", "BeanieAsync", ()),
    "anyodm_asyncio": ("anyodm_clients", "AnyODMAsync", ("asyncio",)),
    "anyodm_trio": ("anyodm_clients", "AnyODMAsync", ("trio",)),
    "anyodm_sync": ("anyodm_clients", "AnyODMSync", ()),
}

LABELS = {
    "pymongo_sync": "PyMongo sync",
    "pymongo_threads_asyncio": "PyMongo via anyio threads (asyncio)",
    "pymongo_threads_trio": "PyMongo via anyio threads (trio)",
    "pymongo_async": "PyMongo AsyncMongoClient (asyncio)",
    "odmantic_async": "ODMantic AIOEngine (asyncio)",
    "odmantic_sync": "ODMantic SyncEngine",
    "beanie": "Beanie (asyncio)",
    "anyodm_asyncio": "anyodm Engine (asyncio)",
    "anyodm_trio": "anyodm Engine (trio)",
    "anyodm_sync": "anyodm SyncEngine",
}

BASELINE = "pymongo_sync"


def load(name: str) -> Any:
    """An instance of the client called ``name`` (imports its library now)."""
    module_name, class_name, args = CLIENTS[name]
    module = importlib.import_module(f"benchmarks.clients.{module_name}")
    return getattr(module, class_name)(*args)
