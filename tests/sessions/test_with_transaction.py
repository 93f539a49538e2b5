"""with_transaction: MongoDB's retry rules on both engines."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import pytest
from pymongo.client_session import ClientSession
from pymongo.errors import OperationFailure

from anyodm import Engine, SyncEngine, TransactionRetriesExhaustedError
from tests.sessions.models import Player

WRITE_CONFLICT = 112
BAD_VALUE = 2
UNKNOWN_ERROR = 8


async def test_transient_errors_retry_the_callback_and_commit_once(
    anyodm_engine: Engine, players: Any, failpoint: Any
) -> None:
    calls = 0

    async def transfer(tx: Any, name: str) -> str:
        nonlocal calls
        calls += 1
        await tx.save(Player(name=name, game="g"))
        return "done"

    failpoint(
        ["insert"],
        mode={"times": 2},
        error_code=WRITE_CONFLICT,
        error_labels=["TransientTransactionError"],
    )
    assert await anyodm_engine.with_transaction(transfer, "leeroy") == "done"
    assert calls == 3
    assert players.count_documents({}) == 1


async def test_unknown_commit_result_retries_only_the_commit(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The embedded server's fail points skip commitTransaction: fail it in the driver.
    calls = commits = 0
    real_commit = ClientSession.commit_transaction

    def flaky_commit(self: ClientSession) -> None:
        nonlocal commits
        commits += 1
        if commits == 1:
            raise OperationFailure(
                "commit outcome unknown",
                code=UNKNOWN_ERROR,
                details={"errorLabels": ["UnknownTransactionCommitResult"]},
            )
        real_commit(self)

    async def work(tx: Any) -> None:
        nonlocal calls
        calls += 1
        await tx.save(Player(name="x", game="g"))

    monkeypatch.setattr(ClientSession, "commit_transaction", flaky_commit)
    await anyodm_engine.with_transaction(work)
    assert (calls, commits) == (1, 2)
    assert players.count_documents({}) == 1


async def test_a_transient_commit_error_retries_the_whole_callback(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = commits = 0
    real_commit = ClientSession.commit_transaction

    def flaky_commit(self: ClientSession) -> None:
        nonlocal commits
        commits += 1
        if commits == 1:
            self.abort_transaction()
            raise OperationFailure(
                "write conflict at commit",
                code=WRITE_CONFLICT,
                details={"errorLabels": ["TransientTransactionError"]},
            )
        real_commit(self)

    async def work(tx: Any) -> None:
        nonlocal calls
        calls += 1
        await tx.save(Player(name=f"x{calls}", game="g"))

    monkeypatch.setattr(ClientSession, "commit_transaction", flaky_commit)
    await anyodm_engine.with_transaction(work)
    assert (calls, commits) == (2, 2)
    assert [p["name"] for p in players.find({})] == ["x2"]


async def test_a_non_transient_error_is_raised_without_retry(
    anyodm_engine: Engine, players: Any, failpoint: Any
) -> None:
    calls = 0

    async def work(tx: Any) -> None:
        nonlocal calls
        calls += 1
        await tx.save(Player(name="y", game="g"))

    failpoint(["insert"], mode={"times": 1}, error_code=BAD_VALUE)
    with pytest.raises(OperationFailure) as info:
        await anyodm_engine.with_transaction(work)
    assert info.value.code == BAD_VALUE
    assert calls == 1
    assert players.count_documents({}) == 0


async def test_an_exception_of_the_callback_aborts_and_is_raised(
    anyodm_engine: Engine, players: Any
) -> None:
    async def work(tx: Any) -> None:
        await tx.save(Player(name="z", game="g"))
        raise LookupError("mine")

    with pytest.raises(LookupError, match="mine"):
        await anyodm_engine.with_transaction(work)
    assert players.count_documents({}) == 0


async def test_retries_stop_at_the_time_limit(
    anyodm_engine: Engine, players: Any, failpoint: Any
) -> None:
    calls = 0

    async def work(tx: Any) -> None:
        nonlocal calls
        calls += 1
        await tx.save(Player(name="t", game="g"))

    failpoint(
        ["insert"],
        mode="alwaysOn",
        error_code=WRITE_CONFLICT,
        error_labels=["TransientTransactionError"],
    )
    with pytest.raises(TransactionRetriesExhaustedError) as info:
        await anyodm_engine.with_transaction(work, time_limit=0.3)
    assert calls >= 2
    assert info.value.attempts == calls
    assert players.count_documents({}) == 0


async def test_retries_never_outlive_the_callers_deadline(
    anyodm_engine: Engine, failpoint: Any
) -> None:
    async def work(tx: Any) -> None:
        await tx.save(Player(name="t", game="g"))

    failpoint(
        ["insert"],
        mode="alwaysOn",
        error_code=WRITE_CONFLICT,
        error_labels=["TransientTransactionError"],
    )
    started = anyio.current_time()
    with anyio.move_on_after(0.4):
        with contextlib.suppress(TransactionRetriesExhaustedError):
            await anyodm_engine.with_transaction(work)
    assert anyio.current_time() - started < 3


def test_sync_with_transaction_retries_transient_errors(
    anyodm_sync_engine: SyncEngine, failpoint: Any
) -> None:
    calls = 0

    def work(tx: Any, name: str) -> int:
        nonlocal calls
        calls += 1
        tx.save(Player(name=name, game="g"))
        return calls

    failpoint(
        ["insert"],
        mode={"times": 1},
        error_code=WRITE_CONFLICT,
        error_labels=["TransientTransactionError"],
    )
    assert anyodm_sync_engine.with_transaction(work, "s") == 2
    assert anyodm_sync_engine.count(Player) == 1


async def test_a_cancellation_during_the_commit_does_not_hide_the_result(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    real_commit = ClientSession.commit_transaction

    def slow_commit(self: ClientSession) -> None:
        real_commit(self)
        time.sleep(0.4)  # the deadline passes while the commit's reply is on its way

    async def work(tx: Any) -> str:
        await tx.save(Player(name="c", game="g"))
        return "committed"

    monkeypatch.setattr(ClientSession, "commit_transaction", slow_commit)
    result = None
    with anyio.move_on_after(0.2):
        result = await anyodm_engine.with_transaction(work)
        await anyio.sleep(1)  # the pending cancellation is delivered here
    assert result == "committed"
    assert players.count_documents({}) == 1
