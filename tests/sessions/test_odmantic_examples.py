"""ODMantic's documented session and transaction examples, in the same shapes."""

from __future__ import annotations

from typing import Any

from anyodm import Engine, SyncEngine
from tests.sessions.models import Player


async def test_session_context_style(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    await engine.save(Player(name="Leeroy Jenkins", game="WoW"))
    async with engine.session() as session:
        leeroy = await session.find_one(Player, Player.name == "Leeroy Jenkins")
        assert leeroy is not None
        leeroy.game = "World of Warcraft"
        await session.save(leeroy)
        assert await session.count(Player) == 1
    found = await engine.find_one(Player)
    assert found is not None
    assert found.game == "World of Warcraft"


async def test_session_passed_to_engine_methods(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    async with engine.session() as session:
        await engine.save(Player(name="a", game="g"), session=session)
        assert await engine.count(Player, session=session) == 1
        assert [p.name for p in await engine.find(Player, session=session)] == ["a"]


async def test_session_raw_style(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    session = engine.session()
    await session.start()
    assert session.is_started
    await session.save(Player(name="Leeroy Jenkins", game="WoW"))
    assert session.get_driver_session() is not None
    await session.end()
    assert not session.is_started
    assert await engine.count(Player) == 1


async def test_transaction_context_style_commits_on_clean_exit(
    anyodm_engine: Engine, players: Any
) -> None:
    async with anyodm_engine.transaction() as transaction:
        await transaction.save(Player(name="Leeroy Jenkins", game="WoW"))
        await transaction.save(Player(name="Thrall", game="WoW"))
        assert players.count_documents({}) == 0  # not visible before the commit
    assert players.count_documents({}) == 2


async def test_transaction_explicit_commit(anyodm_engine: Engine, players: Any) -> None:
    async with anyodm_engine.transaction() as transaction:
        await transaction.save(Player(name="Leeroy Jenkins", game="WoW"))
        await transaction.commit()
    assert players.count_documents({}) == 1


async def test_transaction_raw_style(anyodm_engine: Engine, players: Any) -> None:
    transaction = anyodm_engine.transaction()
    await transaction.start()
    await transaction.save(Player(name="Leeroy Jenkins", game="WoW"))
    await transaction.commit()
    assert players.count_documents({}) == 1
    transaction = anyodm_engine.transaction()
    await transaction.start()
    await transaction.save(Player(name="Thrall", game="WoW"))
    await transaction.abort()
    assert players.count_documents({}) == 1


async def test_transaction_inside_a_session(anyodm_engine: Engine, players: Any) -> None:
    async with anyodm_engine.session() as session:
        async with session.transaction() as transaction:
            await transaction.save(Player(name="Leeroy Jenkins", game="WoW"))
        assert players.count_documents({}) == 1
        async with session.transaction() as transaction:  # one after the other is fine
            await transaction.save(Player(name="Thrall", game="WoW"))
            await transaction.abort()
    assert players.count_documents({}) == 1


def test_sync_session_and_transaction(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    engine.save(Player(name="Leeroy Jenkins", game="WoW"))
    with engine.session() as session:
        leeroy = session.find_one(Player, Player.name == "Leeroy Jenkins")
        assert leeroy is not None
        leeroy.game = "World of Warcraft"
        session.save(leeroy)
    with engine.transaction() as transaction:
        transaction.save(Player(name="Thrall", game="WoW"))
        transaction.commit()
    with engine.session() as session, session.transaction() as transaction:
        transaction.save(Player(name="Jaina", game="WoW"))
    session = engine.session()
    session.start()
    session.save(Player(name="Arthas", game="WoW"))
    session.end()
    assert engine.count(Player) == 4
    assert engine.find_one(Player, Player.name == "Leeroy Jenkins").game == "World of Warcraft"  # type: ignore[union-attr]


def test_sync_transaction_aborts_on_exception(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    try:
        with engine.transaction() as transaction:
            transaction.save(Player(name="Thrall", game="WoW"))
            raise KeyError("boom")
    except KeyError:
        pass
    assert engine.count(Player) == 0


async def test_session_and_transaction_options_reach_the_driver(
    anyodm_engine: Engine, players: Any
) -> None:
    from pymongo import ReadPreference
    from pymongo.read_concern import ReadConcern
    from pymongo.write_concern import WriteConcern

    async with anyodm_engine.session(causal_consistency=True) as session:
        assert session.get_driver_session().options.causal_consistency
        async with session.transaction(
            read_concern=ReadConcern("snapshot"),
            write_concern=WriteConcern("majority"),
            read_preference=ReadPreference.PRIMARY,
        ) as tx:
            opts = tx.get_driver_session()._transaction.opts
            assert opts.read_concern == ReadConcern("snapshot")
            assert opts.write_concern == WriteConcern("majority")
            await tx.save(Player(name="opt", game="g"))
    assert players.count_documents({}) == 1


def test_sync_session_options(anyodm_sync_engine: SyncEngine) -> None:
    from pymongo.write_concern import WriteConcern

    with anyodm_sync_engine.session(causal_consistency=False) as session:
        assert not session.get_driver_session().options.causal_consistency
        with session.transaction(write_concern=WriteConcern("majority")) as tx:
            tx.save(Player(name="opt", game="g"))
    assert anyodm_sync_engine.count(Player) == 1
