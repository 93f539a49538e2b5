"""The embedded server's write conflicts are per document, as MongoDB's are.

Two transactions (or a transaction and a write outside one) conflict when they write the
same document (namespace and ``_id``) and the other committed after this one's
snapshot; writes to different documents never conflict, and a commit keeps what the
others committed meanwhile.  The conflict is MongoDB's WriteConflict (code 112, label
``TransientTransactionError``): on the write when the other committed first, else at
commit; the refused transaction leaves nothing behind.  (``_mongoeco_patch.py``)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import anyio
import pytest
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError, OperationFailure

from anyodm import Engine, Model

pytestmark = pytest.mark.embedded_only(reason="exercises the embedded server's patch")

WRITE_CONFLICT = 112


class Counter(Model):
    name: str
    value: int = 0


def assert_write_conflict(error: OperationFailure) -> None:
    assert error.code == WRITE_CONFLICT
    assert error.has_error_label("TransientTransactionError")


@pytest.fixture
def sessions(mongo_client: Any) -> Iterator[list[ClientSession]]:
    """Three driver sessions, ended after the test."""
    with ExitStack() as stack:
        yield [stack.enter_context(mongo_client.start_session()) for _ in range(3)]


def test_transactions_writing_different_documents_both_commit(
    mongo_database: Any, sessions: list[ClientSession]
) -> None:
    things = mongo_database.things
    things.insert_many([{"_id": i, "v": 0} for i in range(3)])
    s1, s2, _ = sessions
    s1.start_transaction()
    s2.start_transaction()
    things.update_one({"_id": 0}, {"$set": {"v": 1}}, session=s1)
    things.update_one({"_id": 1}, {"$set": {"v": 2}}, session=s2)
    things.insert_one({"_id": "new-1"}, session=s1)  # inserts of different _ids
    things.insert_one({"_id": "new-2"}, session=s2)
    things.delete_one({"_id": 2}, session=s2)
    s1.commit_transaction()
    s2.commit_transaction()  # s1 committed since its snapshot: other documents only
    assert list(things.find({}, sort=[("_id", 1)])) == [
        {"_id": 0, "v": 1},
        {"_id": 1, "v": 2},
        {"_id": "new-1"},
        {"_id": "new-2"},
    ]


def test_a_commit_keeps_the_writes_committed_since_its_snapshot(
    mongo_database: Any, sessions: list[ClientSession]
) -> None:
    things = mongo_database.things
    things.create_index("tag")
    things.insert_many([{"_id": i, "tag": "old"} for i in range(4)])
    s1, s2, _ = sessions
    s1.start_transaction()
    things.update_one({"_id": 0}, {"$set": {"tag": "tx"}}, session=s1)
    # Meanwhile: another transaction and single writes, on other documents.
    with s2.start_transaction():
        things.update_one({"_id": 1}, {"$set": {"tag": "other-tx"}}, session=s2)
    things.update_one({"_id": 2}, {"$set": {"tag": "plain"}})
    things.delete_one({"_id": 3})
    things.insert_one({"_id": 4, "tag": "plain"})
    s1.commit_transaction()
    assert list(things.find({}, sort=[("_id", 1)])) == [
        {"_id": 0, "tag": "tx"},
        {"_id": 1, "tag": "other-tx"},
        {"_id": 2, "tag": "plain"},
        {"_id": 4, "tag": "plain"},
    ]
    # The indexed field finds what the merged commit holds.
    assert [d["_id"] for d in things.find({"tag": "plain"}, sort=[("_id", 1)])] == [2, 4]
    assert [d["_id"] for d in things.find({"tag": "tx"})] == [0]
    assert list(things.find({"tag": "old"})) == []


def test_the_second_commit_of_the_same_document_conflicts(
    mongo_database: Any, sessions: list[ClientSession]
) -> None:
    things = mongo_database.things
    things.insert_many([{"_id": 1, "v": 0}, {"_id": 2, "v": 0}])
    s1, s2, _ = sessions
    s1.start_transaction()
    s2.start_transaction()
    things.update_one({"_id": 1}, {"$set": {"v": 1}}, session=s1)
    things.update_one({"_id": 1}, {"$set": {"v": 2}}, session=s2)
    things.update_one({"_id": 2}, {"$set": {"v": 2}}, session=s2)
    s1.commit_transaction()
    with pytest.raises(OperationFailure) as caught:
        s2.commit_transaction()
    assert_write_conflict(caught.value)
    with pytest.raises(OperationFailure) as again:
        s2.commit_transaction()  # a retried commit of the refused transaction
    assert_write_conflict(again.value)
    assert list(things.find({}, sort=[("_id", 1)])) == [{"_id": 1, "v": 1}, {"_id": 2, "v": 0}]
    s2.start_transaction()  # the refused transaction left nothing behind
    assert things.find_one({"_id": 2}, session=s2) == {"_id": 2, "v": 0}
    s2.abort_transaction()


def test_writing_a_document_committed_since_the_snapshot_conflicts_at_once(
    mongo_database: Any, sessions: list[ClientSession]
) -> None:
    things = mongo_database.things
    things.insert_one({"_id": 1, "v": 0})
    s1, s2, _ = sessions
    s1.start_transaction()
    assert things.find_one({"_id": 1}, session=s1) == {"_id": 1, "v": 0}  # its snapshot
    with s2.start_transaction():
        things.update_one({"_id": 1}, {"$set": {"v": 2}}, session=s2)
    with pytest.raises(OperationFailure) as caught:
        things.update_one({"_id": 1}, {"$inc": {"v": 1}}, session=s1)
    assert_write_conflict(caught.value)
    with pytest.raises(OperationFailure) as at_commit:
        s1.commit_transaction()  # MongoDB aborts a transaction after its write conflict
    assert_write_conflict(at_commit.value)
    assert things.find_one({"_id": 1}) == {"_id": 1, "v": 2}


@pytest.mark.parametrize(
    "plain_write",
    [
        lambda c: c.update_one({"_id": 1}, {"$set": {"v": "plain"}}),
        lambda c: c.replace_one({"_id": 1}, {"v": "plain"}),
        lambda c: c.delete_one({"_id": 1}),
    ],
    ids=["update", "replace", "delete"],
)
def test_a_transaction_and_a_plain_write_of_one_document_conflict(
    mongo_database: Any, sessions: list[ClientSession], plain_write: Any
) -> None:
    things = mongo_database.things
    things.insert_many([{"_id": 1, "v": 0}, {"_id": 2, "v": 0}])
    s1, _, _ = sessions
    # The transaction writes first, the plain write commits first: its commit fails.
    s1.start_transaction()
    things.update_one({"_id": 1}, {"$set": {"v": "tx"}}, session=s1)
    things.update_one({"_id": 2}, {"$set": {"v": "tx"}}, session=s1)
    plain_write(things)
    with pytest.raises(OperationFailure) as caught:
        s1.commit_transaction()
    assert_write_conflict(caught.value)
    assert things.find_one({"_id": 2}) == {"_id": 2, "v": 0}
    # The plain write first: the transaction's write of the document fails.
    things.replace_one({"_id": 1}, {"v": 0}, upsert=True)
    s1.start_transaction()
    things.find_one({"_id": 2}, session=s1)
    plain_write(things)
    with pytest.raises(OperationFailure) as on_write:
        things.update_one({"_id": 1}, {"$set": {"v": "tx"}}, session=s1)
    assert_write_conflict(on_write.value)
    s1.abort_transaction()


def test_inserting_an_id_inserted_since_the_snapshot_conflicts(
    mongo_database: Any, sessions: list[ClientSession]
) -> None:
    things = mongo_database.things
    things.insert_one({"_id": "seed"})
    s1, s2, _ = sessions
    s1.start_transaction()
    s2.start_transaction()
    things.insert_one({"_id": "same"}, session=s1)
    things.insert_one({"_id": "same"}, session=s2)
    s1.commit_transaction()
    with pytest.raises(OperationFailure) as caught:
        s2.commit_transaction()
    assert_write_conflict(caught.value)
    s2.start_transaction()
    with pytest.raises(OperationFailure) as retried:  # the retry sees the committed one
        things.insert_one({"_id": "same"}, session=s2)
    assert retried.value.code == 11000
    s2.abort_transaction()


def test_a_unique_key_taken_since_the_snapshot_conflicts_then_is_a_duplicate(
    mongo_database: Any, sessions: list[ClientSession]
) -> None:
    people = mongo_database.people
    people.create_index("email", unique=True)
    people.insert_one({"_id": 0, "email": "seed"})
    s1, s2, _ = sessions
    s1.start_transaction()
    s2.start_transaction()
    people.insert_one({"_id": 1, "email": "a@x"}, session=s1)
    people.insert_one({"_id": 2, "email": "a@x"}, session=s2)  # another _id, same key
    people.insert_one({"_id": 3, "email": "b@x"}, session=s2)
    s1.commit_transaction()
    with pytest.raises(OperationFailure) as caught:
        s2.commit_transaction()
    assert_write_conflict(caught.value)
    with pytest.raises(DuplicateKeyError):  # what its retry meets
        people.insert_one({"_id": 2, "email": "a@x"})
    assert [d["_id"] for d in people.find({}, sort=[("_id", 1)])] == [0, 1]


def test_unique_keys_of_different_documents_merge(
    mongo_database: Any, sessions: list[ClientSession]
) -> None:
    people = mongo_database.people
    people.create_index("email", unique=True)
    people.insert_one({"_id": 0, "email": "seed"})
    s1, s2, _ = sessions
    s1.start_transaction()
    s2.start_transaction()
    people.insert_one({"_id": 1, "email": "a@x"}, session=s1)
    people.insert_one({"_id": 2, "email": "b@x"}, session=s2)
    s1.commit_transaction()
    s2.commit_transaction()
    assert people.find_one({"email": "b@x"}) == {"_id": 2, "email": "b@x"}
    with pytest.raises(DuplicateKeyError):  # the merged index still holds both keys
        people.insert_one({"email": "a@x"})
    with pytest.raises(DuplicateKeyError):
        people.insert_one({"email": "b@x"})


def test_a_collection_created_by_two_transactions_conflicts(
    mongo_database: Any, sessions: list[ClientSession]
) -> None:
    mongo_database.seed.insert_one({})
    s1, s2, _ = sessions
    s1.start_transaction()
    s2.start_transaction()
    mongo_database.fresh.insert_one({"_id": 1}, session=s1)
    mongo_database.fresh.insert_one({"_id": 2}, session=s2)
    s1.commit_transaction()
    with pytest.raises(OperationFailure) as caught:
        s2.commit_transaction()
    assert_write_conflict(caught.value)
    assert list(mongo_database.fresh.find()) == [{"_id": 1}]


def test_a_collection_created_in_a_transaction_commits_beside_other_writes(
    mongo_database: Any, sessions: list[ClientSession]
) -> None:
    s1, _, _ = sessions
    s1.start_transaction()
    mongo_database.fresh.insert_one({"_id": 1}, session=s1)
    mongo_database.elsewhere.insert_one({"_id": "plain"})
    s1.commit_transaction()
    assert list(mongo_database.fresh.find()) == [{"_id": 1}]
    assert list(mongo_database.elsewhere.find()) == [{"_id": "plain"}]


async def test_concurrent_with_transactions_all_commit(
    mongo_client: Any, mongo_database: Any
) -> None:
    engine = Engine(client=mongo_client, database=mongo_database.name)
    counters = await engine.save_all([Counter(name=f"c{i}") for i in range(4)])

    async def bump(tx: Any, name: str) -> None:
        counter = await tx.find_one(Counter, Counter.name == name)
        counter.value += 1
        await tx.save(counter)
        await anyio.sleep(0.01)  # overlap with the other transactions

    async with anyio.create_task_group() as tg:
        for counter in counters:
            for _ in range(3):
                tg.start_soon(engine.with_transaction, bump, counter.name)
    values = sorted(c.value for c in await engine.find(Counter))
    assert values == [3, 3, 3, 3]


async def test_overlapping_transactions_on_different_documents_never_retry(
    anyodm_engine: Engine,
) -> None:
    counters = await anyodm_engine.save_all([Counter(name=f"c{i}") for i in range(10)])
    attempts = 0
    inside = anyio.Event()
    entered = 0

    async def bump(tx: Any, name: str) -> None:
        nonlocal attempts, entered
        attempts += 1
        counter = await tx.find_one(Counter, Counter.name == name)
        counter.value += 1
        await tx.save(counter)
        entered += 1
        if entered == len(counters):
            inside.set()
        with anyio.fail_after(10):
            await inside.wait()  # every transaction has written before any commits

    async with anyio.create_task_group() as tg:
        for counter in counters:
            tg.start_soon(anyodm_engine.with_transaction, bump, counter.name)
    assert attempts == len(counters)
    assert [c.value for c in await anyodm_engine.find(Counter)] == [1] * len(counters)


async def test_concurrent_transfers_keep_the_total(anyodm_engine: Engine) -> None:
    accounts = await anyodm_engine.save_all([Counter(name=f"a{i}", value=100) for i in range(5)])
    names = [a.name for a in accounts]

    async def transfer(tx: Any, source: str, target: str) -> None:
        a = await tx.find_one(Counter, Counter.name == source)
        b = await tx.find_one(Counter, Counter.name == target)
        a.value -= 1
        b.value += 1
        await tx.save(a)
        await tx.save(b)

    expected = dict.fromkeys(names, 100)
    async with anyio.create_task_group() as tg:
        for i in range(40):
            source, target = names[i % 5], names[(i * 3 + 1) % 5]
            if source != target:
                expected[source] -= 1
                expected[target] += 1
                tg.start_soon(anyodm_engine.with_transaction, transfer, source, target)
    assert {c.name: c.value for c in await anyodm_engine.find(Counter)} == expected


class SnapshotModel:
    """What MongoDB's snapshot isolation with per-document write conflicts answers.

    ``committed`` holds each document's value.  A transaction reads the documents as of
    its snapshot plus its own writes; its write of a document fails if a commit changed
    that document since the snapshot (and dooms it); its commit fails if a commit since
    the snapshot changed a document it wrote.
    """

    def __init__(self) -> None:
        self.committed: dict[int, int] = {}

    def commit(self, writes: dict[int, int | None]) -> None:
        for key, value in writes.items():
            if value is None:
                self.committed.pop(key, None)
            else:
                self.committed[key] = value


class ModelTransaction:
    def __init__(self, model: SnapshotModel) -> None:
        self.model = model
        self.snapshot = dict(model.committed)
        self.writes: dict[int, int | None] = {}
        self.doomed = False

    def view(self, key: int) -> int | None:
        return self.writes[key] if key in self.writes else self.snapshot.get(key)

    def overtaken(self, key: int) -> bool:
        """Whether a commit since the snapshot changed the document (every write stores
        a new value; a document absent then and absent again now counts as unchanged)."""
        return self.model.committed.get(key) != self.snapshot.get(key)

    def can_commit(self) -> bool:
        return not self.doomed and not any(self.overtaken(key) for key in self.writes)


def write(things: Any, session: ClientSession, kind: str, key: int, value: int) -> None:
    if kind == "insert":
        things.insert_one({"_id": key, "v": value}, session=session)
    elif kind == "update":
        things.update_one({"_id": key}, {"$set": {"v": value}}, session=session)
    else:
        things.delete_one({"_id": key}, session=session)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_interleavings_match_snapshot_isolation(
    mongo_client: Any, mongo_database: Any, seed: int
) -> None:
    import random

    rng = random.Random(seed)
    things = mongo_database.things
    things.create_index("v")
    model = SnapshotModel()
    values = iter(range(1, 10**9))
    keys = range(12)
    initial = {key: next(values) for key in keys[:8]}
    things.insert_many([{"_id": key, "v": value} for key, value in initial.items()])
    model.commit(dict(initial))
    sessions = [mongo_client.start_session() for _ in range(4)]
    open_: dict[int, ModelTransaction] = {}
    outcomes: list[str] = []
    try:
        for _ in range(400):
            slot = rng.randrange(len(sessions) + 1)
            key = rng.choice(keys)
            if slot == len(sessions):  # a write outside any transaction
                value = next(values)
                if key in model.committed and rng.random() < 0.3:
                    things.delete_one({"_id": key})
                    model.commit({key: None})
                else:
                    things.replace_one({"_id": key}, {"v": value}, upsert=True)
                    model.commit({key: value})
                continue
            session = sessions[slot]
            tx = open_.get(slot)
            if tx is None:
                session.start_transaction()
                things.find_one({"_id": -1}, session=session)  # takes its snapshot now
                open_[slot] = ModelTransaction(model)
                continue
            action = rng.random()
            if action < 0.15:  # commit
                del open_[slot]
                if tx.can_commit():
                    session.commit_transaction()
                    model.commit(tx.writes)
                    outcomes.append("committed")
                else:
                    with pytest.raises(OperationFailure) as caught:
                        session.commit_transaction()
                    assert_write_conflict(caught.value)
                    outcomes.append("refused")
            elif action < 0.2:
                del open_[slot]
                session.abort_transaction()
            elif action < 0.45:  # read
                found = things.find_one({"_id": key}, session=session)
                expected = tx.view(key)
                assert found == (None if expected is None else {"_id": key, "v": expected})
            else:  # write: update, insert or delete what it sees
                seen = tx.view(key)
                kind = "insert" if seen is None else "update" if action < 0.85 else "delete"
                value = next(values)
                if tx.overtaken(key):
                    with pytest.raises(OperationFailure) as caught:
                        write(things, session, kind, key, value)
                    assert_write_conflict(caught.value)
                    tx.doomed = True
                    outcomes.append("write conflict")
                else:
                    write(things, session, kind, key, value)
                    tx.writes[key] = None if kind == "delete" else value
        for slot in list(open_):
            sessions[slot].abort_transaction()
    finally:
        for session in sessions:
            session.end_session()
    stored = {d["_id"]: d["v"] for d in things.find()}
    assert stored == model.committed
    for key, value in model.committed.items():  # the index on v agrees
        assert [d["_id"] for d in things.find({"v": value})] == [key]
    assert things.count_documents({"v": {"$gt": 0}}) == len(model.committed)
    # Every kind of outcome happened (the interleavings exercised the patch).
    assert {"committed", "refused", "write conflict"} <= set(outcomes), outcomes
