"""Each bulk test runs on ``Engine`` (asyncio and trio) and on ``SyncEngine``."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import Engine, SyncEngine
from tests.bulk.models import Author, Book, Hooked, Versioned
from tests.engine.conftest import AwaitableSyncEngine


@pytest.fixture(params=["async", "sync"])
async def engine(
    request: pytest.FixtureRequest, anyodm_engine: Engine, anyodm_sync_engine: SyncEngine
) -> Any:
    """The engine under test, its unique indexes created."""
    anyodm_sync_engine.configure_database([Author, Book, Versioned, Hooked])
    if request.param == "async":
        return anyodm_engine
    return AwaitableSyncEngine(anyodm_sync_engine)


def stored(engine: Any, model: Any) -> list[dict[str, Any]]:
    """The model's documents as stored, bypassing the ODM."""
    sync = engine.sync if hasattr(engine, "sync") else engine
    return list(sync.get_collection(model).find({}, sort=[("_id", 1)]))
