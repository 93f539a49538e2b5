"""The reference tests run each behaviour on ``Engine`` (trio, asyncio) and ``SyncEngine``."""

from __future__ import annotations

from tests.engine.conftest import AwaitableSyncEngine, engine

__all__ = ["AwaitableSyncEngine", "engine"]
