"""Fixtures for the hook tests: ``engine`` is the async engine or the sync one behind
awaitable methods (the same test runs on both), ``calls`` what the hooks recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from anyodm import Engine, SyncEngine
from tests.engine.conftest import AwaitableSyncEngine
from tests.hooks.models import CALLS


@pytest.fixture(params=["async", "sync"])
def engine(
    request: pytest.FixtureRequest, anyodm_engine: Engine, anyodm_sync_engine: SyncEngine
) -> Any:
    """Each test runs on ``Engine`` and on ``SyncEngine``."""
    if request.param == "async":
        return anyodm_engine
    return AwaitableSyncEngine(anyodm_sync_engine)


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[tuple[Any, ...]]]:
    """What the hooks of ``tests.hooks.models`` recorded during the test, in order."""
    CALLS.clear()
    yield CALLS
    CALLS.clear()
