"""The examples of docs/testing.md, as written there (so the page stays true)."""

from __future__ import annotations

import anyio
import pytest

from anyodm import Engine, Field, Model, SyncEngine, TransactionPhase
from anyodm.testing.plugin import ArmFailPoint


class Account(Model):
    owner: str = Field(unique=True)
    balance: int


async def test_a_deadline_aborts_the_transfer(anyodm_engine: Engine) -> None:
    tx = anyodm_engine.transaction()
    with anyio.move_on_after(0.2):
        async with tx:
            await tx.save(Account(owner="a", balance=1))
            await anyio.sleep(5)
    assert tx.phase is TransactionPhase.ABORTED
    assert await anyodm_engine.count(Account) == 0


async def test_server_slowness_meets_the_deadline(
    anyodm_engine: Engine, failpoint: ArmFailPoint
) -> None:
    failpoint(["find"], mode={"times": 1}, block_ms=2000)
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.3):
            await anyodm_engine.find_one(Account)


def test_sync(anyodm_sync_engine: SyncEngine) -> None:
    anyodm_sync_engine.save(Account(owner="b", balance=2))
    assert anyodm_sync_engine.count(Account) == 1
