"""What an application ported from ODMantic (or Beanie) meets: ODMantic's checks and
refusals, kept the same, each on ``Engine`` (trio, asyncio) and ``SyncEngine``."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import (
    AIOTransaction,
    Engine,
    Model,
    SessionStateError,
    SyncEngine,
    SyncTransaction,
    Transaction,
)


class Item(Model):
    name: str


# -- Transaction(session) takes a started session ------------------------------------------


async def test_transaction_refuses_a_session_not_started(anyodm_engine: Engine) -> None:
    session = anyodm_engine.session()
    for make in (Transaction, AIOTransaction):
        with pytest.raises(RuntimeError, match="provided session is not started") as caught:
            make(session)
        assert isinstance(caught.value, SessionStateError)
    with pytest.raises(RuntimeError, match="provided session is not started"):
        Transaction(anyodm_engine, session=session)
    await session.start()
    await session.end()
    with pytest.raises(RuntimeError, match="provided session is not started"):
        Transaction(session)  # ended: not started any more


async def test_transaction_leaves_the_session_it_did_not_start_open(
    anyodm_engine: Engine,
) -> None:
    async with anyodm_engine.session() as session:
        async with Transaction(session) as tx:
            await tx.save(Item(name="a"))
        assert session.is_started
        assert await session.count(Item) == 1


def test_sync_transaction_refuses_a_session_not_started(anyodm_sync_engine: SyncEngine) -> None:
    session = anyodm_sync_engine.session()
    with pytest.raises(RuntimeError, match="provided session is not started") as caught:
        SyncTransaction(session)
    assert isinstance(caught.value, SessionStateError)
    with pytest.raises(RuntimeError, match="provided session is not started"):
        SyncTransaction(anyodm_sync_engine, session=session)
    with anyodm_sync_engine.session() as started:
        with SyncTransaction(started) as tx:
            tx.save(Item(name="a"))
        assert started.is_started
        assert started.count(Item) == 1
