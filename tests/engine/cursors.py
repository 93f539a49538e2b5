"""Helpers to watch server cursors from tests."""

from __future__ import annotations

import time
from typing import Any

from pymongo import MongoClient, monitoring
from pymongo.errors import OperationFailure

CURSOR_NOT_FOUND = 43
#: MongoDB refuses a getMore from outside the cursor's session with one of these.
CURSOR_OF_ANOTHER_SESSION = frozenset({50737, 50738})


class CursorIds(monitoring.CommandListener):
    """Collects the ids of the server cursors the client's finds/aggregates opened."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name in ("find", "aggregate"):
            cursor_id = event.reply.get("cursor", {}).get("id", 0)
            if cursor_id:
                self.ids.append(cursor_id)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def server_cursor_is_open(client: MongoClient[Any], db: str, coll: str, cursor_id: int) -> bool:
    """Probe with a getMore: a killed cursor answers CursorNotFound.

    (The probe consumes one document of a live cursor; tests only probe cursors they no
    longer read, on results large enough not to be exhausted by the probes.)
    """
    try:
        reply = client[db].command("getMore", cursor_id, collection=coll, batchSize=1)
    except OperationFailure as exc:
        if exc.code == CURSOR_NOT_FOUND:
            return False
        if exc.code in CURSOR_OF_ANOTHER_SESSION:  # MongoDB: it exists, in its own session
            return True
        raise
    # MongoDB answers CursorNotFound; the embedded server answers an empty, closed batch.
    cursor = reply.get("cursor", {})
    return bool(cursor.get("id") or cursor.get("nextBatch"))


def wait_until_closed(
    client: MongoClient[Any], db: str, coll: str, cursor_id: int, within: float = 5.0
) -> bool:
    """True once the server no longer knows the cursor (polling, bounded by ``within``)."""
    give_up = time.monotonic() + within
    while server_cursor_is_open(client, db, coll, cursor_id):  # probes at least once
        if time.monotonic() >= give_up:
            return False
        time.sleep(0.05)  # <= 100 probes in 5 s: fewer than the 200 unread documents
    return True


class WatchedDatabase:
    """A client whose find/aggregate cursors are recorded, on a database holding 300
    authors (more than one batch), for tests of server-cursor closing."""

    def __init__(self, mongodb_uri: str, database: str) -> None:
        from anyodm import SyncEngine
        from tests.engine.models import Author

        self.listener = CursorIds()
        self.client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[self.listener])
        self.database = database
        SyncEngine(client=self.client, database=database).save_all(
            [Author(name=f"c{i:03}", age=i) for i in range(300)]
        )

    def last_cursor_closed(self, within: float = 5.0) -> bool:
        """Whether the server cursor of the last find is (or soon is) closed."""
        assert self.listener.ids, "the find should have left a server cursor open"
        return wait_until_closed(
            self.client, self.database, "author", self.listener.ids[-1], within
        )
