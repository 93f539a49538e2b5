"""Per-call driver options and read/write concerns: what reaches the server's commands,
what is refused before anything is sent, and which concern wins.

Each test runs on ``Engine`` (asyncio and trio) and on ``SyncEngine``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient, ReadPreference, WriteConcern, monitoring
from pymongo.read_concern import ReadConcern

from anyodm import Engine, Field, Index, Model, Reference, SyncEngine
from anyodm.errors import InvalidOperationError
from tests.engine.conftest import AwaitableSyncEngine


class Author(Model):
    name: str


class Book(Model):
    title: str = Field(index=True)
    pages: int = 0


class Cited(Model):
    title: str = Field(index=True)
    author: Author | None = Reference()


class Careful(Model):
    model_config = {  # noqa: RUF012
        "collection": "book",
        "write_concern": WriteConcern(w=1, wtimeout=1111),
        "read_concern": ReadConcern("majority"),
    }
    title: str
    pages: int = 0


class Commands(monitoring.CommandListener):
    """Every command a client sent, by name (session and cluster time left out)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def last(self, name: str) -> dict[str, Any]:
        found = [command for sent, command in self.sent if sent == name]
        assert found, f"no {name} command among {[sent for sent, _ in self.sent]}"
        return found[-1]

    def names(self) -> list[str]:
        return [name for name, _ in self.sent]


@pytest.fixture(params=["async", "sync"])
def watched(
    request: pytest.FixtureRequest, mongodb_uri: str, mongo_database: Any
) -> Iterator[tuple[Any, Commands]]:
    """An engine (async, or the sync one behind awaitable methods) whose commands are seen."""
    commands = Commands()
    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[commands])
    try:
        if request.param == "async":
            yield Engine(client=client, database=mongo_database.name), commands
        else:
            sync = SyncEngine(client=client, database=mongo_database.name)
            yield AwaitableSyncEngine(sync), commands
    finally:
        client.close()


async def _books(engine: Any) -> None:
    await engine.configure_database([Book, Cited])
    await engine.save_all([Book(title="a", pages=1), Book(title="$title", pages=2)])


async def test_read_options_reach_the_find_command(watched: tuple[Any, Commands]) -> None:
    engine, commands = watched
    await _books(engine)
    found = await engine.find(
        Book,
        Book.pages > 0,
        comment="report",
        hint=Book.title,
        collation={"locale": "en"},
        allow_disk_use=True,
        batch_size=5,
        let={"t": "$title"},
        read_concern=ReadConcern("local"),
    )
    assert len(found) == 2
    sent = commands.last("find")
    assert sent["comment"] == "report"
    assert sent["hint"] == {"title": 1}
    assert sent["collation"] == {"locale": "en"}
    assert sent["allowDiskUse"] is True
    assert sent["batchSize"] == 5
    assert sent["readConcern"] == {"level": "local"}
    # a variable's value is data: "$title" is not read as a field path
    assert sent["let"] == {"t": {"$literal": "$title"}}


async def test_a_find_through_lookups_sends_its_options_to_the_aggregation(
    watched: tuple[Any, Commands],
) -> None:
    engine, commands = watched
    await _books(engine)
    await engine.find(Cited, comment="joined", hint="title_1", batch_size=3, allow_disk_use=True)
    sent = commands.last("aggregate")
    assert (sent["comment"], sent["hint"], sent["allowDiskUse"]) == ("joined", "title_1", True)
    assert sent["cursor"] == {"batchSize": 3}


async def test_streaming_uses_the_batch_size_given(watched: tuple[Any, Commands]) -> None:
    engine, commands = watched
    await engine.save_all([Book(title=str(n)) for n in range(5)])
    seen = [book.title async for book in engine.find(Book, batch_size=2)]
    assert len(seen) == 5
    assert commands.last("find")["batchSize"] == 2
    assert [c["batchSize"] for n, c in commands.sent if n == "getMore"] == [2, 2]


async def test_find_one_count_distinct_aggregate(watched: tuple[Any, Commands]) -> None:
    engine, commands = watched
    await _books(engine)
    assert await engine.find_one(Book, Book.title == "a", comment="one", hint=Book.title)
    assert commands.last("find")["comment"] == "one"
    assert commands.last("find")["hint"] == {"title": 1}

    assert await engine.count(Book, comment="n", hint=[(Book.title, 1)]) == 2
    counted = commands.last("aggregate")
    assert (counted["comment"], counted["hint"]) == ("n", {"title": 1})

    titles = await engine.distinct(Book, Book.title, comment="d", collation={"locale": "en"})
    assert sorted(titles) == ["$title", "a"]
    assert commands.last("distinct")["collation"] == {"locale": "en"}

    rows = await engine.aggregate(
        Book, [{"$match": {}}], comment="agg", batch_size=1, let={"x": {"$add": [1, 2]}}
    )
    assert len(rows) == 2
    sent = commands.last("aggregate")
    assert sent["comment"] == "agg"
    assert sent["let"] == {"x": {"$literal": {"$add": [1, 2]}}}


async def test_write_options_reach_the_write_commands(watched: tuple[Any, Commands]) -> None:
    engine, commands = watched
    await _books(engine)
    majority = WriteConcern(w=1, wtimeout=4321)
    await engine.update_many(
        Book,
        Book.pages > 0,
        update={"$inc": {"pages": 1}},
        comment="bump",
        hint=Index(Book.title),
        collation={"locale": "en"},
        let={"v": 1},
        write_concern=majority,
    )
    sent = commands.last("update")
    assert (sent["comment"], sent["let"]) == ("bump", {"v": 1})
    assert sent["writeConcern"] == {"w": 1, "wtimeout": 4321}
    assert sent["updates"][0]["hint"] == {"title": 1}
    assert sent["updates"][0]["collation"] == {"locale": "en"}

    assert await engine.remove(Book, Book.pages > 100, comment="gone", hint="title_1") == 0
    deleted = commands.last("delete")
    assert (deleted["comment"], deleted["deletes"][0]["hint"]) == ("gone", "title_1")

    updated = await engine.find_one_and_update(
        Book, Book.title == "a", update={"$inc": {"pages": 1}}, comment="fam", hint=Book.title
    )
    assert updated is not None
    assert updated.pages == 3
    assert commands.last("findAndModify")["comment"] == "fam"

    book = await engine.save(Book(title="new"), comment="saved", write_concern=majority)
    inserted = commands.last("insert")
    assert (inserted["comment"], inserted["writeConcern"]["wtimeout"]) == ("saved", 4321)
    book.pages = 9
    await engine.save_all([book], comment="again")
    assert commands.last("update")["comment"] == "again"
    await engine.delete(book, comment="bye")
    assert commands.last("delete")["comment"] == "bye"


async def test_an_option_the_operation_cannot_take_is_refused(
    watched: tuple[Any, Commands],
) -> None:
    engine, commands = watched
    commands.sent.clear()
    with pytest.raises(TypeError, match=r"count\(\) got an unexpected option 'batch_size'"):
        await engine.count(Book, batch_size=3)
    with pytest.raises(TypeError, match=r"save\(\) got an unexpected option 'hint'"):
        await engine.save(Book(title="x"), hint="title_1")
    with pytest.raises(TypeError, match=r"remove\(\) got an unexpected option 'read_concern'"):
        await engine.remove(Book, read_concern=ReadConcern("local"))
    with pytest.raises(TypeError, match=r"find\(\) on Book: batch_size must be a positive int"):
        await engine.find(Book, batch_size=0)
    with pytest.raises(TypeError, match=r"find_one\(\) on Book: hint must be"):
        await engine.find_one(Book, hint=3)
    with pytest.raises(TypeError, match=r"update_one\(\) on Book: write_concern must be"):
        await engine.update_one(Book, update={"$set": {"pages": 1}}, write_concern={"w": 1})
    with pytest.raises(TypeError, match=r"let must be a dict whose keys are variable names"):
        await engine.find(Book, let={"$where": 1})
    assert commands.sent == []


async def test_an_unacknowledged_write_concern_is_refused(watched: tuple[Any, Commands]) -> None:
    engine, commands = watched
    commands.sent.clear()
    with pytest.raises(InvalidOperationError, match=r"save\(\) on Book: .*w=0"):
        await engine.save(Book(title="x"), write_concern=WriteConcern(w=0))
    with pytest.raises(InvalidOperationError, match=r"remove\(\) on Book: .*w=0"):
        await engine.remove(Book, write_concern=WriteConcern(w=0))
    sync = engine.sync if isinstance(engine, AwaitableSyncEngine) else engine
    with pytest.raises(InvalidOperationError, match=r"with_options\(\): .*w=0"):
        sync.with_options(write_concern=WriteConcern(w=0))
    with pytest.raises(InvalidOperationError, match=r"Loud: model_config: .*w=0"):

        class Loud(Model):
            model_config = {"write_concern": WriteConcern(w=0)}  # noqa: RUF012

    assert commands.sent == []


def test_a_client_with_an_unacknowledged_write_concern_writes_nothing(
    mongodb_uri: str, mongo_database: Any
) -> None:
    commands = Commands()
    client: MongoClient[Any] = MongoClient(mongodb_uri, w=0, event_listeners=[commands])
    try:
        engine = SyncEngine(client, mongo_database.name)
        with pytest.raises(InvalidOperationError, match=r"a write on Book: .*w=0"):
            engine.save(Book(title="x"))
        assert engine.find(Book).to_list() == []
        assert "insert" not in commands.names()
    finally:
        client.close()


async def test_the_call_wins_over_the_model_over_the_engine(
    watched: tuple[Any, Commands],
) -> None:
    engine, commands = watched
    sync = engine.sync if isinstance(engine, AwaitableSyncEngine) else engine
    derived = sync.with_options(
        write_concern=WriteConcern(w=1, wtimeout=2222), read_concern=ReadConcern("local")
    )
    front = AwaitableSyncEngine(derived) if isinstance(engine, AwaitableSyncEngine) else derived

    await front.save(Book(title="engine's"))
    assert commands.last("insert")["writeConcern"]["wtimeout"] == 2222
    await front.count(Book)
    assert commands.last("aggregate")["readConcern"] == {"level": "local"}

    await front.save(Careful(title="model's"))
    assert commands.last("insert")["writeConcern"]["wtimeout"] == 1111
    await front.count(Careful)
    assert commands.last("aggregate")["readConcern"] == {"level": "majority"}

    await front.save(Careful(title="call's"), write_concern=WriteConcern(w=1, wtimeout=3333))
    assert commands.last("insert")["writeConcern"]["wtimeout"] == 3333
    await front.count(Careful, read_concern=ReadConcern("local"))
    assert commands.last("aggregate")["readConcern"] == {"level": "local"}

    # the original engine is as it was
    await engine.save(Book(title="plain"))
    assert "writeConcern" not in commands.last("insert")


def test_read_preferences_set_the_collection_used(sync_engine_of: SyncEngine) -> None:
    """A standalone server is never sent a read preference: what it would be is checked
    on the collections the engine uses."""

    class Nearby(Model):
        model_config = {"read_preference": ReadPreference.NEAREST}  # noqa: RUF012
        name: str

    engine = sync_engine_of.with_options(read_preference=ReadPreference.SECONDARY_PREFERRED)
    assert engine.get_collection(Book).read_preference == ReadPreference.SECONDARY_PREFERRED
    assert engine.get_collection(Nearby).read_preference == ReadPreference.NEAREST
    assert sync_engine_of.get_collection(Book).read_preference == ReadPreference.PRIMARY
    assert engine.find(Book, read_preference=ReadPreference.PRIMARY_PREFERRED).to_list() == []


@pytest.fixture
def sync_engine_of(anyodm_sync_engine: SyncEngine) -> SyncEngine:
    return anyodm_sync_engine


async def test_with_options_shares_the_client_and_threads(anyodm_engine: Engine) -> None:
    derived = anyodm_engine.with_options(read_concern=ReadConcern("local"))
    assert derived.client is anyodm_engine.client
    assert derived.thread_limiter is anyodm_engine.thread_limiter
    assert derived.database.name == anyodm_engine.database.name
    assert derived.database.read_concern == ReadConcern("local")
    assert await derived.count(Book) == 0


def test_a_derived_engine_never_closes_the_client(mongodb_uri: str) -> None:
    engine = SyncEngine(mongodb_uri, "anyodm_test_options_owner")
    derived = engine.with_options(write_concern=WriteConcern(w=1))
    derived.close()
    assert engine.count(Book) == 0  # the client is still open
    engine.close()


async def test_concerns_of_a_call_are_refused_in_a_transaction(
    watched: tuple[Any, Commands],
) -> None:
    engine, commands = watched
    book = Book(title="x")
    await engine.save(book)
    commands.sent.clear()
    if isinstance(engine, AwaitableSyncEngine):
        with engine.sync.transaction() as tx:
            with pytest.raises(InvalidOperationError, match=r"find\(\): read_concern cannot"):
                tx.find(Book, read_concern=ReadConcern("local")).to_list()
            with pytest.raises(InvalidOperationError, match=r"save\(\): write_concern cannot"):
                tx.save(book, write_concern=WriteConcern(w=1))
            with pytest.raises(InvalidOperationError, match=r"count\(\): read_preference"):
                tx.count(Book, read_preference=ReadPreference.PRIMARY)
            tx.abort()
    else:
        async with engine.transaction() as atx:
            with pytest.raises(InvalidOperationError, match=r"find\(\): read_concern cannot"):
                await atx.find(Book, read_concern=ReadConcern("local"))
            with pytest.raises(InvalidOperationError, match=r"save\(\): write_concern cannot"):
                await atx.save(book, write_concern=WriteConcern(w=1))
            with pytest.raises(InvalidOperationError, match=r"count\(\): read_preference"):
                await atx.count(Book, read_preference=ReadPreference.PRIMARY)
            await atx.abort()
    assert not {"find", "insert", "update", "aggregate"} & set(commands.names())


async def test_a_transaction_keeps_its_own_concerns(watched: tuple[Any, Commands]) -> None:
    """A model's concerns are not applied inside a transaction; the transaction's are."""
    engine, commands = watched
    concern = WriteConcern(w="majority")
    if isinstance(engine, AwaitableSyncEngine):
        with engine.sync.transaction(write_concern=concern) as tx:
            tx.save(Careful(title="in"), comment="inside")
            assert tx.count(Careful) == 1
    else:
        async with engine.transaction(write_concern=concern) as atx:
            await atx.save(Careful(title="in"), comment="inside")
            assert await atx.count(Careful) == 1
    inserted = commands.last("insert")
    assert inserted["comment"] == "inside"
    assert "writeConcern" not in inserted
    assert "readConcern" not in commands.last("aggregate")
    # (under a deadline, as the async commit runs, PyMongo drops ``wtimeout``)
    assert commands.last("commitTransaction")["writeConcern"]["w"] == "majority"
