"""A transaction remembers its instances weakly: streaming inside one keeps about one
batch in memory, as outside; what it remembers of the instances still alive keeps S8
(after an abort every instance is as before the transaction; a commit makes its writes
the saved state)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

from anyodm import Engine, Model, SyncEngine, TransactionPhase
from anyodm.core.find import STREAM_BATCH_SIZE
from anyodm.core.pending import PendingStates
from anyodm.model.tracking import (
    MAYBE_STORED,
    StoredDocument,
    changes_for_save,
    is_persisted,
    saved_state,
    set_saved_state,
)

COUNT = 1000
#: the current batch, the instance in hand and a few in transit between them
ALIVE_AT_MOST = STREAM_BATCH_SIZE + 5


class Reading(Model):
    n: int
    payload: str


def _insert(database: Any) -> None:
    database[Reading.__anyodm__.collection].insert_many(
        [{"n": i, "payload": f"reading {i:04} " * 8} for i in range(COUNT)]
    )


class _AliveCounter:
    """Weak references to the instances streamed so far: how many are still alive."""

    def __init__(self) -> None:
        self._refs: list[weakref.ref[Any]] = []
        self.seen = 0

    def add(self, instance: Any) -> None:
        self.seen += 1
        self._refs.append(weakref.ref(instance))

    def check(self) -> None:
        """Count the live ones (collecting garbage before judging: only what something
        still holds counts)."""
        self._refs = [ref for ref in self._refs if ref() is not None]
        if len(self._refs) > ALIVE_AT_MOST:
            gc.collect()
            self._refs = [ref for ref in self._refs if ref() is not None]
        assert len(self._refs) <= ALIVE_AT_MOST, (
            f"{len(self._refs)} streamed instances alive after {self.seen}"
        )


def _ledger_size(tx: Any) -> int:
    """How many instances the transaction's ledger remembers (those alive, and those
    of the batch before until the next batch's are added)."""
    ledger = tx._ledger
    assert isinstance(ledger, PendingStates)
    return len(ledger)


# -- streaming inside a transaction keeps one batch --------------------------------------


async def test_streaming_in_a_transaction_keeps_about_one_batch_alive(
    anyodm_engine: Engine, mongo_database: Any
) -> None:
    _insert(mongo_database)
    alive = _AliveCounter()
    async with anyodm_engine.transaction() as tx:
        async for reading in tx.find(Reading, sort=Reading.n):
            assert reading.n == alive.seen
            alive.add(reading)
            del reading
            alive.check()
            assert _ledger_size(tx) <= ALIVE_AT_MOST + STREAM_BATCH_SIZE
    assert alive.seen == COUNT
    assert tx.phase is TransactionPhase.COMMITTED


def test_sync_streaming_in_a_transaction_keeps_about_one_batch_alive(
    anyodm_sync_engine: SyncEngine, mongo_database: Any
) -> None:
    _insert(mongo_database)
    alive = _AliveCounter()
    with anyodm_sync_engine.transaction() as tx:
        for reading in tx.find(Reading, sort=Reading.n):
            assert reading.n == alive.seen
            alive.add(reading)
            del reading
            alive.check()
            assert _ledger_size(tx) <= ALIVE_AT_MOST + STREAM_BATCH_SIZE
    assert alive.seen == COUNT
    assert tx.phase is TransactionPhase.COMMITTED


async def test_an_instance_kept_from_a_stream_is_settled_with_the_transaction(
    anyodm_engine: Engine, mongo_database: Any
) -> None:
    """Those dropped are forgotten; those kept are still settled: saved at commit,
    unknown (saved whole next time) after an abort."""
    _insert(mongo_database)
    async with anyodm_engine.transaction() as tx:
        kept = [r async for r in tx.find(Reading) if r.n % 250 == 0]
    assert len(kept) == 4
    assert all(changes_for_save(r) == {} for r in kept)

    async with anyodm_engine.transaction() as tx:
        kept = [r async for r in tx.find(Reading) if r.n % 250 == 0]
        await tx.abort()
    assert all(saved_state(r) is MAYBE_STORED for r in kept)
    kept[0].payload = "changed"
    assert changes_for_save(kept[0])["n"] == 0  # sent whole
    await anyodm_engine.save(kept[0])
    stored = mongo_database[Reading.__anyodm__.collection].find_one({"_id": kept[0].id})
    assert stored == kept[0].model_dump_doc()


# -- S8 for loaded and written instances ----------------------------------------------------


async def test_a_loaded_then_written_instance_is_as_before_after_an_abort(
    anyodm_engine: Engine,
) -> None:
    reading = await anyodm_engine.save(Reading(n=1, payload="p"))
    async with anyodm_engine.transaction() as tx:
        seen = await tx.find_one(Reading, Reading.n == 1)
        assert seen is not None
        seen.payload = "in the transaction"
        await tx.save(seen)
        assert changes_for_save(seen) == {"payload": "in the transaction"}  # not yet durable
        reading.payload = "also in it"
        await tx.save(reading)
        await tx.abort()
    assert saved_state(seen) is MAYBE_STORED  # loaded in the transaction: nothing known
    assert changes_for_save(reading) == {"payload": "also in it"}  # as before it
    await anyodm_engine.save(reading)
    assert await anyodm_engine.find_one(Reading, Reading.id == reading.id) == reading


async def test_a_loaded_then_written_instance_is_saved_at_commit(anyodm_engine: Engine) -> None:
    await anyodm_engine.save(Reading(n=1, payload="p"))
    async with anyodm_engine.transaction() as tx:
        seen = await tx.find_one(Reading, Reading.n == 1)
        assert seen is not None
        seen.payload = "committed"
        await tx.save(seen)
        seen.payload = "committed twice"
        await tx.save(seen)  # compares with the transaction's own write
    assert tx.phase is TransactionPhase.COMMITTED
    assert changes_for_save(seen) == {}
    found = await anyodm_engine.find_one(Reading, Reading.n == 1)
    assert found is not None
    assert found.payload == "committed twice"


def test_sync_a_loaded_instance_is_unknown_after_an_abort_and_saved_after_a_commit(
    anyodm_sync_engine: SyncEngine,
) -> None:
    anyodm_sync_engine.save(Reading(n=1, payload="p"))
    with anyodm_sync_engine.transaction() as tx:
        aborted = tx.find_one(Reading)
        tx.abort()
    assert aborted is not None
    assert saved_state(aborted) is MAYBE_STORED
    with anyodm_sync_engine.transaction():
        committed = anyodm_sync_engine.find_one(Reading)
    assert committed is not None
    assert is_persisted(committed)
    assert changes_for_save(committed) == {}


# -- the ledger itself --------------------------------------------------------------------


def _state(n: int) -> StoredDocument:
    return StoredDocument.of({"n": n, "payload": "p"})


def test_the_ledger_forgets_dead_instances_and_keeps_nothing_of_loaded_ones() -> None:
    ledger = PendingStates()
    for n in range(COUNT):
        reading = Reading(n=n, payload="p")
        ledger.loaded(reading)
        if n % 2:
            ledger.record(reading, _state(n))
        del reading
    gc.collect()
    survivor = Reading(n=-1, payload="p")
    ledger.loaded(survivor)  # removes the dead entries
    assert len(ledger) == 1
    assert ledger.lookup(survivor) == (False, None)  # only read: its own state counts
    ledger.committed()
    assert saved_state(survivor) is None  # nothing applied to an instance only read
    assert len(ledger) == 0


def test_a_reused_id_is_not_mistaken_for_the_dead_instance() -> None:
    ledger = PendingStates()
    first = Reading(n=1, payload="p")
    ledger.record(first, _state(1))
    key = id(first)
    del first
    later = None
    for _ in range(1000):  # CPython reuses the freed memory of one size soon
        candidate = Reading(n=2, payload="p")
        if id(candidate) == key:
            later = candidate
            break
        del candidate
    if later is None:
        pytest.skip("no object reused the dead instance's id")
    assert ledger.lookup(later) == (False, None)
    ledger.loaded(later)
    assert ledger.lookup(later) == (False, None)
    ledger.discarded()
    assert saved_state(later) is MAYBE_STORED  # loaded: unknown after an abort, not state 1


def test_an_unknown_commit_then_a_commit_restores_what_was_loaded() -> None:
    ledger = PendingStates()
    loaded = Reading(n=1, payload="p")
    written = Reading(n=2, payload="p")
    loaded_as = _state(1)
    set_saved_state(loaded, loaded_as)
    ledger.loaded(loaded)
    ledger.record(written, _state(2))
    ledger.unknown()
    assert saved_state(loaded) is MAYBE_STORED
    assert saved_state(written) is MAYBE_STORED
    ledger.committed()  # a retried commit succeeded
    assert saved_state(loaded) is loaded_as
    assert saved_state(written) == _state(2)


def test_an_unknown_commit_then_an_abort_restores_the_states_from_before() -> None:
    ledger = PendingStates()
    written = Reading(n=2, payload="p")
    before = _state(0)
    set_saved_state(written, before)
    ledger.record(written, _state(2))
    ledger.record(written, _state(3))
    ledger.unknown()
    ledger.discarded()
    assert saved_state(written) is before
