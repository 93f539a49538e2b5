"""Engines whose client records the commands it sends, for one test covering the async
engine (trio and asyncio) and ``SyncEngine``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from anyodm import Engine, SyncEngine

#: commands that are not the operation's own (the driver's handshakes and sessions)
_IGNORED = frozenset({"hello", "isMaster", "ismaster", "endSessions", "ping", "buildInfo"})


class Commands(monitoring.CommandListener):
    """The names (and bodies) of the commands a client sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in _IGNORED:
            self.sent.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class AwaitableSyncEngine:
    """``SyncEngine`` with awaitable methods (its transactions stay sync)."""

    def __init__(self, engine: SyncEngine) -> None:
        self.sync = engine
        self.database = engine.database

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.sync, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


class Monitored:
    def __init__(self, engine: Any, commands: Commands, kind: str) -> None:
        self.engine = engine
        self.commands = commands
        self.kind = kind


@pytest.fixture(params=["async", "sync"])
async def monitored(
    request: pytest.FixtureRequest, mongodb_uri: str, mongo_database: Database[Any]
) -> AsyncIterator[Monitored]:
    commands = Commands()
    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[commands])
    try:
        if request.param == "async":
            engine = Engine(client=client, database=mongo_database.name)
            try:
                yield Monitored(engine, commands, "async")
            finally:
                await engine.aclose()
        else:
            sync = SyncEngine(client=client, database=mongo_database.name)
            yield Monitored(AwaitableSyncEngine(sync), commands, "sync")
    finally:
        client.close()
