"""How finds read and decode: the server's own batches for whole results, one bounded
batch per step when streaming, decoded in slices that hand the GIL over, in order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import anyio
import bson
import pytest
from bson.codec_options import DEFAULT_CODEC_OPTIONS
from pymongo import MongoClient, monitoring

from anyodm import Engine, Model, SyncEngine
from anyodm.core import batches
from anyodm.core.find import STREAM_BATCH_SIZE
from tests.engine.cursors import wait_until_closed
from tests.engine.models import Author, Book, Country, Publisher

#: Several slices, raw slices and streaming batches, and not a multiple of any.
COUNT = 737


class Round(Model):
    """Counts the instances made (decoded) so far."""

    n: int
    at: dt.datetime

    def model_post_init(self, context: Any) -> None:
        MADE.append(self.n)


MADE: list[int] = []


class Commands(monitoring.CommandListener):
    """The read commands a client sent, with how many documents each reply carried."""

    def __init__(self) -> None:
        self.replies: list[tuple[str, int]] = []
        self.cursor_ids: list[int] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name in ("find", "aggregate", "getMore"):
            cursor = event.reply.get("cursor", {})
            batch = cursor.get("firstBatch", cursor.get("nextBatch", []))
            self.replies.append((event.command_name, len(batch)))
            if event.command_name != "getMore" and cursor.get("id"):
                self.cursor_ids.append(cursor["id"])

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def named(self, name: str) -> list[int]:
        return [n for command, n in self.replies if command == name]


class Watched:
    """A client that records its read commands, on a fresh database of ``COUNT`` rounds,
    ``COUNT`` authors, and books whose publishers are looked up."""

    def __init__(self, uri: str, database: str) -> None:
        self.commands = Commands()
        self.client: MongoClient[Any] = MongoClient(
            uri, event_listeners=[self.commands], tz_aware=True
        )
        self.database = database
        db = self.client[database]
        start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
        db[Round.__anyodm__.collection].insert_many(
            [{"n": i, "at": start + dt.timedelta(minutes=i)} for i in reversed(range(COUNT))]
        )
        db[Author.__anyodm__.collection].insert_many(
            [{"name": f"a{i:04}", "age": i} for i in range(COUNT)]
        )
        sync = SyncEngine(client=self.client, database=database)
        publisher = Publisher(name="P", founded=1900, country=Country(name="C"))
        sync.save_all([Book(title=f"b{i:04}", pages=i, publisher=publisher) for i in range(300)])
        self.commands.replies.clear()
        self.commands.cursor_ids.clear()
        MADE.clear()

    def last_cursor_closed(self, collection: str) -> bool:
        """Whether the server cursor of the last find/aggregate is (or soon is) closed."""
        return wait_until_closed(
            self.client, self.database, collection, self.commands.cursor_ids[-1]
        )


@pytest.fixture
def watched(mongodb_uri: str, mongo_database: Any) -> Iterator[Watched]:
    watched = Watched(mongodb_uri, mongo_database.name)
    try:
        yield watched
    finally:
        watched.client.close()


def _expected_ats() -> list[dt.datetime]:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    return [start + dt.timedelta(minutes=i) for i in range(COUNT)]


# -- decoding in slices (no server) -------------------------------------------------------


def _raw_docs(count: int) -> list[bson.raw_bson.RawBSONDocument]:
    data = b"".join(bson.encode({"_id": i, "n": i}) for i in range(count))
    return bson.decode_all(data, batches.raw_codec_options(DEFAULT_CODEC_OPTIONS))


@pytest.mark.parametrize(
    "count", [0, 1, batches.SLICE - 1, batches.SLICE, batches.SLICE + 1, 5 * batches.SLICE + 3]
)
def test_decoding_in_slices_keeps_every_document_in_order(
    count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = _raw_docs(count)
    hand_overs: list[int] = []
    out: list[int] = []
    monkeypatch.setattr(batches, "HAND_OVER_EVERY", 0.0)  # due at every check
    monkeypatch.setattr(batches, "_hand_over", lambda: hand_overs.append(len(out)))
    batches.decode_into(out, raw, DEFAULT_CODEC_OPTIONS, lambda doc, raw: doc["n"])
    assert out == list(range(count))
    # The GIL is handed over after every slice, never after more than SLICE documents.
    assert len(hand_overs) == -(-count // batches.SLICE)
    assert all(b - a <= batches.SLICE for a, b in zip([0, *hand_overs], hand_overs, strict=False))


def test_cutting_a_large_reply_into_raw_documents_hands_the_gil_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hand_overs: list[None] = []
    monkeypatch.setattr(batches, "HAND_OVER_EVERY", 0.0)  # due at every check
    monkeypatch.setattr(batches, "_hand_over", lambda: hand_overs.append(None))
    raw = _raw_docs(4 * batches.RAW_SLICE)
    assert all(isinstance(doc, batches.YieldingRawDocument) for doc in raw)
    assert [doc["n"] for doc in raw] == list(range(4 * batches.RAW_SLICE))
    assert len(hand_overs) == 4


def test_hand_overs_are_paced_by_time(monkeypatch: pytest.MonkeyPatch) -> None:
    hand_overs: list[None] = []
    monkeypatch.setattr(batches, "HAND_OVER_EVERY", 3600.0)  # never due again this test
    monkeypatch.setattr(batches, "_hand_over", lambda: hand_overs.append(None))
    batches._hand_over_if_due()  # due: the first hand-over of this thread (or long ago)
    out: list[int] = []
    raw_docs = _raw_docs(10 * batches.SLICE)
    batches.decode_into(out, raw_docs, DEFAULT_CODEC_OPTIONS, lambda doc, raw: len(doc))
    assert len(out) == 10 * batches.SLICE
    assert len(hand_overs) <= 1


# -- whole results ------------------------------------------------------------------------


async def test_awaiting_a_find_reads_the_servers_batches_in_order(watched: Watched) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    found = await engine.find(Round, sort=Round.n)
    assert [r.n for r in found] == list(range(COUNT))
    assert [r.at for r in found] == _expected_ats()
    # Whole server batches: one reply (or MongoDB's first batch and one getMore for the
    # rest), not one round trip per hundred documents.
    assert len(watched.commands.named("getMore")) <= 1
    assert sum(n for _, n in watched.commands.replies) == COUNT


def test_sync_to_list_and_list_read_the_servers_batches_in_order(watched: Watched) -> None:
    engine = SyncEngine(client=watched.client, database=watched.database)
    assert [a.age for a in engine.find(Author, sort=Author.age).to_list()] == list(range(COUNT))
    assert len(watched.commands.named("getMore")) <= 1
    watched.commands.replies.clear()
    assert [r.n for r in list(engine.find(Round, sort=Round.n))] == list(range(COUNT))
    assert len(watched.commands.named("getMore")) <= 1


async def test_a_found_document_decodes_as_find_one_decodes_it(watched: Watched) -> None:
    # Raw documents are decoded with the client's codec options (here tz_aware=True).
    engine = Engine(client=watched.client, database=watched.database)
    found = await engine.find(Round, Round.n < 3, sort=Round.n)
    singles = [await engine.find_one(Round, Round.n == i) for i in range(3)]
    assert found == singles
    assert all(r.at.tzinfo is not None for r in found)


async def test_references_are_loaded_across_slices_in_order(watched: Watched) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    books = await engine.find(Book, sort=Book.pages)
    assert [b.pages for b in books] == list(range(300))
    assert {(b.publisher.name, b.publisher.country.name) for b in books} == {("P", "C")}
    streamed = [b.pages async for b in engine.find(Book, sort=Book.pages)]
    assert streamed == list(range(300))


# -- streaming ----------------------------------------------------------------------------


async def test_streaming_yields_every_document_in_order(watched: Watched) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    streamed = [r async for r in engine.find(Round, sort=Round.n)]
    assert [r.n for r in streamed] == list(range(COUNT))
    assert [r.at for r in streamed] == _expected_ats()


def test_sync_streaming_yields_every_document_in_order(watched: Watched) -> None:
    engine = SyncEngine(client=watched.client, database=watched.database)
    assert [r.n for r in engine.find(Round, sort=Round.n)] == list(range(COUNT))


async def test_streaming_holds_one_batch_at_a_time(watched: Watched) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    async with engine.find(Round, sort=Round.n) as cursor:
        seen = 0
        async for r in cursor:
            assert r.n == seen
            # Only the current batch was asked for and decoded.
            assert max(n for _, n in watched.commands.replies) <= STREAM_BATCH_SIZE
            assert len(MADE) <= (seen // STREAM_BATCH_SIZE + 1) * STREAM_BATCH_SIZE
            seen += 1
            if seen == 2 * STREAM_BATCH_SIZE + 1:
                break
    assert len(MADE) <= 3 * STREAM_BATCH_SIZE < COUNT


def test_sync_streaming_holds_one_batch_at_a_time(watched: Watched) -> None:
    engine = SyncEngine(client=watched.client, database=watched.database)
    with engine.find(Round, sort=Round.n) as cursor:
        for seen, r in enumerate(cursor):
            assert r.n == seen
            assert len(MADE) <= (seen // STREAM_BATCH_SIZE + 1) * STREAM_BATCH_SIZE
            if seen == STREAM_BATCH_SIZE:
                break
    assert max(n for _, n in watched.commands.replies) <= STREAM_BATCH_SIZE
    assert len(MADE) <= 2 * STREAM_BATCH_SIZE


async def test_leaving_a_stream_of_looked_up_documents_early_closes_its_cursor(
    watched: Watched,
) -> None:
    engine = Engine(client=watched.client, database=watched.database)
    async for _ in engine.find(Book, sort=Book.pages):
        break
    assert watched.commands.cursor_ids, "the aggregate should have left a server cursor open"
    closed = await anyio.to_thread.run_sync(watched.last_cursor_closed, "book")
    assert closed


def test_leaving_a_sync_stream_of_looked_up_documents_early_closes_its_cursor(
    watched: Watched,
) -> None:
    engine = SyncEngine(client=watched.client, database=watched.database)
    for _ in engine.find(Book, sort=Book.pages):
        break
    assert watched.commands.cursor_ids, "the aggregate should have left a server cursor open"
    assert watched.last_cursor_closed("book")
