"""Suite-wide test setup: every async test runs once on asyncio and once on trio.

anyio's pytest plugin runs the coroutine tests (``anyio_mode = "auto"`` in pyproject);
the fixtures for a database come from ``anyodm.testing.plugin`` (loaded by its entry
point): ``mongodb_uri``, ``mongo_client``, ``mongo_database``, ``anyodm_engine``,
``anyodm_sync_engine`` and ``failpoint``.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The event loop an async test (and its async fixtures) runs on."""
    backend: str = request.param
    return backend
