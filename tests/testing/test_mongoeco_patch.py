"""The mongoeco insert-cost patch: it applies, and results are those of plain mongoeco."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pymongo
import pytest
from bson import Int64, ObjectId
from pymongo.collation import Collation
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from anyodm.testing import (
    EmbeddedServerError,
    MongoServer,
    _child,
    _mongoeco_patch,
    resolve_server_python,
)

Client = pymongo.MongoClient[dict[str, Any]]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, MongoServer]]:
    """A patched and an unpatched embedded server, started side by side."""
    try:
        python = resolve_server_python()
    except EmbeddedServerError as exc:
        pytest.skip(str(exc))
    pair = {
        "patched": MongoServer(python=python),
        "plain": MongoServer(python=python, patch=False),
    }
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(MongoServer.start, pair.values()))
        yield pair
    finally:
        for server in pair.values():
            server.stop()


def test_the_patch_applies_to_the_pinned_mongoeco(servers: dict[str, MongoServer]) -> None:
    assert servers["patched"].patched, servers["patched"].info
    assert not servers["plain"].patched


def test_the_server_says_which_patches_it_runs_with(servers: dict[str, MongoServer]) -> None:
    every = {
        "insert_cost": True,
        "change_streams": True,
        "keyed_lookup": True,
        "fail_command": True,
    }
    assert servers["patched"].patches == every
    assert servers["plain"].patches == dict.fromkeys(every, False)
    assert "insert_cost: disabled" in servers["plain"]._patch_notes()


def test_another_mongoeco_version_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9.9")
    note = _mongoeco_patch.apply()
    assert note == "mongoeco 9.9.9 is not 4.11.0, which the patch was written for"
    info = _child._apply_patch()
    assert {k: info[k] for k in ("patched", "patch_note", "change_streams", "fail_command")} == {
        "patched": False,
        "patch_note": note,
        "change_streams": False,
        "fail_command": False,
    }


def _scenario(client: Client) -> list[object]:
    """Writes and reads whose outcome must not depend on the patch."""
    db = client.anyodm_patch_check
    client.drop_database(db.name)
    out: list[object] = []

    def attempt(action: Callable[[], object]) -> None:
        try:
            out.append(action())
        except DuplicateKeyError as exc:
            out.append(("duplicate", exc.code))
        except BulkWriteError as exc:
            codes = [error["code"] for error in exc.details["writeErrors"]]
            out.append(("bulk", exc.details["nInserted"], codes))
        except OperationFailure as exc:
            out.append(("failure", exc.code))

    oid = ObjectId("6b0529cfe68fd68cce27ba99")
    things = db.things
    for _id in (oid, "key", 1):
        attempt(lambda _id=_id: things.insert_one({"_id": _id}).inserted_id)
        attempt(lambda _id=_id: things.insert_one({"_id": _id}).inserted_id)
    for same_number in (1.0, Int64(1)):  # numerically equal to the stored 1
        attempt(lambda n=same_number: things.insert_one({"_id": n}).inserted_id)
    attempt(lambda: things.insert_many([{"_id": "a"}, {"_id": "a"}], ordered=True))
    attempt(lambda: things.count_documents({}))
    attempt(lambda: things.find_one({"_id": ObjectId("6b0529cfe68fd68cce27ba98")}))
    attempt(lambda: things.find_one({"_id": "missing"}))
    attempt(lambda: things.find_one({"_id": "key"}))
    attempt(lambda: things.find_one({"_id": 1.0}))
    attempt(lambda: things.find_one({"_id": "KEY"}, collation=Collation("en", strength=2)))
    attempt(lambda: things.update_one({"_id": "new"}, {"$set": {"n": 1}}, upsert=True).upserted_id)
    attempt(lambda: things.update_one({"_id": "new"}, {"$inc": {"n": 1}}, upsert=True).upserted_id)
    attempt(lambda: things.find_one({"_id": "new"}))
    attempt(lambda: things.replace_one({"_id": oid}, {"x": 1}).modified_count)
    attempt(lambda: things.find_one({"_id": oid}))

    people = db.people
    people.create_index("email", unique=True)
    attempt(lambda: people.insert_one({"_id": ObjectId(), "email": "a@x"}).acknowledged)
    attempt(lambda: people.insert_one({"_id": ObjectId(), "email": "a@x"}).acknowledged)
    attempt(lambda: people.insert_one({"_id": "p2", "email": "b@x"}).acknowledged)
    attempt(lambda: people.update_one({"_id": "p2"}, {"$set": {"email": "a@x"}}).modified_count)
    attempt(lambda: people.count_documents({}))
    client.drop_database(db.name)
    return out


def test_results_are_those_of_plain_mongoeco(servers: dict[str, MongoServer]) -> None:
    results = {}
    for name, server in servers.items():
        client: Client = pymongo.MongoClient(server.uri)
        try:
            results[name] = _scenario(client)
        finally:
            client.close()
    assert results["patched"] == results["plain"]
    duplicates = [r for r in results["patched"] if r == ("duplicate", 11000)]
    assert len(duplicates) == 7  # oid, "key", 1, 1.0, Int64(1); the unique email twice
    assert ("bulk", 1, [11000]) in results["patched"]
