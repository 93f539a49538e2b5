"""Hooks on the async engine: awaited on the event loop, their writes in the caller's
session or transaction, cancellation like the operation's (trio and asyncio)."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from anyodm import (
    Engine,
    HookContext,
    Insert,
    Model,
    Save,
    Session,
    Transaction,
    after_event,
    before_event,
)
from anyodm.model.tracking import is_persisted
from tests.hooks.models import CALLS


class Entry(Model):
    """What the hooks write themselves."""

    text: str


class Account(Model):
    owner: str
    balance: int = 0

    @before_event(Save)
    async def log_before(self, context: HookContext) -> None:
        CALLS.append(("thread", threading.get_ident()))
        await context.engine.save(Entry(text=f"saving {self.owner}"), session=context.session)

    @after_event(Insert)
    async def log_after(self, context: HookContext) -> None:
        CALLS.append(("session", context.session))
        await anyio.sleep(0)
        await context.engine.save(Entry(text=f"opened {self.owner}"), session=context.session)


class Slow(Model):
    """A before-hook that waits until the test lets it go (or is cancelled): it sets
    ``HOOK_EVENTS[0]`` once it runs, and waits for ``HOOK_EVENTS[1]``."""

    name: str

    @before_event(Save)
    async def wait(self) -> None:
        entered, release = HOOK_EVENTS
        entered.set()
        await release.wait()

    @after_event(Save)
    async def after(self) -> None:
        CALLS.append(("after", self.name))


HOOK_EVENTS: list[Any] = []


@pytest.fixture
def hook_events() -> Any:
    HOOK_EVENTS[:] = [anyio.Event(), anyio.Event()]
    yield HOOK_EVENTS
    HOOK_EVENTS.clear()


async def entries(engine: Engine) -> list[str]:
    return sorted(entry.text for entry in await engine.find(Entry))


async def test_async_hooks_run_on_the_event_loop_thread(anyodm_engine: Engine) -> None:
    await anyodm_engine.save(Account(owner="ann"))
    assert [("thread", threading.get_ident()), ("session", None)] == CALLS
    assert await entries(anyodm_engine) == ["opened ann", "saving ann"]


async def test_hook_writes_commit_with_the_transaction(anyodm_engine: Engine) -> None:
    async with anyodm_engine.transaction() as tx:
        await tx.save(Account(owner="ann"))
        assert await entries(anyodm_engine) == []  # not committed yet
    assert ("session", tx) in CALLS
    assert isinstance(tx, Transaction)
    assert await entries(anyodm_engine) == ["opened ann", "saving ann"]
    assert await anyodm_engine.count(Account) == 1


async def test_hook_writes_abort_with_the_transaction(anyodm_engine: Engine) -> None:
    account = Account(owner="ann")
    with pytest.raises(RuntimeError):
        async with anyodm_engine.transaction() as tx:
            await tx.save(account)
            raise RuntimeError("abort")
    assert await entries(anyodm_engine) == []
    assert await anyodm_engine.count(Account) == 0
    assert not is_persisted(account)


async def test_hook_writes_run_in_the_callers_session(anyodm_engine: Engine) -> None:
    async with anyodm_engine.session() as session:
        await session.save(Account(owner="ann"))
        assert isinstance(dict(CALLS)["session"], Session)
    assert await entries(anyodm_engine) == ["opened ann", "saving ann"]


async def test_a_with_transaction_callback_retried_runs_the_hooks_again(
    anyodm_engine: Engine,
) -> None:
    from pymongo.errors import OperationFailure

    attempts = 0

    async def open_account(tx: Transaction) -> None:
        nonlocal attempts
        attempts += 1
        await tx.save(Account(owner="ann"))
        if attempts == 1:
            raise OperationFailure(
                "conflict", code=112, details={"errorLabels": ["TransientTransactionError"]}
            )

    await anyodm_engine.with_transaction(open_account)
    assert attempts == 2
    assert await entries(anyodm_engine) == ["opened ann", "saving ann"]


async def test_a_cancelled_before_hook_sends_nothing(
    anyodm_engine: Engine, hook_events: Any
) -> None:
    entered, _ = hook_events
    slow = Slow(name="s")
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyodm_engine.save, slow)
        await entered.wait()
        tg.cancel_scope.cancel()
    assert await anyodm_engine.count(Slow) == 0
    assert not is_persisted(slow)
    assert CALLS == []
    assert anyodm_engine.thread_limiter.borrowed_tokens == 0


async def test_a_before_hook_under_a_deadline_that_passes_sends_nothing(
    anyodm_engine: Engine, hook_events: Any
) -> None:
    slow = Slow(name="s")
    with anyio.move_on_after(0.05) as scope:
        await anyodm_engine.save(slow)
    assert scope.cancelled_caught
    assert await anyodm_engine.count(Slow) == 0


async def test_a_cancelled_before_hook_in_a_transaction_aborts_its_writes(
    anyodm_engine: Engine, hook_events: Any
) -> None:
    entered, _ = hook_events

    class Logged(Slow):
        @before_event(Save)
        async def log(self, context: HookContext) -> None:
            await context.engine.save(Entry(text="hook"), session=context.session)

    async def save_in_transaction() -> None:
        async with anyodm_engine.transaction() as tx:
            await tx.save(Entry(text="before"))
            await tx.save(Logged(name="l"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(save_in_transaction)
        await entered.wait()
        tg.cancel_scope.cancel()
    assert await entries(anyodm_engine) == []
    assert await anyodm_engine.count(Logged) == 0


async def test_an_after_hook_cancelled_leaves_the_write_done(
    anyodm_engine: Engine, hook_events: Any
) -> None:
    entered, release = hook_events

    class Announced(Model):
        name: str

        @after_event(Save)
        async def announce(self) -> None:
            entered.set()
            await anyio.sleep_forever()

    announced = Announced(name="a")
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyodm_engine.save, announced)
        await entered.wait()
        tg.cancel_scope.cancel()
    assert await anyodm_engine.count(Announced) == 1
    assert is_persisted(announced)
    release.set()


async def test_two_tasks_saving_with_hooks_at_once(anyodm_engine: Engine) -> None:
    async with anyio.create_task_group() as tg:
        for owner in ("ann", "bob"):
            tg.start_soon(anyodm_engine.save, Account(owner=owner))
    assert await entries(anyodm_engine) == ["opened ann", "opened bob", "saving ann", "saving bob"]


async def test_skip_hooks_in_a_transaction(anyodm_engine: Engine) -> None:
    account = Account(owner="ann")
    async with anyodm_engine.transaction() as tx:
        await tx.save(account, skip_hooks=True)
        await tx.save_all([account], skip_hooks=True)
        await tx.delete(account, skip_hooks=True)
    assert CALLS == []
    assert await entries(anyodm_engine) == []


async def test_a_raw_driver_session_is_the_hooks_session(anyodm_engine: Engine) -> None:
    with anyodm_engine.client.start_session() as raw:
        await anyodm_engine.save(Account(owner="ann"), session=raw)
    assert ("session", raw) in CALLS
    assert await entries(anyodm_engine) == ["opened ann", "saving ann"]
