"""Hooks on ``SyncEngine``: plain hooks run, with their writes in the caller's session
or transaction; an async hook is refused before anything runs or is sent."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest

from anyodm import (
    Model,
    Save,
    SyncEngine,
    SyncHookContext,
    SyncTransaction,
    after_event,
    before_event,
)
from anyodm.model.tracking import is_persisted
from tests.hooks.models import CALLS


class Entry(Model):
    text: str


class Ledger(Model):
    owner: str

    @before_event(Save)
    def log(self, context: SyncHookContext) -> None:
        CALLS.append(("session", context.session))
        context.engine.save(Entry(text=f"saving {self.owner}"), session=context.session)


class Mixed(Model):
    name: str

    @before_event(Save)
    def plain(self) -> None:
        CALLS.append(("plain", self.name))

    @after_event(Save)
    async def notify(self) -> None:
        CALLS.append(("notify", self.name))


async def _later() -> None:
    pass


def _returns_awaitable(self: Any) -> Awaitable[None]:
    return _later()


class Sneaky(Model):
    name: str

    hidden = before_event(Save)(_returns_awaitable)


def entries(engine: SyncEngine) -> list[str]:
    return sorted(entry.text for entry in engine.find(Entry))


def test_hook_writes_commit_and_abort_with_the_sync_transaction(
    anyodm_sync_engine: SyncEngine,
) -> None:
    with anyodm_sync_engine.transaction() as tx:
        tx.save(Ledger(owner="ann"))
        assert entries(anyodm_sync_engine) == []
    assert [("session", tx)] == CALLS
    assert isinstance(tx, SyncTransaction)
    assert entries(anyodm_sync_engine) == ["saving ann"]

    bob = Ledger(owner="bob")
    with pytest.raises(RuntimeError), anyodm_sync_engine.transaction() as tx:
        tx.save(bob)
        raise RuntimeError("abort")
    assert entries(anyodm_sync_engine) == ["saving ann"]
    assert anyodm_sync_engine.count(Ledger) == 1
    assert not is_persisted(bob)


def test_hook_without_a_session_gets_none(anyodm_sync_engine: SyncEngine) -> None:
    anyodm_sync_engine.save(Ledger(owner="ann"))
    assert CALLS == [("session", None)]
    assert entries(anyodm_sync_engine) == ["saving ann"]


def test_an_async_hook_is_refused_before_anything_runs(anyodm_sync_engine: SyncEngine) -> None:
    mixed = Mixed(name="m")
    with pytest.raises(TypeError, match=r"SyncEngine\.save\(\): Mixed\.notify is an async hook"):
        anyodm_sync_engine.save(mixed)
    with pytest.raises(TypeError, match=r"SyncEngine\.save_all\(\): Mixed\.notify"):
        anyodm_sync_engine.save_all([Mixed(name="n")])
    with anyodm_sync_engine.transaction() as tx, pytest.raises(TypeError, match=r"Mixed\.notify"):
        tx.save(mixed)
    assert CALLS == []  # not even the plain hook before it
    assert anyodm_sync_engine.count(Mixed) == 0
    assert not is_persisted(mixed)


def test_skip_hooks_saves_a_model_with_async_hooks(anyodm_sync_engine: SyncEngine) -> None:
    mixed = Mixed(name="m")
    anyodm_sync_engine.save(mixed, skip_hooks=True)
    with anyodm_sync_engine.session() as session:
        session.save_all([mixed], skip_hooks=True)
        session.delete(mixed, skip_hooks=True)
    assert CALLS == []
    assert anyodm_sync_engine.count(Mixed) == 0


def test_a_plain_hook_returning_an_awaitable_is_an_error(anyodm_sync_engine: SyncEngine) -> None:
    with pytest.raises(TypeError, match=r"Sneaky\.hidden.*returned an awaitable"):
        anyodm_sync_engine.save(Sneaky(name="s"))
    assert anyodm_sync_engine.count(Sneaky) == 0
