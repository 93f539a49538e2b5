"""The two ways a transaction cannot go through, as anyodm reports them.

* A standalone ``mongod`` refuses transactions (code 20): ``TransactionsNotSupportedError``
  says a replica set is needed and how to get one.  The embedded server and replica
  sets run transactions, so the refusal is made here in the driver, at the point where
  a standalone server answers it (the first command of the transaction); the
  ``standalone`` test at the end meets a real one in CI.
* ``with_transaction`` that runs out of time while the last error still asks for a
  retry raises ``TransactionRetriesExhaustedError``: the window ran out, after how many
  attempts, with the last error as its cause.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest
from pymongo.client_session import ClientSession
from pymongo.errors import OperationFailure

from anyodm import (
    AnyODMError,
    Engine,
    SyncEngine,
    TransactionPhase,
    TransactionRetriesExhaustedError,
    TransactionsNotSupportedError,
)
from anyodm.core.transaction_errors import (
    retries_exhausted,
    transactions_unsupported,
    translate_transaction_error,
)
from tests.sessions.models import Player

STANDALONE_MESSAGE = "Transaction numbers are only allowed on a replica set member or mongos"
WRITE_CONFLICT = 112


def standalone_refusal() -> OperationFailure:
    """What a standalone mongod answers to the first command of a transaction."""
    return OperationFailure(
        STANDALONE_MESSAGE,
        code=20,
        details={
            "ok": 0.0,
            "errmsg": STANDALONE_MESSAGE,
            "code": 20,
            "codeName": "IllegalOperation",
        },
    )


@pytest.fixture
def standalone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server refuses every command sent inside a transaction, as a standalone does."""
    real_apply_to = ClientSession._apply_to

    def apply_to(self: ClientSession, command: MutableMapping[str, Any], *args: Any) -> None:
        if self.in_transaction:
            raise standalone_refusal()
        real_apply_to(self, command, *args)

    monkeypatch.setattr(ClientSession, "_apply_to", apply_to)


def check_standalone_error(error: TransactionsNotSupportedError) -> None:
    assert isinstance(error, AnyODMError)
    assert isinstance(error.__cause__, OperationFailure)
    assert error.__cause__.code == 20
    assert error.driver_error is error.__cause__
    message = str(error)
    assert "replica set" in message
    assert "standalone" in message
    assert "--replSet" in message
    assert "rs.initiate()" in message
    assert "anyodm.testing" in message


# -- the mapping itself -----------------------------------------------------------------


def test_a_standalone_refusal_is_mapped() -> None:
    refusal = standalone_refusal()
    assert transactions_unsupported(refusal)
    error = translate_transaction_error(refusal)
    assert isinstance(error, TransactionsNotSupportedError)
    check_standalone_error(error)
    assert STANDALONE_MESSAGE in str(error)


@pytest.mark.parametrize(
    "other",
    [
        OperationFailure("Cannot do that", code=20),  # IllegalOperation for another reason
        OperationFailure("Write conflict", code=WRITE_CONFLICT),
        ValueError(STANDALONE_MESSAGE),
    ],
)
def test_other_errors_pass_through(other: BaseException) -> None:
    assert not transactions_unsupported(other)
    assert translate_transaction_error(other) is other


def test_only_retryable_errors_become_retries_exhausted() -> None:
    plain = OperationFailure("bad value", code=2)
    assert retries_exhausted(plain, at_commit=True, attempts=1, elapsed=0, time_limit=1) is plain
    unknown = OperationFailure(
        "commit outcome unknown",
        code=8,
        details={"errorLabels": ["UnknownTransactionCommitResult"]},
    )
    # The callback's errors are retried only when transient.
    assert retries_exhausted(unknown, at_commit=False, attempts=1, elapsed=0, time_limit=1) is (
        unknown
    )
    error = retries_exhausted(unknown, at_commit=True, attempts=3, elapsed=2.5, time_limit=2)
    assert isinstance(error, TransactionRetriesExhaustedError)
    assert error.outcome_unknown
    assert "may have committed" in str(error)


def test_the_callers_deadline_is_named_when_it_ended_the_window() -> None:
    conflict = OperationFailure(
        "Write conflict",
        code=WRITE_CONFLICT,
        details={"errorLabels": ["TransientTransactionError"]},
    )
    error = retries_exhausted(
        conflict, at_commit=False, attempts=4, elapsed=0.5, time_limit=120, deadline_first=True
    )
    assert isinstance(error, TransactionRetriesExhaustedError)
    assert error.deadline_first
    assert "the caller's deadline ended its retry window" in str(error)
    assert "after 4 attempt(s)" in str(error)


# -- a standalone server, on each engine ------------------------------------------------


@pytest.mark.usefixtures("standalone")
async def test_async_transaction_on_a_standalone(anyodm_engine: Engine, players: Any) -> None:
    with pytest.raises(TransactionsNotSupportedError) as info:
        async with anyodm_engine.transaction() as tx:
            await tx.save(Player(name="a", game="g"))
    check_standalone_error(info.value)
    assert tx.phase is TransactionPhase.ABORTED
    assert players.count_documents({}) == 0


@pytest.mark.usefixtures("standalone")
async def test_async_read_in_a_transaction_on_a_standalone(anyodm_engine: Engine) -> None:
    async with anyodm_engine.transaction() as tx:
        with pytest.raises(TransactionsNotSupportedError):
            await tx.find(Player)  # the operation itself raises it
        await tx.abort()


@pytest.mark.usefixtures("standalone")
async def test_async_with_transaction_on_a_standalone(anyodm_engine: Engine, players: Any) -> None:
    calls = 0

    async def work(tx: Any) -> None:
        nonlocal calls
        calls += 1
        await tx.save(Player(name="b", game="g"))

    with pytest.raises(TransactionsNotSupportedError) as info:
        await anyodm_engine.with_transaction(work)
    check_standalone_error(info.value)
    assert calls == 1  # not retried: it cannot succeed
    assert players.count_documents({}) == 0


@pytest.mark.usefixtures("standalone")
def test_sync_transaction_on_a_standalone(anyodm_sync_engine: SyncEngine) -> None:
    with (
        pytest.raises(TransactionsNotSupportedError) as info,
        anyodm_sync_engine.transaction() as tx,
    ):
        tx.save(Player(name="c", game="g"))
    check_standalone_error(info.value)
    assert tx.phase is TransactionPhase.ABORTED
    assert anyodm_sync_engine.count(Player) == 0


@pytest.mark.usefixtures("standalone")
def test_sync_with_transaction_on_a_standalone(anyodm_sync_engine: SyncEngine) -> None:
    calls = 0

    def work(tx: Any) -> None:
        nonlocal calls
        calls += 1
        tx.save(Player(name="d", game="g"))

    with pytest.raises(TransactionsNotSupportedError) as info:
        anyodm_sync_engine.with_transaction(work)
    check_standalone_error(info.value)
    assert calls == 1
    assert anyodm_sync_engine.count(Player) == 0


@pytest.mark.standalone
async def test_a_real_standalone_server_refuses_with_the_anyodm_error(
    anyodm_engine: Engine, anyodm_sync_engine: SyncEngine
) -> None:
    with pytest.raises(TransactionsNotSupportedError) as info:
        async with anyodm_engine.transaction() as tx:
            await tx.save(Player(name="e", game="g"))
    check_standalone_error(info.value)
    with pytest.raises(TransactionsNotSupportedError), anyodm_sync_engine.transaction() as sync_tx:
        sync_tx.save(Player(name="f", game="g"))


# -- with_transaction's retry window ----------------------------------------------------


def arm_endless_conflicts(failpoint: Any) -> None:
    failpoint(
        ["insert"],
        mode="alwaysOn",
        error_code=WRITE_CONFLICT,
        error_labels=["TransientTransactionError"],
    )


def check_exhausted(error: TransactionRetriesExhaustedError, calls: int, limit: float) -> None:
    assert isinstance(error, AnyODMError)
    assert not isinstance(error, OperationFailure)  # nothing tells the reader to retry
    assert error.attempts == calls
    assert error.time_limit == limit
    assert error.elapsed >= limit
    assert not error.outcome_unknown
    assert not error.deadline_first
    cause = error.__cause__
    assert isinstance(cause, OperationFailure)
    assert cause.has_error_label("TransientTransactionError")
    assert error.last_error is cause
    message = str(error)
    assert f"gave up after {calls} attempt(s)" in message
    assert f"retry window (time_limit={limit:g}s) ran out" in message
    assert "nothing of the transaction was committed" in message
    assert "code 112" in message


async def test_async_retry_window_runs_out(
    anyodm_engine: Engine, players: Any, failpoint: Any
) -> None:
    calls = 0

    async def work(tx: Any) -> None:
        nonlocal calls
        calls += 1
        await tx.save(Player(name="t", game="g"))

    arm_endless_conflicts(failpoint)
    with pytest.raises(TransactionRetriesExhaustedError) as info:
        await anyodm_engine.with_transaction(work, time_limit=0.3)
    assert calls >= 2
    check_exhausted(info.value, calls, 0.3)
    assert players.count_documents({}) == 0


def test_sync_retry_window_runs_out(anyodm_sync_engine: SyncEngine, failpoint: Any) -> None:
    calls = 0

    def work(tx: Any) -> None:
        nonlocal calls
        calls += 1
        tx.save(Player(name="t", game="g"))

    arm_endless_conflicts(failpoint)
    with pytest.raises(TransactionRetriesExhaustedError) as info:
        anyodm_sync_engine.with_transaction(work, time_limit=0.3)
    assert calls >= 2
    check_exhausted(info.value, calls, 0.3)
    assert anyodm_sync_engine.count(Player) == 0


def always_unknown_commit(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every commit fails with UnknownTransactionCommitResult (in the driver: the
    embedded server's fail points skip commitTransaction)."""
    commits: list[int] = []

    def commit(self: ClientSession) -> None:
        commits.append(1)
        raise OperationFailure(
            "commit outcome unknown",
            code=8,
            details={"errorLabels": ["UnknownTransactionCommitResult"]},
        )

    monkeypatch.setattr(ClientSession, "commit_transaction", commit)
    return commits


async def test_async_retry_window_runs_out_on_an_unknown_commit(
    anyodm_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = always_unknown_commit(monkeypatch)

    async def work(tx: Any) -> None:
        await tx.save(Player(name="u", game="g"))

    with pytest.raises(TransactionRetriesExhaustedError) as info:
        await anyodm_engine.with_transaction(work, time_limit=0.2)
    assert len(commits) >= 2  # the commit alone was retried
    assert info.value.attempts == 1
    assert info.value.outcome_unknown
    assert "may have committed" in str(info.value)
    assert info.value.__cause__ is info.value.last_error


def test_sync_retry_window_runs_out_on_an_unknown_commit(
    anyodm_sync_engine: SyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = always_unknown_commit(monkeypatch)

    def work(tx: Any) -> None:
        tx.save(Player(name="u", game="g"))

    with pytest.raises(TransactionRetriesExhaustedError) as info:
        anyodm_sync_engine.with_transaction(work, time_limit=0.2)
    assert len(commits) >= 2
    assert info.value.attempts == 1
    assert info.value.outcome_unknown


async def test_a_non_retryable_error_is_not_wrapped(anyodm_engine: Engine, failpoint: Any) -> None:
    async def work(tx: Any) -> None:
        await tx.save(Player(name="v", game="g"))

    failpoint(["insert"], mode="alwaysOn", error_code=2)
    with pytest.raises(OperationFailure) as info:
        await anyodm_engine.with_transaction(work, time_limit=0.01)
    assert info.value.code == 2
