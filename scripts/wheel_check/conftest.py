"""wheel-check's plugin run: every async test on asyncio and on trio, as the docs show."""

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend
