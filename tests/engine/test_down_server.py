"""A server that is down: how long the first operation takes to say so (the getting
started page's "When the server is down")."""

from __future__ import annotations

import socket
import time

import anyio
import pymongo
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from anyodm import Engine, Model, SyncEngine


class Book(Model):
    title: str


@pytest.fixture
def nothing_there() -> str:
    """A loopback address nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"mongodb://127.0.0.1:{port}/"


async def test_a_deadline_bounds_the_wait_for_a_server(nothing_there: str) -> None:
    async with Engine(nothing_there) as engine:
        started = anyio.current_time()
        with pytest.raises(TimeoutError), anyio.fail_after(0.5):
            await engine.find_one(Book)
        assert anyio.current_time() - started < 5


def test_server_selection_timeout_in_the_connection_string(nothing_there: str) -> None:
    with SyncEngine(nothing_there + "?serverSelectionTimeoutMS=300") as engine:
        started = time.monotonic()
        with pytest.raises(ServerSelectionTimeoutError):
            engine.find_one(Book)
        assert time.monotonic() - started < 5


def test_pymongo_timeout_bounds_a_sync_operation(nothing_there: str) -> None:
    with SyncEngine(nothing_there) as engine:
        started = time.monotonic()
        with pytest.raises(ServerSelectionTimeoutError), pymongo.timeout(0.4):
            engine.find_one(Book)
        assert time.monotonic() - started < 5
