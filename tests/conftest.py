"""Suite-wide test setup: every async test runs once on asyncio and once on trio.

anyio's pytest plugin runs the coroutine tests (``anyio_mode = "auto"`` in pyproject);
the fixtures for a database come from ``anyodm.testing.plugin`` (loaded by its entry
point): ``mongodb_uri``, ``mongo_client``, ``mongo_database``, ``anyodm_engine``,
``anyodm_sync_engine`` and ``failpoint``.

This repository's suite runs against a real server when ``MONGODB_URI`` is set: it is
handed to the plugin as ``ANYODM_TEST_URI`` (the only variable the plugin reads; an
application's ``MONGODB_URI`` is not its business).  Tests marked ``sharded`` or
``standalone`` run only against a server of that kind (``hello`` tells), and are skipped
on the embedded server and on replica sets.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

pytest_plugins = ["pytester"]

if os.environ.get("MONGODB_URI", "").strip() and not os.environ.get("ANYODM_TEST_URI", "").strip():
    os.environ["ANYODM_TEST_URI"] = os.environ["MONGODB_URI"]

#: marker -> what the server must be, as this suite's topology check names it
_TOPOLOGY_MARKERS = {
    "sharded": "a sharded cluster (mongos)",
    "standalone": "a standalone mongod (no replica set)",
}


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The event loop an async test (and its async fixtures) runs on."""
    backend: str = request.param
    return backend


def _topology(hello: dict[str, Any]) -> str:
    if hello.get("msg") == "isdbgrid":
        return "sharded"
    if hello.get("setName"):
        return "replica set"
    return "standalone"


@pytest.fixture(scope="session")
def server_topology(request: pytest.FixtureRequest) -> str:
    """``"sharded"``, ``"replica set"``, ``"standalone"`` or ``"embedded"``."""
    if not os.environ.get("ANYODM_TEST_URI", "").strip():
        return "embedded"
    client = request.getfixturevalue("mongo_client")
    return _topology(client.admin.command("hello"))


@pytest.fixture(autouse=True)
def _skip_on_other_topologies(request: pytest.FixtureRequest) -> None:
    """Tests marked ``sharded``/``standalone`` need a server of that kind."""
    for marker, needs in _TOPOLOGY_MARKERS.items():
        if request.node.get_closest_marker(marker) is None:
            continue
        topology = request.getfixturevalue("server_topology")
        if topology != marker:
            pytest.skip(f"needs {needs} at MONGODB_URI; this server is {topology}")
