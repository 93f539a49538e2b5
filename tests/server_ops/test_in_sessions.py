"""The server-side operations in sessions and transactions, async (trio, asyncio) and
sync: committed with the transaction, nothing left by an aborted one; the session-bound
methods are the engine's, bound generically."""

from __future__ import annotations

import inspect
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from anyodm import Engine, SessionStateError, SyncEngine, pipeline, update
from anyodm.aio.session import Session, Transaction
from anyodm.core.session import SyncSession, SyncTransaction
from anyodm.errors import InvalidValueError
from tests.server_ops.models import Book, Counter, Item, ItemName, Publisher

SERVER_OPERATIONS = (
    "update_one",
    "update_many",
    "find_one_and_update",
    "find_one_and_delete",
    "distinct",
    "aggregate",
)


class Boom(Exception):
    pass


async def _every_operation(tx: Any, publisher: Publisher) -> None:
    await tx.update_one(Counter, Counter.name == "a", update=update.inc(Counter.value, 1))
    await tx.update_many(Counter, update=update.inc(Counter.value, 10))
    await tx.find_one_and_update(
        Counter, Counter.name == "new", update=update.set(Counter.value, 7), upsert=True
    )
    assert (await tx.find_one_and_delete(Counter, Counter.name == "b")).name == "b"
    assert sorted(await tx.distinct(Counter, Counter.name)) == ["a", "new"]
    await tx.update_one(Book, update=update.set(Book.pages, 99))
    joined = await tx.aggregate(Book, pipeline.lookup_references(Book), into=Book)
    assert joined[0].publisher == publisher
    assert joined[0].pages == 99


async def _seed(engine: Engine) -> Publisher:
    publisher = await engine.save(Publisher(name="p"))
    await engine.save_all([Counter(name="a"), Counter(name="b")])
    await engine.save(Book(title="t", publisher=publisher))
    return publisher


async def _state(engine: Engine) -> tuple[dict[str, int], int]:
    counters = {c.name: c.value for c in await engine.find(Counter)}
    return counters, (await engine.find_one(Book)).pages


async def test_transaction_commits_every_operation(anyodm_engine: Engine) -> None:
    publisher = await _seed(anyodm_engine)
    async with anyodm_engine.transaction() as tx:
        await _every_operation(tx, publisher)
    assert await _state(anyodm_engine) == ({"a": 11, "new": 7}, 99)


async def test_an_aborted_transaction_leaves_nothing(anyodm_engine: Engine) -> None:
    publisher = await _seed(anyodm_engine)
    before = await _state(anyodm_engine)
    with pytest.raises(Boom):
        async with anyodm_engine.transaction() as tx:
            await _every_operation(tx, publisher)
            raise Boom
    assert await _state(anyodm_engine) == before


async def test_a_cancelled_transaction_leaves_nothing(anyodm_engine: Engine) -> None:
    publisher = await _seed(anyodm_engine)
    before = await _state(anyodm_engine)
    with anyio.CancelScope() as scope:
        async with anyodm_engine.transaction() as tx:
            await _every_operation(tx, publisher)
            scope.cancel()
            await anyio.sleep(1)
    assert await _state(anyodm_engine) == before


async def test_with_transaction_retries_the_updates(anyodm_engine: Engine) -> None:
    await anyodm_engine.save(Counter(name="a"))

    async def bump(tx: Transaction) -> int:
        counter = await tx.find_one_and_update(
            Counter, Counter.name == "a", update=update.inc(Counter.value, 1)
        )
        return counter.value

    assert await anyodm_engine.with_transaction(bump) == 1


async def test_session_streams_projection_and_aggregate(anyodm_engine: Engine) -> None:
    await anyodm_engine.save_all(
        [Item(name=f"i{n}", count=n, required_note=None) for n in range(5)]
    )
    async with anyodm_engine.session() as session:
        names = [v.name async for v in session.find(Item, sort=Item.count, projection=ItemName)]
        assert names == [f"i{n}" for n in range(5)]
        async with session.aggregate(Item, [{"$sort": {Item.count: -1}}], into=Item) as cursor:
            first = await cursor.__anext__()
        assert first.count == 4


async def test_an_ended_session_refuses_the_operations(anyodm_engine: Engine) -> None:
    async with anyodm_engine.session() as session:
        pass
    with pytest.raises(SessionStateError):
        await session.update_one(Counter, update=update.inc(Counter.value, 1))
    with pytest.raises(SessionStateError):
        await session.distinct(Counter, Counter.name)


def test_sync_transaction_commits_or_leaves_nothing(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    engine.save_all([Counter(name="a"), Counter(name="b")])
    with pytest.raises(Boom), engine.transaction() as tx:
        tx.update_many(Counter, update=update.inc(Counter.value, 1))
        assert tx.find_one_and_delete(Counter, Counter.name == "a") is not None
        raise Boom
    assert {c.name: c.value for c in engine.find(Counter)} == {"a": 0, "b": 0}
    with engine.transaction() as tx:
        result = tx.update_many(Counter, update=update.inc(Counter.value, 1))
        assert result.modified == 2
        assert [c["name"] for c in tx.aggregate(Counter, [{"$project": {"name": "$_id"}}])] == [
            "a",
            "b",
        ]
    assert {c.name: c.value for c in engine.find(Counter)} == {"a": 1, "b": 1}
    with engine.session() as session:
        assert session.distinct(Counter, Counter.value) == [1]
        assert session.find_one(Counter, projection=CounterValue) == CounterValue(value=1)


class CounterValue(BaseModel):
    value: int


@pytest.mark.parametrize("cls", [Session, Transaction, SyncSession, SyncTransaction])
def test_session_methods_are_the_engines_without_session(cls: type[Any]) -> None:
    engine_cls = Engine if cls in (Session, Transaction) else SyncEngine
    for name in (
        "find",
        "find_one",
        "count",
        "save",
        "save_all",
        "delete",
        "remove",
        *SERVER_OPERATIONS,
    ):
        bound = getattr(cls, name)
        engine_method = getattr(engine_cls, name)
        assert inspect.getdoc(engine_method) in inspect.getdoc(bound)
        expected = [
            p for p in inspect.signature(engine_method).parameters if p not in ("self", "session")
        ]
        assert list(bound.__signature__.parameters) == expected


def test_a_bound_method_shows_its_signature(anyodm_sync_engine: SyncEngine) -> None:
    with anyodm_sync_engine.session() as session:
        method = session.update_one
        assert method.__name__ == "update_one"
        assert "session" not in inspect.signature(method).parameters
        assert "update" in inspect.signature(method).parameters
        assert method.__doc__.startswith("Like the engine's ``update_one``, in this session.")


@pytest.mark.parametrize("command", ["update", "findAndModify", "aggregate", "distinct"])
async def test_a_deadline_reaches_the_server_operations(
    anyodm_engine: Engine, failpoint: Any, command: str
) -> None:
    await anyodm_engine.save(Counter(name="a"))
    failpoint([command], mode={"times": 1}, block_ms=3000)
    calls = {
        "update": lambda: anyodm_engine.update_one(Counter, update=update.inc(Counter.value, 1)),
        "findAndModify": lambda: anyodm_engine.find_one_and_update(
            Counter, update=update.inc(Counter.value, 1)
        ),
        "aggregate": lambda: anyodm_engine.aggregate(Counter, [{"$match": {}}]).to_list(),
        "distinct": lambda: anyodm_engine.distinct(Counter, Counter.name),
    }
    started = anyio.current_time()
    with pytest.raises(TimeoutError), anyio.fail_after(0.3):
        await calls[command]()
    assert anyio.current_time() - started < 2.5


async def test_an_update_may_reference_an_instance_saved_in_its_transaction(
    anyodm_engine: Engine,
) -> None:
    await _seed(anyodm_engine)
    fresh = Publisher(name="fresh")
    async with anyodm_engine.transaction() as tx:
        await tx.save(fresh)  # saved at commit only, but its key is stored in this transaction
        await tx.update_one(Book, update=update.set(Book.publisher, fresh))
    assert (await anyodm_engine.find_one(Book)).publisher.name == "fresh"


async def test_an_update_refuses_a_reference_to_an_instance_deleted_in_its_transaction(
    anyodm_engine: Engine,
) -> None:
    publisher = await _seed(anyodm_engine)
    with pytest.raises(InvalidValueError, match=r"Book\.publisher: .*not saved"):
        async with anyodm_engine.transaction() as tx:
            await tx.delete(publisher)
            await tx.update_one(Book, update=update.set(Book.publisher, publisher))
    assert (await anyodm_engine.find_one(Book)).publisher.name == "p"
