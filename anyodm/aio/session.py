"""Async sessions and transactions as structured-concurrency contexts.

* **Lifetimes (S3).** A ``Session``/``Transaction`` is usable only while open.  When it
  ends, operations that other tasks still run on it are cancelled (they raise
  :class:`SessionStateError`), and workers started with :meth:`start_soon` live in the
  block's own task group: the block exits only when they are done, and one failing
  cancels the others (and aborts the transaction).
* **Aborts (S4).** A clean exit commits; an exception or cancellation aborts.  Abort and
  end-of-session run through :func:`shielded_cleanup` — shielded from the cancellation,
  bounded by the engine's ``cleanup_timeout`` — and then the original exception or
  cancellation propagates unchanged.  An exception of the block's own code comes out as
  itself (never wrapped in an ``ExceptionGroup``), even though a task group is hosted.
* **One at a time (S5).** Every operation takes the session's FIFO lock, so the PyMongo
  session (not thread-safe) is only ever used by one worker thread at a time.

Commits are never cut short.  Once a block decides to commit (it exited cleanly) or
``commit()`` is called, the commit runs shielded, bounded by ``cleanup_timeout``, so
its outcome is known: a block whose transaction committed exits normally, and a
cancellation that arrived during the commit is delivered at the next checkpoint after
it.  When a commit fails, the block raises and :attr:`Transaction.phase` tells what the
caller can know: ``ABORTED`` (nothing of it is committed) or ``COMMIT_UNKNOWN`` (the
outcome could not be learned — a network error, or the cleanup bound ran out; the
server may or may not have committed, as with MongoDB's
``UnknownTransactionCommitResult``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from anyio.abc import TaskGroup
from pymongo.client_session import ClientSession
from pymongo.client_session_shared import TransactionOptions
from typing_extensions import Self, TypeVarTuple, Unpack

from anyodm.aio.cleanup import shielded_cleanup
from anyodm.aio.threads import remaining_seconds
from anyodm.core.lifecycle import (
    SessionLifecycle,
    SessionPhase,
    TransactionPhase,
    check_transaction_options,
)
from anyodm.core.retry import backoff_seconds, is_transient, should_retry_commit
from anyodm.errors import SessionStateError

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from anyodm.aio.cursor import AsyncCursor
    from anyodm.aio.engine import Engine
    from anyodm.model import Model

__all__ = ["Session", "Transaction"]

M = TypeVar("M", bound="Model")
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class _AsyncCrud:
    """The engine's CRUD methods, bound to this session (``session=`` filled in)."""

    engine: Engine

    def _as_session(self) -> Session | Transaction:
        return self  # type: ignore[return-value]

    def find(
        self,
        model: type[M],
        *queries: Any,
        sort: Any = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> AsyncCursor[M]:
        """Like :meth:`Engine.find`, in this session."""
        return self.engine.find(
            model, *queries, sort=sort, skip=skip, limit=limit, session=self._as_session()
        )

    async def find_one(self, model: type[M], *queries: Any, sort: Any = None) -> M | None:
        """Like :meth:`Engine.find_one`, in this session."""
        return await self.engine.find_one(model, *queries, sort=sort, session=self._as_session())

    async def count(self, model: type[Model], *queries: Any) -> int:
        """Like :meth:`Engine.count`, in this session."""
        return await self.engine.count(model, *queries, session=self._as_session())

    async def save(self, instance: M) -> M:
        """Like :meth:`Engine.save`, in this session."""
        return await self.engine.save(instance, session=self._as_session())

    async def save_all(self, instances: Iterable[M]) -> list[M]:
        """Like :meth:`Engine.save_all`, in this session."""
        return await self.engine.save_all(instances, session=self._as_session())

    async def delete(self, instance: Model) -> None:
        """Like :meth:`Engine.delete`, in this session."""
        await self.engine.delete(instance, session=self._as_session())

    async def remove(self, model: type[Model], *queries: Any, just_one: bool = False) -> int:
        """Like :meth:`Engine.remove`, in this session."""
        return await self.engine.remove(
            model, *queries, just_one=just_one, session=self._as_session()
        )


async def _close_block_task_group(tg: TaskGroup, exc: BaseException | None) -> BaseException | None:
    """Wait for the block's workers; return what the block should raise (None: nothing).

    The block's own exception is kept out of the task group (so it is not wrapped in an
    ExceptionGroup): the workers are cancelled and the exception is returned as is.
    """
    if exc is not None and not isinstance(exc, anyio.get_cancelled_exc_class()):
        tg.cancel_scope.cancel()
        try:
            await tg.__aexit__(None, None, None)
        except BaseException as workers_failed:
            both: BaseException = BaseExceptionGroup(
                "the block and its start_soon workers failed", [exc, workers_failed]
            )
            return both
        return exc
    try:
        suppressed = await tg.__aexit__(
            type(exc) if exc else None, exc, exc.__traceback__ if exc else None
        )
    except BaseException as raised:
        return raised
    return None if suppressed else exc


class Session(_AsyncCrud):
    """A MongoDB session for :class:`anyodm.Engine` (``async with engine.session()``)."""

    def __init__(
        self,
        engine: Engine,
        *,
        causal_consistency: bool | None = None,
        default_transaction_options: TransactionOptions | None = None,
        snapshot: bool | None = False,
    ) -> None:
        self.engine = engine
        self._options: dict[str, Any] = {
            "causal_consistency": causal_consistency,
            "default_transaction_options": default_transaction_options,
            "snapshot": snapshot,
        }
        self._life = SessionLifecycle("Session")
        self._driver: ClientSession | None = None
        self._lock = anyio.Lock()
        # Hand-off between the loop and a worker thread still holding the driver session
        # when the session ends and its cleanup bound runs out (see _end).
        self._handoff = threading.Lock()
        self._in_thread = False
        self._release_in_thread = False
        self._op_scopes: set[anyio.CancelScope] = set()
        self._tg: TaskGroup | None = None
        self._transaction: Transaction | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def is_started(self) -> bool:
        """True between start and end."""
        return self._life.phase is SessionPhase.STARTED

    def get_driver_session(self) -> ClientSession:
        """The PyMongo ``ClientSession`` (only while started; don't use it concurrently)."""
        self._life.require_open("get_driver_session")
        assert self._driver is not None
        return self._driver

    # -- running operations --------------------------------------------------------------

    async def run(
        self,
        operation: str,
        func: Callable[[ClientSession], T],
        scopes: set[anyio.CancelScope] | None = None,
    ) -> T:
        """Run ``func(driver_session)`` in a worker thread, one at a time, while open.

        Raises SessionStateError if the session ends before or while it runs.
        """
        self._life.require_open(operation)
        scope = anyio.CancelScope()
        self._op_scopes.add(scope)
        if scopes is not None:
            scopes.add(scope)
        try:
            with scope:
                async with self._lock:
                    self._life.require_open(operation)
                    driver = self._driver
                    assert driver is not None
                    return await self.engine._runner.run_holding_session(
                        self._in_worker, func, driver
                    )
        finally:
            self._op_scopes.discard(scope)
            if scopes is not None:
                scopes.discard(scope)
        raise SessionStateError(  # only reached when end() cancelled the operation
            f"Session.{operation}() was cancelled because the session ended while it ran"
        )

    def _in_worker(self, func: Callable[[ClientSession], T], driver: ClientSession) -> T:
        """Run in the worker thread; end the driver session here if the session ended
        while this thread held it and the end could not wait any longer."""
        with self._handoff:
            self._in_thread = True
        try:
            return func(driver)
        finally:
            with self._handoff:
                self._in_thread = False
                release, self._release_in_thread = self._release_in_thread, False
            if release:
                driver.end_session()

    async def run_locked_inline(self, func: Callable[[ClientSession], T]) -> T:
        """Run a quick, non-I/O ``func(driver_session)`` on the loop, under the lock."""
        async with self._lock:
            assert self._driver is not None
            return func(self._driver)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the session (``async with`` does it for you)."""
        self._life.begin()
        self._driver = self.engine.client.start_session(**self._options)

    async def end(self) -> None:
        """End the session: cancel operations still running on it, abort an active
        transaction, and release the server session (shielded, bounded by the engine's
        cleanup timeout)."""
        self._life.require_open("end")
        await self._end()

    async def _end(self) -> None:
        self._life.phase = SessionPhase.ENDED
        for scope in list(self._op_scopes):
            scope.cancel()
        driver, self._driver = self._driver, None
        if driver is None:
            return
        tx = self._transaction
        if tx is not None and tx.phase is TransactionPhase.ACTIVE:
            tx.phase = TransactionPhase.ABORTED

        async def release() -> None:
            async with self._lock:  # waits for an operation still in its thread
                await self.engine._runner.run_holding_session(driver.end_session)  # aborts a tx

        if await shielded_cleanup("ending a session", release, self.engine.cleanup_timeout):
            return
        # An operation's thread still holds the driver session past the cleanup bound:
        # it ends the session itself when its call returns (never two threads on it).
        with self._handoff:
            if self._in_thread:
                self._release_in_thread = True
                return
        await shielded_cleanup(
            "ending a session",
            lambda: self.engine._runner.run_holding_session(driver.end_session),
            1.0,
        )

    async def __aenter__(self) -> Self:
        await self.start()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        tg, self._tg = self._tg, None
        outcome = exc if tg is None else await _close_block_task_group(tg, exc)
        if self._life.phase is SessionPhase.STARTED:
            tx = self._transaction
            if tx is not None and tx.phase is TransactionPhase.ACTIVE:
                await tx._abort_shielded()
            await self._end()
        if outcome is None:
            return exc is not None  # the task group absorbed its own cancellation
        if outcome is exc:
            return False
        raise outcome

    def start_soon(
        self, func: Callable[[Unpack[Ts]], Coroutine[Any, Any, Any]], *args: Unpack[Ts]
    ) -> None:
        """Run ``await func(*args)`` as a worker bound to this session's block."""
        if self._tg is None or not self.is_started:
            raise SessionStateError(
                "Session.start_soon() works only inside 'async with engine.session() as s:' "
                "(the block hosts the workers' task group); start workers inside the block"
            )
        self._tg.start_soon(func, *args)

    # -- transactions --------------------------------------------------------------------

    def transaction(self, **options: Any) -> Transaction:
        """A transaction in this session (``async with session.transaction() as tx``)."""
        return Transaction(self.engine, session=self, **options)

    def _attach(self, tx: Transaction) -> None:
        if self._transaction is not None and self._transaction.phase is TransactionPhase.ACTIVE:
            raise SessionStateError(
                "this session already has an active transaction: one transaction at a time "
                "per session; commit or abort it first, or open another session"
            )
        self._transaction = tx

    async def with_transaction(
        self,
        callback: Callable[..., Awaitable[T]],
        *args: Any,
        time_limit: float | None = None,
    ) -> T:
        """``await callback(tx, *args)`` in a transaction, retried by MongoDB's rules.

        Retries the whole callback on ``TransientTransactionError`` and the commit on
        ``UnknownTransactionCommitResult``, within ``time_limit`` seconds (default: the
        engine's ``transaction_time_limit``, 120 s) and never past the caller's deadline.
        """
        self._life.require_open("with_transaction")
        limit = self.engine.transaction_time_limit if time_limit is None else time_limit
        give_up_at = anyio.current_time() + min(limit, max(remaining_seconds(), 0.0))

        def time_left() -> bool:
            return anyio.current_time() < give_up_at

        attempt = 0
        while True:
            attempt += 1
            tx = self.transaction()
            await tx.start()
            try:
                result = await callback(tx, *args)
            except BaseException as exc:
                if tx.phase is TransactionPhase.ACTIVE:
                    await tx._abort_shielded()
                if isinstance(exc, Exception) and is_transient(exc) and time_left():
                    await anyio.sleep(backoff_seconds(attempt))
                    continue
                raise
            if tx.phase is not TransactionPhase.ACTIVE:
                return result
            while True:
                try:
                    await tx.commit()
                except Exception as exc:
                    if should_retry_commit(exc) and time_left():
                        tx.phase = TransactionPhase.ACTIVE
                        continue
                    if is_transient(exc) and time_left():
                        break
                    raise
                return result
            await anyio.sleep(backoff_seconds(attempt))

    def __repr__(self) -> str:
        return f"<Session {self._life.phase.value}>"


class Transaction(_AsyncCrud):
    """A MongoDB transaction for :class:`anyodm.Engine`.

    ``async with engine.transaction() as tx`` (its own session) or
    ``async with session.transaction() as tx``.  Clean exit commits; an exception, or a
    cancellation of the enclosing scope, aborts.  See the module docs for ``phase``.
    """

    def __init__(self, engine: Engine, session: Session | None = None, **options: Any) -> None:
        self.engine = engine
        self._session = session
        self._owns_session = session is None
        self._options = check_transaction_options(options, "Transaction")
        self._tg: TaskGroup | None = None
        self._op_scopes: set[anyio.CancelScope] = set()
        self._commit_progress: str | None = None  # None, "sent", "done"
        self.phase = TransactionPhase.NEW

    @property
    def session(self) -> Session:
        """The session the transaction runs in (once started)."""
        if self._session is None:
            raise SessionStateError("Transaction has no session before it is started")
        return self._session

    @property
    def is_started(self) -> bool:
        """True while the transaction is active (started, not committed or aborted)."""
        return self.phase is TransactionPhase.ACTIVE

    def get_driver_session(self) -> ClientSession:
        """The PyMongo ``ClientSession`` (only while active; don't use it concurrently)."""
        self._require_active("get_driver_session")
        return self.session.get_driver_session()

    def _require_active(self, operation: str) -> None:
        if self.phase is TransactionPhase.ACTIVE:
            return
        if self.phase is TransactionPhase.NEW:
            raise SessionStateError(
                f"Transaction.{operation}() called before the transaction was started: "
                "use 'async with engine.transaction() as tx', or await tx.start() first"
            )
        raise SessionStateError(
            f"Transaction.{operation}() called after the transaction "
            f"{self.phase.value.replace('_', ' ')}: start a new transaction"
        )

    async def run(self, operation: str, func: Callable[[ClientSession], T]) -> T:
        """Run ``func(driver_session)`` in the transaction (see :meth:`Session.run`)."""
        self._require_active(operation)
        return await self.session.run(operation, func, self._op_scopes)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the transaction (and its own session when it has none)."""
        if self.phase is not TransactionPhase.NEW:
            raise SessionStateError(
                "Transaction already started: a Transaction is entered/started once; "
                "create another with engine.transaction()"
            )
        if self._session is None:
            self._session = Session(self.engine)
            await self._session.start()
        session = self._session
        session._life.require_open("transaction")
        session._attach(self)
        options = self._options
        try:
            await session.run_locked_inline(lambda d: d.start_transaction(**options))
        except BaseException:
            if self._owns_session:
                await session._end()
            raise
        self.phase = TransactionPhase.ACTIVE

    def _commit_in_thread(self, driver: ClientSession) -> None:
        self._commit_progress = "sent"
        driver.commit_transaction()
        self._commit_progress = "done"

    async def commit(self) -> None:
        """Commit.  Once sent, a commit is not cut short by cancellation.

        It runs shielded, bounded by the engine's ``cleanup_timeout``, so that its
        outcome is known: if this returns, the transaction is committed (a cancellation
        that arrived meanwhile is delivered at the caller's next checkpoint); if it
        raises, :attr:`phase` is ``ABORTED`` or ``COMMIT_UNKNOWN``.
        """
        self._require_active("commit")
        self._commit_progress = None
        failure: BaseException | None = None
        try:
            with anyio.CancelScope(shield=True) as scope:
                scope.deadline = anyio.current_time() + self.engine.cleanup_timeout
                try:
                    await self.session.run("commit", self._commit_in_thread)
                except Exception as exc:
                    failure = exc
        except BaseException:
            # asyncio's own task.cancel(), delivered once the commit's thread finished.
            if self._commit_progress == "done":
                self.phase = TransactionPhase.COMMITTED
            elif self._commit_progress == "sent":
                self.phase = TransactionPhase.COMMIT_UNKNOWN
            else:
                await self._abort_shielded()
            await self._end_own_session()
            raise
        if failure is None and not scope.cancelled_caught:
            self.phase = TransactionPhase.COMMITTED
            await self._end_own_session()
            return
        if self._commit_progress == "done":
            self.phase = TransactionPhase.COMMITTED
        elif failure is not None and not should_retry_commit(failure):
            self.phase = TransactionPhase.ABORTED
        else:
            self.phase = TransactionPhase.COMMIT_UNKNOWN
        await self._end_own_session()
        if failure is not None:
            raise failure
        if self.phase is not TransactionPhase.COMMITTED:
            raise TimeoutError(
                f"the commit did not finish within the cleanup timeout "
                f"({self.engine.cleanup_timeout}s); its outcome is unknown (tx.phase)"
            )

    async def abort(self) -> None:
        """Abort; nothing of the transaction is committed."""
        self._require_active("abort")
        try:
            await self.session.run("abort", lambda d: d.abort_transaction())
        finally:
            self.phase = TransactionPhase.ABORTED
            await self._end_own_session()

    async def _abort_shielded(self) -> None:
        """Abort under cancellation: shielded and bounded (S4)."""
        for scope in list(self._op_scopes):
            scope.cancel()
        if self.phase is not TransactionPhase.ACTIVE:
            return
        self.phase = TransactionPhase.ABORTED
        session = self.session
        if session._driver is None:
            return
        driver = session._driver

        async def abort() -> None:
            async with session._lock:
                if driver.in_transaction:
                    await self.engine._runner.run_holding_session(driver.abort_transaction)

        await shielded_cleanup("aborting a transaction", abort, self.engine.cleanup_timeout)

    async def _end_own_session(self) -> None:
        for scope in list(self._op_scopes):
            scope.cancel()
        if self._owns_session and self._session is not None and self._session.is_started:
            await self._session._end()

    async def __aenter__(self) -> Self:
        await self.start()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        tg, self._tg = self._tg, None
        outcome = exc if tg is None else await _close_block_task_group(tg, exc)
        if self.phase is TransactionPhase.ACTIVE:
            if outcome is None:
                try:
                    await self.commit()
                except BaseException as commit_failed:
                    if exc is not None and commit_failed is not exc:
                        raise commit_failed from None
                    raise
            else:
                await self._abort_shielded()
        await self._end_own_session()
        if outcome is None:
            return exc is not None
        if outcome is exc:
            return False
        raise outcome

    def start_soon(
        self, func: Callable[[Unpack[Ts]], Coroutine[Any, Any, Any]], *args: Unpack[Ts]
    ) -> None:
        """Run ``await func(*args)`` as a worker bound to this transaction's block.

        If it fails, the other workers and the block are cancelled and the transaction
        is aborted.
        """
        if self._tg is None or self.phase is not TransactionPhase.ACTIVE:
            raise SessionStateError(
                "Transaction.start_soon() works only inside "
                "'async with engine.transaction() as tx:' while the transaction is active; "
                "start workers inside the block"
            )
        self._tg.start_soon(func, *args)

    def __repr__(self) -> str:
        return f"<Transaction {self.phase.value}>"
