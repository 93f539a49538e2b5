"""Helpers for the session tests: what a transaction left behind."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import Engine


def assert_engine_idle(engine: Engine) -> None:
    """No worker thread of the engine is still busy (none was left running)."""
    assert engine.thread_limiter.borrowed_tokens == 0


@pytest.fixture
def players(anyodm_engine: Engine) -> Any:
    """The raw players collection, for checks that bypass the ODM and every session."""
    from tests.sessions.models import Player

    return anyodm_engine.get_collection(Player)
