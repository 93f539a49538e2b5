"""S8: an instance counts as saved only once its write is durable.

Each test ends with the invariant a user relies on: the instance's saved state matches
the database, so saving it (again) stores exactly the instance.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from anyodm import Engine, Model, SyncEngine, TransactionPhase
from anyodm.model.tracking import changes_for_save, is_persisted

WRITE_CONFLICT = 112


class Card(Model):
    owner: str
    balance: int
    currency: str
    note: str = ""


def transient() -> OperationFailure:
    return OperationFailure(
        "write conflict",
        code=WRITE_CONFLICT,
        details={"errorLabels": ["TransientTransactionError"]},
    )


def stored(engine: Engine | SyncEngine, card: Card) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = engine.get_collection(Card).find_one({"_id": card.id})
    return doc


def assert_saved_state_matches_the_database(engine: Engine | SyncEngine, card: Card) -> None:
    """Whatever the instance remembers, saving it stores exactly the instance."""
    doc = stored(engine, card)
    if doc is not None and is_persisted(card):
        assert changes_for_save(card) == {
            key: value for key, value in card.model_dump_doc().items() if doc.get(key) != value
        }


# -- with_transaction retries resend everything --------------------------------------------


async def test_a_retried_callback_sends_the_instance_again(anyodm_engine: Engine) -> None:
    card = Card(owner="ann", balance=10, currency="EUR")
    attempts = 0

    async def pay(tx: Any) -> None:
        nonlocal attempts
        attempts += 1
        await tx.save(card)
        if attempts == 1:
            raise transient()  # after the write: the attempt's transaction is aborted

    await anyodm_engine.with_transaction(pay)
    assert attempts == 2
    assert stored(anyodm_engine, card) == card.model_dump_doc()
    assert changes_for_save(card) == {}


async def test_concurrent_with_transactions_under_commit_conflicts_store_every_instance(
    anyodm_engine: Engine,
) -> None:
    """Four tasks save caller-created instances; their commits conflict and retry."""
    cards = [Card(owner=f"o{i}", balance=i, currency="EUR") for i in range(4)]
    all_saved = anyio.Event()
    saved = 0
    attempts = 0

    async def save_one(tx: Any, card: Card, first: list[bool]) -> None:
        nonlocal saved, attempts
        attempts += 1
        await tx.save(card)
        if first[0]:
            first[0] = False
            saved += 1
            if saved == len(cards):
                all_saved.set()
            await all_saved.wait()  # every transaction wrote before any commits

    async with anyio.create_task_group() as tg:
        for card in cards:
            tg.start_soon(anyodm_engine.with_transaction, save_one, card, [True])
    assert anyodm_engine.get_collection(Card).count_documents({}) == 4
    for card in cards:
        assert stored(anyodm_engine, card) == card.model_dump_doc()
        assert changes_for_save(card) == {}
    assert attempts >= 4


def test_sync_with_transaction_retry_sends_the_instance_again(
    anyodm_sync_engine: SyncEngine,
) -> None:
    card = Card(owner="ann", balance=10, currency="EUR")
    attempts = 0

    def pay(tx: Any) -> None:
        nonlocal attempts
        attempts += 1
        tx.save(card)
        if attempts == 1:
            raise transient()

    anyodm_sync_engine.with_transaction(pay)
    assert attempts == 2
    assert stored(anyodm_sync_engine, card) == card.model_dump_doc()


# -- aborts restore the state from before ----------------------------------------------------


async def test_after_an_abort_the_instance_is_as_before_and_a_later_save_is_whole(
    anyodm_engine: Engine,
) -> None:
    card = Card(owner="ann", balance=10, currency="EUR")
    with pytest.raises(RuntimeError):
        async with anyodm_engine.transaction() as tx:
            await tx.save(card)
            raise RuntimeError("abort")
    assert tx.phase is TransactionPhase.ABORTED
    assert not is_persisted(card)
    card.balance = 20
    await anyodm_engine.save(card)  # outside: must store the whole document
    assert stored(anyodm_engine, card) == card.model_dump_doc()
    found = await anyodm_engine.find_one(Card, Card.id == card.id)
    assert found == card


async def test_an_abort_restores_a_persisted_instance_to_its_committed_state(
    anyodm_engine: Engine,
) -> None:
    card = await anyodm_engine.save(Card(owner="ann", balance=10, currency="EUR"))
    async with anyodm_engine.transaction() as tx:
        card.balance = 99
        await tx.save(card)
        await tx.abort()
    assert changes_for_save(card) == {"balance": 99}  # still to be saved
    await anyodm_engine.save(card)
    assert stored(anyodm_engine, card) == card.model_dump_doc()


async def test_a_commit_makes_the_transaction_s_writes_the_saved_state(
    anyodm_engine: Engine,
) -> None:
    card = Card(owner="ann", balance=10, currency="EUR")
    async with anyodm_engine.transaction() as tx:
        await tx.save(card)
        assert not is_persisted(card)  # not durable yet
        card.note = "second save in the same transaction"
        await tx.save(card)  # an update of the pending insert, not a second insert
    assert tx.phase is TransactionPhase.COMMITTED
    assert changes_for_save(card) == {}
    assert stored(anyodm_engine, card) == card.model_dump_doc()


def test_sync_abort_restores_the_state(anyodm_sync_engine: SyncEngine) -> None:
    card = Card(owner="ann", balance=10, currency="EUR")
    with anyodm_sync_engine.transaction() as tx:
        tx.save(card)
        tx.abort()
    assert not is_persisted(card)
    card.balance = 5
    anyodm_sync_engine.save(card)
    assert stored(anyodm_sync_engine, card) == card.model_dump_doc()


# -- deleted documents ----------------------------------------------------------------------


async def test_resaving_an_instance_whose_document_was_removed_stores_it_whole(
    anyodm_engine: Engine,
) -> None:
    card = await anyodm_engine.save(Card(owner="ann", balance=10, currency="EUR"))
    await anyodm_engine.remove(Card, Card.id == card.id)  # gone behind the instance's back
    card.balance = 11
    await anyodm_engine.save(card)
    assert stored(anyodm_engine, card) == card.model_dump_doc()
    assert await anyodm_engine.find_one(Card, Card.id == card.id) == card


async def test_deleting_makes_the_instance_unsaved(anyodm_engine: Engine) -> None:
    card = await anyodm_engine.save(Card(owner="ann", balance=10, currency="EUR"))
    await anyodm_engine.delete(card)
    assert not is_persisted(card)
    await anyodm_engine.save(card)
    assert stored(anyodm_engine, card) == card.model_dump_doc()


async def test_a_delete_in_an_aborted_transaction_leaves_the_instance_saved(
    anyodm_engine: Engine,
) -> None:
    card = await anyodm_engine.save(Card(owner="ann", balance=10, currency="EUR"))
    async with anyodm_engine.transaction() as tx:
        await tx.delete(card)
        await tx.abort()
    assert is_persisted(card)
    assert stored(anyodm_engine, card) == card.model_dump_doc()


def test_sync_resave_after_remove_is_whole(anyodm_sync_engine: SyncEngine) -> None:
    card = anyodm_sync_engine.save(Card(owner="ann", balance=10, currency="EUR"))
    anyodm_sync_engine.remove(Card, Card.id == card.id)
    card.note = "back"
    anyodm_sync_engine.save(card)
    assert stored(anyodm_sync_engine, card) == card.model_dump_doc()


# -- a change made while a save is in flight stays modified ---------------------------------


class _HeldWrites:
    """Holds update_one calls in their thread until released (a save in flight)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.in_flight = threading.Event()
        self.proceed = threading.Event()
        real = Collection.update_one

        def held(collection: Collection[Any], *args: Any, **kwargs: Any) -> Any:
            self.in_flight.set()
            self.proceed.wait(10)
            return real(collection, *args, **kwargs)

        monkeypatch.setattr(Collection, "update_one", held)


async def test_a_change_made_during_a_save_stays_modified(
    anyodm_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = await anyodm_engine.save(Card(owner="ann", balance=10, currency="EUR"))
    card.balance = 20
    held = _HeldWrites(monkeypatch)
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyodm_engine.save, card)
        await anyio.to_thread.run_sync(held.in_flight.wait)
        card.note = "changed by another task while the save is in flight"
        held.proceed.set()
    assert stored(anyodm_engine, card)["note"] == ""  # type: ignore[index]
    assert changes_for_save(card) == {"note": card.note}
    monkeypatch.undo()
    await anyodm_engine.save(card)
    assert stored(anyodm_engine, card) == card.model_dump_doc()


def test_sync_state_is_what_was_sent(anyodm_sync_engine: SyncEngine) -> None:
    card = anyodm_sync_engine.save(Card(owner="ann", balance=10, currency="EUR"))
    card.balance = 30
    anyodm_sync_engine.save(card)
    assert changes_for_save(card) == {}
    assert_saved_state_matches_the_database(anyodm_sync_engine, card)


# -- instances read inside a transaction --------------------------------------------------


async def test_an_instance_read_in_an_aborted_transaction_is_saved_whole_afterwards(
    anyodm_engine: Engine,
) -> None:
    """It was read with the transaction's own uncommitted write in it: after the abort
    nothing is known of it, so its next save sends it whole."""
    card = await anyodm_engine.save(Card(owner="ann", balance=10, currency="EUR"))
    async with anyodm_engine.transaction() as tx:
        await tx.update_one(Card, Card.id == card.id, update={"$set": {"note": "uncommitted"}})
        seen = await tx.find_one(Card, Card.id == card.id)
        assert seen is not None
        assert seen.note == "uncommitted"
        await tx.abort()
    assert seen is not None
    seen.balance = 11  # the note it shows was never committed
    await anyodm_engine.save(seen)
    assert stored(anyodm_engine, seen) == seen.model_dump_doc()


async def test_an_instance_read_in_a_committed_transaction_is_saved(anyodm_engine: Engine) -> None:
    card = await anyodm_engine.save(Card(owner="ann", balance=10, currency="EUR"))
    async with anyodm_engine.transaction() as tx:
        seen = await tx.find_one(Card, Card.id == card.id)
        streamed = [c async for c in tx.find(Card)]
    assert seen is not None
    assert changes_for_save(seen) == {}
    assert changes_for_save(streamed[0]) == {}
    seen.note = "later"
    assert changes_for_save(seen) == {"note": "later"}


def test_sync_instance_read_in_an_aborted_transaction(anyodm_sync_engine: SyncEngine) -> None:
    card = anyodm_sync_engine.save(Card(owner="ann", balance=10, currency="EUR"))
    with anyodm_sync_engine.transaction() as tx:
        tx.update_one(Card, Card.id == card.id, update={"$set": {"note": "uncommitted"}})
        seen = tx.find_one(Card, Card.id == card.id)
        tx.abort()
    assert seen is not None
    seen.balance = 12
    anyodm_sync_engine.save(seen)
    assert stored(anyodm_sync_engine, seen) == seen.model_dump_doc()
