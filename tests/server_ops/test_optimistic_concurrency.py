# ruff: noqa: RUF012 - pydantic model_config (ruff cannot tell Model is pydantic)

"""Optimistic concurrency (opt-in per model): a stale save or delete raises
RevisionConflictError and writes nothing; on Engine (trio, asyncio) and SyncEngine."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import (
    DocumentNotFoundError,
    Engine,
    Field,
    Model,
    RevisionConflictError,
    SyncEngine,
    Transaction,
    update,
)


class Account(Model):
    owner: str
    balance: int = 0

    model_config = {"optimistic_concurrency": True}


class Named(Model):
    name: str = Field(primary_field=True)
    value: int = 0

    model_config = {"optimistic_concurrency": True}


class Plain(Model):
    value: int = 0


def raw_doc(engine: Any, instance: Any) -> dict[str, Any]:
    doc: dict[str, Any] = engine.database[type(instance).__anyodm__.collection].find_one(
        {"_id": instance.__anyodm_pk_value__}
    )
    return doc


async def test_revision_starts_at_one_and_counts_writes(engine: Any) -> None:
    account = await engine.save(Account(owner="ann"))
    assert raw_doc(engine, account)["_rev"] == 1
    account.balance = 5
    await engine.save(account)
    account.balance = 6
    await engine.save(account)
    assert raw_doc(engine, account) == {"_id": account.id, "owner": "ann", "balance": 6, "_rev": 3}
    await engine.save(account)  # nothing modified: nothing sent
    assert raw_doc(engine, account)["_rev"] == 3


async def test_a_stale_save_is_refused_and_writes_nothing(engine: Any) -> None:
    await engine.save(Account(owner="ann"))
    mine = await engine.find_one(Account)
    theirs = await engine.find_one(Account)
    theirs.balance = 100
    await engine.save(theirs)
    mine.owner = "bob"
    with pytest.raises(RevisionConflictError, match="Account"):
        await engine.save(mine)
    assert raw_doc(engine, mine) == {"_id": mine.id, "owner": "ann", "balance": 100, "_rev": 2}
    # re-read and retry
    fresh = await engine.find_one(Account, Account.id == mine.id)
    fresh.owner = "bob"
    await engine.save(fresh)
    assert raw_doc(engine, fresh)["owner"] == "bob"


async def test_a_stale_delete_is_refused(engine: Any) -> None:
    account = await engine.save(Account(owner="ann"))
    other = await engine.find_one(Account)
    other.balance = 1
    await engine.save(other)
    with pytest.raises(RevisionConflictError):
        await engine.delete(account)
    assert await engine.count(Account) == 1
    await engine.delete(other)
    assert await engine.count(Account) == 0
    with pytest.raises(DocumentNotFoundError):
        await engine.delete(other)


async def test_a_save_after_a_delete_elsewhere_conflicts(engine: Any) -> None:
    account = await engine.save(Account(owner="ann"))
    await engine.remove(Account)
    account.balance = 3
    with pytest.raises(RevisionConflictError):
        await engine.save(account)
    assert await engine.count(Account) == 0


async def test_updates_without_loading_make_instances_stale(engine: Any) -> None:
    account = await engine.save(Account(owner="ann"))
    await engine.update_one(Account, update=update.inc(Account.balance, 1))
    assert raw_doc(engine, account)["_rev"] == 2
    account.owner = "x"
    with pytest.raises(RevisionConflictError):
        await engine.save(account)
    fresh = await engine.find_one_and_update(Account, update=update.inc(Account.balance, 1))
    assert raw_doc(engine, fresh)["_rev"] == 3
    fresh.owner = "y"
    await engine.save(fresh)


async def test_a_fresh_instance_with_a_taken_key_conflicts(engine: Any) -> None:
    await engine.save(Named(name="a", value=1))
    with pytest.raises(RevisionConflictError, match="already exists, and this instance was never"):
        await engine.save(Named(name="a", value=2))
    with pytest.raises(RevisionConflictError, match="already exists, and this instance was never"):
        await engine.save_all([Named(name="a", value=3)])
    assert raw_doc(engine, Named(name="a"))["value"] == 1


async def test_save_all_checks_each_instance(engine: Any) -> None:
    first, second = await engine.save_all([Account(owner="a"), Account(owner="b")])
    stale = await engine.find_one(Account, Account.owner == "b")
    second.balance = 9
    await engine.save(second)
    first.balance, stale.balance = 1, 2
    with pytest.raises(RevisionConflictError, match="changed or deleted since this instance"):
        await engine.save_all([first, stale])
    assert raw_doc(engine, first)["balance"] == 1  # before the conflict: saved
    assert raw_doc(engine, stale)["balance"] == 9


async def test_models_without_the_option_have_no_revision(engine: Any) -> None:
    plain = await engine.save(Plain())
    assert "_rev" not in raw_doc(engine, plain)


async def test_a_conflict_in_with_transaction_is_the_callers(anyodm_engine: Engine) -> None:
    account = await anyodm_engine.save(Account(owner="ann"))
    other = await anyodm_engine.find_one(Account)
    other.balance = 7
    await anyodm_engine.save(other)
    calls = 0

    async def pay(tx: Transaction, stale: Account) -> None:
        nonlocal calls
        calls += 1
        stale.balance += 1
        await tx.save(stale)

    with pytest.raises(RevisionConflictError):
        await anyodm_engine.with_transaction(pay, account)
    assert calls == 1  # not retried: the conflict is not transient

    async def pay_fresh(tx: Transaction) -> int:
        current = await tx.find_one(Account, Account.id == account.id)
        current.balance += 1
        await tx.save(current)
        return current.balance

    assert await anyodm_engine.with_transaction(pay_fresh) == 8


def test_an_aborted_transaction_keeps_the_known_revision(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    account = engine.save(Account(owner="ann"))
    with pytest.raises(ZeroDivisionError), engine.transaction() as tx:
        account.balance = 1
        tx.save(account)
        1 / 0  # noqa: B018
    # the aborted write did not happen: the instance still knows revision 1
    engine.save(account)
    assert raw_doc(engine, account) == {"_id": account.id, "owner": "ann", "balance": 1, "_rev": 2}


def test_the_revision_key_is_reserved() -> None:
    with pytest.raises(TypeError, match="_rev"):

        class Bad(Model):
            rev: int = Field(0, key_name="_rev")

            model_config = {"optimistic_concurrency": True}
