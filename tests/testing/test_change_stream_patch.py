"""The embedded server's change streams, through plain PyMongo ``watch()``."""

from __future__ import annotations

import importlib.metadata
import threading
import time
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from bson import Timestamp
from pymongo import monitoring
from pymongo.errors import OperationFailure

from anyodm.testing import (
    EmbeddedServerError,
    MongoServer,
    _change_stream_patch,
    fail_point,
    resolve_server_python,
)

Client = pymongo.MongoClient[dict[str, Any]]

pytestmark = pytest.mark.embedded_only("tests the embedded server's change-stream patch")


class KillListener(monitoring.CommandListener):
    """Records the cursor ids the driver kills, and the change streams it opens."""

    def __init__(self) -> None:
        self.killed: list[int] = []
        self.opened: list[dict[str, Any]] = []  # each $changeStream stage's options

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "killCursors":
            self.killed.extend(event.command["cursors"])
        if event.command_name == "aggregate":
            stages = event.command.get("pipeline") or [{}]
            if "$changeStream" in stages[0]:
                self.opened.append(dict(stages[0]["$changeStream"]))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[MongoServer]:
    """A server of its own: the hammer's history stays out of the other tests."""
    try:
        python = resolve_server_python()
    except EmbeddedServerError as exc:
        pytest.skip(str(exc))
    started = MongoServer(python=python)
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def kills() -> KillListener:
    return KillListener()


@pytest.fixture(scope="module")
def client(server: MongoServer, kills: KillListener) -> Iterator[Client]:
    opened: Client = pymongo.MongoClient(server.uri, event_listeners=[kills])
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def db(client: Client, request: pytest.FixtureRequest) -> Iterator[Any]:
    name = "cs_" + request.node.name.replace("[", "_").replace("]", "")[:40]
    yield client[name]
    client.drop_database(name)


def open_streams(client: Client) -> int:
    status = client.admin.command("serverStatus")
    return int(status["metrics"]["cursor"]["open"]["changeStreams"])


def test_the_patch_applies_to_the_pinned_mongoeco(server: MongoServer) -> None:
    assert server.info["change_streams"], server.info


def test_another_mongoeco_version_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9.9")
    assert _change_stream_patch.apply() == (
        "mongoeco 9.9.9 is not 4.11.0, which the patch was written for"
    )


def test_every_kind_of_write_arrives_in_order(db: Any) -> None:
    with db.things.watch(max_await_time_ms=50) as stream:
        db.things.insert_one({"_id": 1, "a": 1, "b": 2})
        db.things.update_one({"_id": 1}, {"$set": {"a": 5, "c": [1]}, "$unset": {"b": 1}})
        db.things.replace_one({"_id": 1}, {"z": 3})
        db.things.delete_one({"_id": 1})
        db.others.insert_one({"_id": 2})  # another collection: not on this stream
        events = [stream.next() for _ in range(4)]
        assert stream.try_next() is None
    assert [e["operationType"] for e in events] == ["insert", "update", "replace", "delete"]
    insert, update, replace, delete = events
    assert insert["fullDocument"] == {"_id": 1, "a": 1, "b": 2}
    assert insert["ns"] == {"db": db.name, "coll": "things"}
    assert update["documentKey"] == {"_id": 1}
    assert "fullDocument" not in update
    assert update["updateDescription"]["updatedFields"] == {"a": 5, "c": [1]}
    assert update["updateDescription"]["removedFields"] == ["b"]
    assert replace["fullDocument"] == {"_id": 1, "z": 3}
    assert delete["documentKey"] == {"_id": 1}
    assert "fullDocument" not in delete
    tokens = [e["_id"]["_data"] for e in events]
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == 4


def test_update_lookup_sends_the_document(db: Any) -> None:
    with db.things.watch(full_document="updateLookup", max_await_time_ms=50) as stream:
        db.things.insert_one({"_id": 1, "n": 1})
        db.things.update_one({"_id": 1}, {"$inc": {"n": 1}})
        stream.next()
        assert stream.next()["fullDocument"] == {"_id": 1, "n": 2}


def test_a_pipeline_filters_events(db: Any) -> None:
    pipeline = [{"$match": {"operationType": "insert", "fullDocument.keep": True}}]
    with db.things.watch(pipeline, max_await_time_ms=50) as stream:
        db.things.insert_many([{"keep": False}, {"keep": True, "n": 1}, {"keep": True, "n": 2}])
        db.things.delete_many({})
        assert [stream.next()["fullDocument"]["n"] for _ in range(2)] == [1, 2]
        assert stream.try_next() is None
        # The resume token moves past events the filter dropped.
        assert stream.resume_token is not None


def test_history_is_kept_while_nobody_watches(db: Any) -> None:
    with db.things.watch(max_await_time_ms=50) as stream:
        start = stream.resume_token
    db.things.insert_one({"_id": "unwatched"})  # creates the collection, nobody watches
    db.things.update_one({"_id": "unwatched"}, {"$set": {"x": 1}})
    with db.things.watch(resume_after=start, max_await_time_ms=50) as stream:
        assert stream.next()["documentKey"] == {"_id": "unwatched"}
        assert stream.next()["operationType"] == "update"
        assert stream.try_next() is None
    with db.things.watch(start_after=start, max_await_time_ms=50) as stream:
        assert stream.next()["operationType"] == "insert"


def test_committed_transactions_appear_and_aborted_ones_never(client: Client, db: Any) -> None:
    with db.things.watch(max_await_time_ms=50) as stream:
        with client.start_session() as session:
            with session.start_transaction():
                db.things.insert_one({"_id": "committed-1"}, session=session)
                db.things.insert_one({"_id": "committed-2"}, session=session)
            session.start_transaction()
            db.things.insert_one({"_id": "aborted"}, session=session)
            session.abort_transaction()
        db.things.insert_one({"_id": "after"})
        seen = [stream.next()["documentKey"]["_id"] for _ in range(3)]
        assert stream.try_next() is None
    assert seen == ["committed-1", "committed-2", "after"]


def test_database_and_cluster_streams(client: Client, db: Any) -> None:
    with db.watch(max_await_time_ms=50) as on_db, client.watch(max_await_time_ms=50) as on_all:
        db.a.insert_one({"_id": 1})
        db.b.insert_one({"_id": 2})
        assert [on_db.next()["ns"]["coll"] for _ in range(2)] == ["a", "b"]
        assert [on_all.next()["ns"]["coll"] for _ in range(2)] == ["a", "b"]


def test_get_more_waits_for_the_next_write(db: Any) -> None:
    with db.things.watch(max_await_time_ms=30_000) as stream:
        writer = threading.Thread(target=db.things.insert_one, args=({"_id": "late"},))
        writer.start()
        change = stream.next()  # the getMore was waiting on the server when it came
        writer.join()
    assert change["documentKey"] == {"_id": "late"}


def test_an_empty_get_more_returns_after_max_await(db: Any) -> None:
    with db.things.watch(max_await_time_ms=200) as stream:
        began = time.monotonic()
        assert stream.try_next() is None
        assert time.monotonic() - began < 10  # generous: it returned, it did not hang


def test_closing_kills_the_server_cursor(client: Client, db: Any, kills: KillListener) -> None:
    before = open_streams(client)
    stream = db.things.watch(max_await_time_ms=50)
    assert open_streams(client) == before + 1
    cursor_id = stream._cursor.cursor_id  # test-only peek, to check the kill
    stream.close()
    assert cursor_id in kills.killed
    assert open_streams(client) == before
    with pytest.raises(OperationFailure) as raised:
        db.command("getMore", cursor_id, collection="things")
    assert raised.value.code == 43


def test_bad_options_are_refused(db: Any) -> None:
    with pytest.raises(OperationFailure, match="not served"):
        db.things.watch(full_document_before_change="required")
    with pytest.raises(OperationFailure, match="resume token"):
        db.things.watch(resume_after={"_data": "nonsense"})
    with pytest.raises(OperationFailure, match="ahead"):
        db.things.watch(resume_after={"_data": f"{2**60:016X}"})


# -- operationTime and resuming ------------------------------------------------------

#: getMore failures PyMongo resumes after: CursorNotFound, and a labelled error
RESUMABLE_FAILURES = {
    "cursor-not-found": {"error_code": 43},
    "labelled": {"error_code": 9001, "error_labels": ["ResumableChangeStreamError"]},
}


def test_replies_carry_operation_time_and_post_batch_resume_token(db: Any) -> None:
    reply = db.command("aggregate", "things", pipeline=[{"$changeStream": {}}], cursor={})
    cursor_id = reply["cursor"]["id"]
    opened_at = _change_stream_patch.sequence_of(reply["cursor"]["postBatchResumeToken"])
    assert isinstance(reply["operationTime"], Timestamp)
    assert reply["operationTime"].inc == opened_at + 1  # resumes at exactly opened_at
    db.things.insert_one({"_id": 1})
    more = db.command("getMore", cursor_id, collection="things", maxTimeMS=50)
    event = more["cursor"]["nextBatch"][0]
    assert event["clusterTime"].inc == opened_at + 1
    assert more["cursor"]["postBatchResumeToken"] == event["_id"]
    assert more["operationTime"].inc == opened_at + 2
    empty = db.command("getMore", cursor_id, collection="things", maxTimeMS=50)
    assert empty["cursor"]["nextBatch"] == []
    assert empty["cursor"]["postBatchResumeToken"] == event["_id"]
    assert isinstance(empty["operationTime"], Timestamp)
    db.command("killCursors", "things", cursors=[cursor_id])


def test_start_at_the_operation_time_of_an_open_loses_and_repeats_nothing(db: Any) -> None:
    db.things.insert_one({"_id": "before"})
    reply = db.command("aggregate", "things", pipeline=[{"$changeStream": {}}], cursor={})
    db.command("killCursors", "things", cursors=[reply["cursor"]["id"]])
    db.things.insert_one({"_id": "after-1"})
    db.things.insert_one({"_id": "after-2"})
    with db.things.watch(
        start_at_operation_time=reply["operationTime"], max_await_time_ms=50
    ) as stream:
        keys = [stream.next()["documentKey"]["_id"] for _ in range(2)]
        assert stream.try_next() is None
    assert keys == ["after-1", "after-2"]


@pytest.mark.parametrize("failure", RESUMABLE_FAILURES.values(), ids=RESUMABLE_FAILURES)
def test_a_failed_first_get_more_resumes_with_the_event_once(
    client: Client, db: Any, kills: KillListener, failure: dict[str, Any]
) -> None:
    del kills.opened[:]
    with db.things.watch(max_await_time_ms=50) as stream:
        db.things.insert_one({"_id": "x"})
        with fail_point(client, ["getMore"], **failure):
            change = stream.next()
        assert change["documentKey"] == {"_id": "x"}
        assert stream.try_next() is None
    first, resumed = kills.opened
    assert first == {}
    assert set(resumed) == {"resumeAfter"}  # from the first reply's postBatchResumeToken


@pytest.mark.parametrize("failure", RESUMABLE_FAILURES.values(), ids=RESUMABLE_FAILURES)
def test_a_failure_after_an_empty_batch_resumes_with_the_event_once(
    client: Client, db: Any, kills: KillListener, failure: dict[str, Any]
) -> None:
    with db.things.watch(max_await_time_ms=50) as stream:
        assert stream.try_next() is None  # an empty batch: its postBatchResumeToken
        token = stream.resume_token
        db.things.insert_one({"_id": "x"})
        del kills.opened[:]
        with fail_point(client, ["getMore"], **failure):
            change = stream.next()
        assert change["documentKey"] == {"_id": "x"}
        assert stream.try_next() is None
    assert kills.opened == [{"resumeAfter": token}]


@pytest.mark.parametrize("failure", RESUMABLE_FAILURES.values(), ids=RESUMABLE_FAILURES)
def test_start_after_resumes_with_each_event_once(
    client: Client, db: Any, kills: KillListener, failure: dict[str, Any]
) -> None:
    with db.things.watch(max_await_time_ms=50) as stream:
        db.things.insert_one({"_id": "a"})
        token = stream.next()["_id"]
    del kills.opened[:]
    with db.things.watch(start_after=token, max_await_time_ms=50) as stream:
        db.things.insert_one({"_id": "b"})
        with fail_point(client, ["getMore"], **failure):
            assert stream.next()["documentKey"] == {"_id": "b"}  # failed, then resumed
        db.things.insert_one({"_id": "c"})
        with fail_point(client, ["getMore"], **failure):
            assert stream.next()["documentKey"] == {"_id": "c"}  # after an event
        assert stream.try_next() is None
    assert [set(options) for options in kills.opened] == [
        {"startAfter"},
        {"startAfter"},  # no event yet: startAfter again, from the postBatchResumeToken
        {"resumeAfter"},
    ]


HAMMER_WRITERS = 4
HAMMER_TRIPLES = 250  # per writer, each an insert, an update and a delete: 3000 writes
HAMMER_COLLECTIONS = ("c0", "c1", "c2")
READ_GIVE_UP = 120.0  # seconds; only a broken server gets near it


def test_hammer_every_event_once_in_order(db: Any) -> None:
    """Writers on several threads and collections while watchers on each collection and
    on the database read: each watcher sees each of its events exactly once, in order."""
    total = HAMMER_WRITERS * HAMMER_TRIPLES * 3
    streams = {name: db[name].watch(max_await_time_ms=100) for name in HAMMER_COLLECTIONS}
    streams["db"] = db.watch(max_await_time_ms=100)
    want = dict.fromkeys(streams, 0)
    want["db"] = total
    for writer in range(HAMMER_WRITERS):
        for triple in range(HAMMER_TRIPLES):
            want[HAMMER_COLLECTIONS[(writer + triple) % 3]] += 3
    seen: dict[str, list[dict[str, Any]]] = {name: [] for name in streams}

    def write(writer: int) -> None:
        for triple in range(HAMMER_TRIPLES):
            coll = db[HAMMER_COLLECTIONS[(writer + triple) % 3]]
            key = f"w{writer}-{triple}"
            coll.insert_one({"_id": key, "w": writer, "t": triple})
            coll.update_one({"_id": key}, {"$set": {"updated": True}})
            coll.delete_one({"_id": key})

    def read(name: str) -> None:
        stream, out = streams[name], seen[name]
        give_up = time.monotonic() + READ_GIVE_UP
        while len(out) < want[name] and time.monotonic() < give_up:
            change = stream.try_next()
            if change is not None:
                out.append(change)

    began = time.monotonic()
    threads = [threading.Thread(target=read, args=(name,)) for name in streams]
    threads += [threading.Thread(target=write, args=(w,)) for w in range(HAMMER_WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    extra = {name: stream.try_next() for name, stream in streams.items()}
    for stream in streams.values():
        stream.close()

    everything = seen["db"]
    tokens = [change["_id"]["_data"] for change in everything]
    assert len(everything) == total
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == total
    assert extra == dict.fromkeys(streams)  # and nothing more
    for writer in range(HAMMER_WRITERS):
        keys = [
            c["documentKey"]["_id"]
            for c in everything
            if c["documentKey"]["_id"].startswith(f"w{writer}-")
        ]
        assert keys == [f"w{writer}-{t}" for t in range(HAMMER_TRIPLES) for _ in range(3)]
    for key in ("insert", "update", "delete"):
        assert sum(c["operationType"] == key for c in everything) == total // 3
    for name in HAMMER_COLLECTIONS:
        assert seen[name] == [c for c in everything if c["ns"]["coll"] == name]
    print(f"hammer: {total} writes, {len(streams)} watchers, {elapsed:.2f}s")
