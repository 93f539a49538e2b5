"""Async sessions and transactions as structured-concurrency contexts.

* **Lifetimes (S3).** A ``Session``/``Transaction`` is usable only while open.  When it
  ends, operations that other tasks still run on it are cancelled (they raise
  :class:`SessionStateError`), and workers started with :meth:`start_soon` live in the
  block's own task group: the block exits only when they are done, and one failing
  cancels the others (and aborts the transaction).
* **Aborts (S4).** A clean exit commits; an exception or cancellation aborts, and so
  does a clean exit whose enclosing scope is already cancelled (or whose deadline has
  passed) by then.  Abort and end-of-session run as one unit through
  :func:`shielded_cleanup` — to completion despite any cancellation, bounded by the
  engine's ``cleanup_timeout``, on worker capacity kept for cleanup — and then the
  original exception or cancellation propagates unchanged.  An exception of the block's
  own code comes out as itself, never wrapped in an ``ExceptionGroup``.
* **One at a time (S5).** Every operation takes the session's FIFO lock, so the PyMongo
  session (not thread-safe) is only ever used by one worker thread at a time; the
  checks that an operation may run (session open, transaction active, one transaction
  per session) are made under that lock.
* **Saved state (S8).** Writes in a transaction record the instances' new saved state as
  pending (:mod:`anyodm.core.pending`); the commit applies it (in the commit's worker
  thread, right after the server said yes), an abort or failed commit drops it.
* **Phases tell the truth (S9).** ``ABORTED`` only once the driver is out of the
  transaction (aborted, or its session ended); ``ABORTING`` while a worker thread that
  still holds the session past the cleanup bound is to abort when its call returns;
  ``COMMITTED`` once the server confirmed; ``COMMIT_UNKNOWN`` when a commit was sent and
  its outcome could not be learned.

Commits are never cut short.  Once a block decides to commit (it exited cleanly and
no cancellation is pending) or ``commit()`` is called, the commit runs to completion,
bounded by ``cleanup_timeout``, so its outcome is known: a block whose transaction
committed exits normally, and a cancellation that arrived during the commit is
delivered at the next checkpoint after it (on asyncio, a native ``task.cancel()`` right
after the commit).

Worst-case bounds: aborting and ending take at most ``cleanup_timeout`` (plus one
second when an operation's thread returns just as the bound runs out); a commit at most
``cleanup_timeout``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from pymongo.client_session import (  # type: ignore[attr-defined,unused-ignore]
    ClientSession,
    TransactionOptions,  # public here; pymongo 4.20's typing misses the re-export
)
from pymongo.errors import OperationFailure
from typing_extensions import Self, TypeVar, TypeVarTuple, Unpack

from anyodm.aio.cleanup import shielded_cleanup
from anyodm.aio.completion import run_to_completion
from anyodm.aio.engine_methods import EngineMethods
from anyodm.aio.threads import remaining_seconds, wait_for_deadline_cancellation
from anyodm.core.binding import session_bound
from anyodm.core.driver_sessions import DriverTurns
from anyodm.core.lifecycle import (
    SessionLifecycle,
    SessionPhase,
    TransactionPhase,
    check_transaction_options,
)
from anyodm.core.pending import PendingStates, open_ledger, settle_ledger
from anyodm.core.retry import (
    backoff_seconds,
    commit_outcome_unknown,
    is_transient,
    should_retry_commit,
)
from anyodm.core.transaction_errors import retries_exhausted, translate_transaction_error
from anyodm.errors import SessionStateError

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from collections.abc import Iterable

    from anyodm.aio.cursor import AsyncCursor
    from anyodm.aio.engine import Engine
    from anyodm.core.bulk_items import BulkItem
    from anyodm.core.bulk_results import BulkResult
    from anyodm.core.options import (
        CountOptions,
        DistinctOptions,
        FindOneOptions,
        FindOptions,
        SaveOptions,
        WriteOptions,
    )
    from anyodm.core.server_operations import UpdateResult
    from anyodm.model import Model

__all__ = ["Session", "Transaction"]

log: logging.Logger = logging.getLogger("anyodm")

M = TypeVar("M", bound="Model")
V = TypeVar("V", default=M)
D = TypeVar("D", default=dict[str, Any])
T = TypeVar("T")
F = TypeVar("F")
Ts = TypeVarTuple("Ts")


class _AsyncCrud:
    """The engine's operations, bound to this session (``session=`` filled in)."""

    engine: Engine
    # What type checkers see: the engine's methods without ``session=`` (a test checks
    # that these declarations are the engine's, parameter for parameter).
    if TYPE_CHECKING:

        def find(
            self,
            model: type[M],
            *queries: Any,
            sort: Any = None,
            skip: int = 0,
            limit: int | None = None,
            projection: type[V] | None = None,
            references: Literal["load", "keys"] = "load",
            with_children: bool = True,
            **options: Unpack[FindOptions],
        ) -> AsyncCursor[V]:
            """Like the engine's ``find``, in this session."""
            ...

        async def find_one(
            self,
            model: type[M],
            *queries: Any,
            sort: Any = None,
            projection: type[V] | None = None,
            references: Literal["load", "keys"] = "load",
            with_children: bool = True,
            **options: Unpack[FindOneOptions],
        ) -> V | None:
            """Like the engine's ``find_one``, in this session."""
            ...

        async def count(
            self,
            model: type[Model],
            *queries: Any,
            with_children: bool = True,
            **options: Unpack[CountOptions],
        ) -> int:
            """Like the engine's ``count``, in this session."""
            ...

        async def save(
            self,
            instance: M,
            *,
            skip_hooks: bool = False,
            **options: Unpack[SaveOptions],
        ) -> M:
            """Like the engine's ``save``, in this session."""
            ...

        async def save_all(
            self,
            instances: Iterable[M],
            *,
            skip_hooks: bool = False,
            **options: Unpack[SaveOptions],
        ) -> list[M]:
            """Like the engine's ``save_all``, in this session."""
            ...

        async def delete(
            self,
            instance: Model,
            *,
            skip_hooks: bool = False,
            **options: Unpack[SaveOptions],
        ) -> None:
            """Like the engine's ``delete``, in this session."""
            ...

        async def remove(
            self,
            model: type[Model],
            *queries: Any,
            just_one: bool = False,
            **options: Unpack[WriteOptions],
        ) -> int:
            """Like the engine's ``remove``, in this session."""
            ...

        async def update_one(
            self,
            model: type[Model],
            *queries: Any,
            update: Any,
            upsert: bool = False,
            **options: Unpack[WriteOptions],
        ) -> UpdateResult:
            """Like the engine's ``update_one``, in this session."""
            ...

        async def update_many(
            self,
            model: type[Model],
            *queries: Any,
            update: Any,
            upsert: bool = False,
            **options: Unpack[WriteOptions],
        ) -> UpdateResult:
            """Like the engine's ``update_many``, in this session."""
            ...

        async def find_one_and_update(
            self,
            model: type[M],
            *queries: Any,
            update: Any,
            sort: Any = None,
            return_updated: bool = True,
            upsert: bool = False,
            **options: Unpack[WriteOptions],
        ) -> M | None:
            """Like the engine's ``find_one_and_update``, in this session."""
            ...

        async def find_one_and_delete(
            self,
            model: type[M],
            *queries: Any,
            sort: Any = None,
            **options: Unpack[WriteOptions],
        ) -> M | None:
            """Like the engine's ``find_one_and_delete``, in this session."""
            ...

        async def distinct(
            self,
            model: type[Model],
            field: Any,
            *queries: Any,
            **options: Unpack[DistinctOptions],
        ) -> list[Any]:
            """Like the engine's ``distinct``, in this session."""
            ...

        def aggregate(
            self,
            model: type[Model],
            pipeline: Any,
            *,
            into: type[D] | None = None,
            **options: Unpack[FindOptions],
        ) -> AsyncCursor[D]:
            """Like the engine's ``aggregate``, in this session."""
            ...

        @overload
        async def fetch(self, instance: Model, field: str) -> Any: ...
        @overload
        async def fetch(self, instance: Model, field: F) -> F: ...
        async def fetch(self, instance: Model, field: Any) -> Any:
            """Like the engine's ``fetch``, in this session."""
            ...
            ...

        async def bulk_write(
            self, items: Iterable[BulkItem], *, ordered: bool = True, skip_hooks: bool = False
        ) -> BulkResult:
            """Like the engine's ``bulk_write``, in this session."""
            ...

    else:
        find = session_bound(EngineMethods.find)
        find_one = session_bound(EngineMethods.find_one)
        count = session_bound(EngineMethods.count)
        save = session_bound(EngineMethods.save)
        save_all = session_bound(EngineMethods.save_all)
        delete = session_bound(EngineMethods.delete)
        remove = session_bound(EngineMethods.remove)
        update_one = session_bound(EngineMethods.update_one)
        update_many = session_bound(EngineMethods.update_many)
        find_one_and_update = session_bound(EngineMethods.find_one_and_update)
        find_one_and_delete = session_bound(EngineMethods.find_one_and_delete)
        distinct = session_bound(EngineMethods.distinct)
        aggregate = session_bound(EngineMethods.aggregate)
        fetch = session_bound(EngineMethods.fetch)
        bulk_write = session_bound(EngineMethods.bulk_write)


def _only_cancellations(exc: BaseException) -> bool:
    """Whether ``exc`` is a cancellation, or a group holding nothing else."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_cancellations(inner) for inner in exc.exceptions)
    return isinstance(exc, anyio.get_cancelled_exc_class())


async def _close_block_task_group(tg: TaskGroup, exc: BaseException | None) -> BaseException | None:
    """Wait for the block's workers; return what the block should raise (None: nothing).

    The block's own exception is kept out of the task group (so it is not wrapped in an
    ExceptionGroup): the workers are cancelled and the exception is returned as is.
    Workers that were only cancelled (by this, or by an enclosing scope) do not wrap it.
    """
    if exc is not None and not isinstance(exc, anyio.get_cancelled_exc_class()):
        tg.cancel_scope.cancel()
        try:
            await tg.__aexit__(None, None, None)
        except BaseException as workers_failed:
            if _only_cancellations(workers_failed):
                return exc
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


async def _pending_cancellation() -> BaseException | None:
    """The cancellation that is already due for this task, if any, as an exception.

    Catches what a checkpoint delivers (anyio scope cancellation, a native asyncio
    ``task.cancel()``), and a deadline that has passed but not fired yet.
    """
    cancelled = anyio.get_cancelled_exc_class()
    try:
        await anyio.lowlevel.checkpoint()
        if anyio.current_effective_deadline() <= anyio.current_time():
            await wait_for_deadline_cancellation()
    except cancelled as exc:
        return exc
    return None


def _always() -> None:
    """A check that always passes (the commit made its checks under the lock)."""


class _TurnHooks:
    """Around each worker-thread call on a session's driver session: take the turn
    (running what cleanup handed over), check that the call may still run — the session
    may have ended, or the transaction aborted, while it waited for a worker slot —
    and give the turn back afterwards (running what was handed over meanwhile)."""

    __slots__ = ("_check", "_driver", "_turns")

    def __init__(
        self, turns: DriverTurns, driver: ClientSession, check: Callable[[], None]
    ) -> None:
        self._turns = turns
        self._driver = driver
        self._check = check

    def enter(self) -> None:
        self._turns.take(self._driver)
        try:
            self._check()
        except BaseException:
            self._turns.give_back(self._driver)
            raise

    def leave(self) -> None:
        self._turns.give_back(self._driver)


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
        # One worker thread in the driver session at a time; cleanup that cannot wait
        # for its turn is handed to the thread holding it (core/driver_sessions.py).
        self._turns = DriverTurns(engine.cleanup_timeout)
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
        guard: Callable[[str], None] | None = None,
        *,
        cleanup: bool = False,
    ) -> T:
        """Run ``func(driver_session)`` in a worker thread, one at a time, while open.

        ``guard(operation)`` (a transaction's "still active" check) is called with the
        session's checks, before and again under the lock.  Raises SessionStateError if
        the session (or the transaction owning ``scopes``) ends before or while it runs.
        """
        self._life.require_open(operation)
        if cleanup:  # closing a cursor: its result is None, or it was handed over
            return cast(T, await self._run_cleanup(func))
        tx = self._transaction
        if scopes is None and tx is not None and tx.is_started:
            # An operation on the session while its transaction is active runs in that
            # transaction (as in PyMongo): it lives and dies with it.
            scopes, guard = tx._op_scopes, tx._require_active
        if guard is not None:
            guard(operation)
        scope = anyio.CancelScope()
        self._op_scopes.add(scope)
        if scopes is not None:
            scopes.add(scope)

        def still_allowed() -> None:  # in the worker thread, in its turn
            self._life.require_open(operation)
            if guard is not None:
                guard(operation)

        try:
            with scope:
                async with self._lock:
                    still_allowed()
                    driver = self._driver
                    assert driver is not None
                    return await self.engine._runner.run(
                        func, driver, hooks=_TurnHooks(self._turns, driver, still_allowed)
                    )
        except OperationFailure as exc:
            error = translate_transaction_error(exc)  # a standalone server's refusal
            if error is exc:
                raise
            raise error from exc
        finally:
            self._op_scopes.discard(scope)
            if scopes is not None:
                scopes.discard(scope)
        # Only reached when end()/an abort cancelled the operation.
        still_allowed()
        raise SessionStateError(f"Session.{operation}() was cancelled because its session ended")

    async def _run_cleanup(self, func: Callable[[ClientSession], T]) -> T | None:
        """Run ``func(driver)`` as cleanup: on the reserved capacity, not behind the lock;
        in its turn, or handed to the thread holding the turn (then None)."""
        driver = self._driver
        if driver is None:
            return None
        result: list[T] = []

        def in_turn(d: ClientSession) -> None:
            result.append(func(d))

        await self.engine._runner.run_cleanup(
            self._turns.cleanup, in_turn, driver, self._turn_wait()
        )
        return result[0] if result else None

    def _turn_wait(self) -> float:
        """How long cleanup waits for its turn: most of the cleanup bound, leaving time
        for the cleanup's own round trip."""
        bound = self.engine.cleanup_timeout
        return max(bound / 2, bound - 1.0)

    async def run_locked_inline(self, operation: str, func: Callable[[ClientSession], T]) -> T:
        """Run a quick, non-I/O ``func(driver_session)`` on the loop, under the lock."""
        async with self._lock:
            self._life.require_open(operation)
            assert self._driver is not None
            return func(self._driver)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the session (``async with`` does it for you)."""
        self._life.begin()
        self._driver = self.engine.client.start_session(**self._options)

    async def end(self) -> None:
        """End the session: cancel operations still running on it, abort an active
        transaction, and release the server session (to completion despite
        cancellation, bounded by the engine's cleanup timeout)."""
        self._life.require_open("end")
        await self._end()

    async def _end(self) -> None:
        await run_to_completion(self._end_steps)

    async def _end_steps(self, wait: bool = True) -> None:
        """End (shielded and bounded: run it inside :func:`run_to_completion`).

        ``wait=False``: hand the end straight to the thread holding the driver session
        (its transaction's abort was already handed to it).
        """
        self._life.phase = SessionPhase.ENDED
        for scope in list(self._op_scopes):
            scope.cancel()
        driver, self._driver = self._driver, None
        if driver is None:
            return
        tx = self._transaction
        if tx is not None and tx.phase not in (TransactionPhase.ACTIVE, TransactionPhase.ABORTING):
            tx = None
        if tx is not None:
            tx.phase = TransactionPhase.ABORTING  # ending the session aborts it

        def end_in_thread(d: ClientSession) -> None:
            d.end_session()  # aborts a transaction still in progress
            if tx is not None:
                tx._settle(TransactionPhase.ABORTED)

        async def release() -> None:
            turn_wait = self._turn_wait() if wait else 0.0
            await self.engine._runner.run_cleanup(
                self._turns.cleanup, end_in_thread, driver, turn_wait
            )

        # If the turn could not be had, the end was handed to the thread in the driver
        # session, which ends it when its call returns; its transaction stays ABORTING.
        await shielded_cleanup("ending a session", release, self.engine.cleanup_timeout)

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
        """Make ``tx`` this session's transaction (called under the session lock)."""
        current = self._transaction
        if current is not None and current.phase in (
            TransactionPhase.ACTIVE,
            TransactionPhase.ABORTING,
        ):
            raise SessionStateError(
                "this session already has an active transaction: one transaction at a time "
                "per session; commit or abort it first, or open another session"
            )
        self._transaction = tx

    async def with_transaction(
        self,
        callback: Callable[[Transaction, Unpack[Ts]], Awaitable[T]],
        *args: Unpack[Ts],
        time_limit: float | None = None,
    ) -> T:
        """``await callback(tx, *args)`` in a transaction, retried by MongoDB's rules.

        Retries the whole callback on ``TransientTransactionError`` and the commit on
        ``UnknownTransactionCommitResult``, within ``time_limit`` seconds (default: the
        engine's ``transaction_time_limit``, 120 s) and never past the caller's deadline.
        Before each retry, every instance saved by the failed attempt is as it was before
        it (S8), so the retry sends it again.  If it returns, the transaction committed
        (unless the callback committed or aborted it itself).  If the time runs out
        while the last error still asks for a retry, it raises
        :class:`~anyodm.errors.TransactionRetriesExhaustedError` (that error as its
        cause, with the number of attempts); other errors are raised as they are.
        """
        self._life.require_open("with_transaction")
        limit = self.engine.transaction_time_limit if time_limit is None else time_limit
        started = anyio.current_time()
        remaining = max(remaining_seconds(), 0.0)
        give_up_at = started + min(limit, remaining)

        def time_left() -> bool:
            return anyio.current_time() < give_up_at

        def gave_up(exc: BaseException, at_commit: bool) -> BaseException:
            return retries_exhausted(
                exc,
                at_commit=at_commit,
                attempts=attempt,
                elapsed=anyio.current_time() - started,
                time_limit=limit,
                deadline_first=remaining < limit,
            )

        attempt = 0
        while True:
            attempt += 1
            tx = self.transaction()
            await tx.start()
            try:
                result = await callback(tx, *args)
            except BaseException as exc:
                await tx._abort_shielded()
                if isinstance(exc, Exception) and is_transient(exc) and time_left():
                    await anyio.sleep(backoff_seconds(attempt))
                    continue
                error = gave_up(exc, at_commit=False)
                if error is exc:
                    raise
                raise error from exc
            if tx.phase is not TransactionPhase.ACTIVE:
                return result  # the callback committed or aborted it itself
            pending = await _pending_cancellation()
            if pending is not None:
                await tx._abort_shielded()
                raise pending
            while True:
                failure = await run_to_completion(tx._commit_steps)
                if failure is None:
                    return result
                if should_retry_commit(failure) and time_left():
                    tx._reopen_for_commit_retry()
                    continue
                if is_transient(failure) and time_left():
                    break
                error = gave_up(failure, at_commit=True)
                if error is failure:
                    raise failure
                raise error from failure
            await anyio.sleep(backoff_seconds(attempt))

    def __repr__(self) -> str:
        return f"<Session {self._life.phase.value}>"


class Transaction(_AsyncCrud):
    """A MongoDB transaction for :class:`anyodm.Engine`.

    ``async with engine.transaction() as tx`` (its own session) or
    ``async with session.transaction() as tx``.  Clean exit commits; an exception, or a
    cancellation of the enclosing scope, aborts.  See the module docs for ``phase``.

    ``Transaction(engine)`` starts and ends a session of its own.  ``Transaction(session)``
    takes a started session (one that is not started raises :class:`SessionStateError`,
    a ``RuntimeError``) and leaves it open when the transaction ends: the session is
    ended by whoever started it.
    """

    def __init__(
        self, engine: Engine | Session, session: Session | None = None, **options: Any
    ) -> None:
        if isinstance(engine, Session):  # ODMantic's spelling: Transaction(session)
            session = engine
            engine = session.engine
        if session is not None and not session.is_started:
            raise SessionStateError(
                "Transaction(session): provided session is not started; start it first "
                "('async with engine.session() as session', or await session.start())"
            )
        self.engine = engine
        self._session = session
        self._owns_session = session is None
        self._options = check_transaction_options(options, "Transaction")
        self._tg: TaskGroup | None = None
        self._op_scopes: set[anyio.CancelScope] = set()
        self._commit_progress: str | None = None  # None, "sent", "done"
        self._ledger: PendingStates | None = None
        self.phase: TransactionPhase = TransactionPhase.NEW

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
        if self.phase is TransactionPhase.COMMITTING:
            raise SessionStateError(
                f"Transaction.{operation}() called while the transaction is committing: "
                "wait for the commit (tx.phase tells its outcome)"
            )
        raise SessionStateError(
            f"Transaction.{operation}() called after the transaction "
            f"{self.phase.value.replace('_', ' ')}: start a new transaction"
        )

    def _settle(self, phase: TransactionPhase) -> None:
        """Enter a final phase; the saved states it implies follow (any thread).

        One way: a transaction known COMMITTED or ABORTED stays so (a late abort or
        session end cannot relabel it).
        """
        if self.phase in (TransactionPhase.COMMITTED, TransactionPhase.ABORTED):
            return
        self.phase = phase
        settle_ledger(self._ledger, phase)

    async def run(
        self, operation: str, func: Callable[[ClientSession], T], *, cleanup: bool = False
    ) -> T:
        """Run ``func(driver_session)`` in the transaction (see :meth:`Session.run`)."""
        self._require_active(operation)
        return await self.session.run(
            operation, func, self._op_scopes, self._require_active, cleanup=cleanup
        )

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
        options = self._options

        def begin(driver: ClientSession) -> None:
            session._attach(self)
            driver.start_transaction(**options)
            self._ledger = open_ledger(driver)
            self.phase = TransactionPhase.ACTIVE

        try:
            await session.run_locked_inline("transaction", begin)
        except BaseException:
            if self._owns_session:
                await session._end()
            raise

    def _commit_in_thread(self, driver: ClientSession) -> None:
        self._commit_progress = "sent"
        driver.commit_transaction()
        self._commit_progress = "done"
        self._settle(TransactionPhase.COMMITTED)  # saved states follow the data at once

    async def commit(self) -> None:
        """Commit.  Once sent, a commit is not cut short by cancellation.

        It runs to completion, bounded by the engine's ``cleanup_timeout``, so that its
        outcome is known: if this returns, the transaction is committed (a cancellation
        that arrived meanwhile is delivered at the caller's next checkpoint); if it
        raises, :attr:`phase` is ``ABORTED`` or ``COMMIT_UNKNOWN``.  Called when the
        caller is already cancelled, it raises the cancellation and sends nothing.
        """
        self._require_active("commit")
        await anyio.lowlevel.checkpoint_if_cancelled()
        failure = await run_to_completion(self._commit_steps)
        if failure is not None:
            raise failure

    async def _commit_steps(self) -> BaseException | None:
        """Commit and settle the phase; returns the failure (run to completion)."""
        self._commit_progress = None
        self.phase = TransactionPhase.COMMITTING
        session = self.session
        runner = self.engine._runner
        failure: BaseException | None = None

        async def send() -> None:
            async with session._lock:
                session._life.require_open("commit")
                driver = session._driver
                assert driver is not None
                await runner.run(
                    self._commit_in_thread,
                    driver,
                    cleanup=True,
                    hooks=_TurnHooks(session._turns, driver, _always),
                )

        with anyio.CancelScope() as bound:
            bound.deadline = anyio.current_time() + self.engine.cleanup_timeout
            try:
                await send()
            except Exception as exc:
                failure = exc
        progress = self._commit_progress
        if progress == "done":
            await self._end_own_session_steps()
            return None
        if progress is None:  # never sent: the transaction can still be aborted
            self.phase = TransactionPhase.ACTIVE
            await self._abort_and_end_steps()
            if failure is None:
                failure = TimeoutError(
                    f"the commit could not be sent within the cleanup timeout "
                    f"({self.engine.cleanup_timeout}s); the transaction was aborted"
                )
            return failure
        if failure is not None and not commit_outcome_unknown(failure):
            self._settle(TransactionPhase.ABORTED)  # the server refused it: nothing committed
        else:
            self._settle(TransactionPhase.COMMIT_UNKNOWN)
        await self._end_own_session_steps()
        if failure is None:
            failure = TimeoutError(
                f"the commit did not finish within the cleanup timeout "
                f"({self.engine.cleanup_timeout}s); its outcome is unknown (tx.phase)"
            )
        return failure

    def _reopen_for_commit_retry(self) -> None:
        """with_transaction retries a commit whose outcome is unknown."""
        self.phase = TransactionPhase.ACTIVE

    async def abort(self) -> None:
        """Abort; nothing of the transaction is committed.

        Runs to completion despite cancellation, bounded by the cleanup timeout, like
        the abort of a cancelled block.  Afterwards :attr:`phase` is ``ABORTED`` (or
        ``ABORTING`` while an operation's thread still holds the session: that thread
        aborts when its call returns).  Called while an abort is already under way, it
        returns at once; while a commit is on its way, it raises ``SessionStateError``.
        """
        if self.phase is TransactionPhase.ABORTING:
            return  # an abort is already under way (tx.phase tells when it is done)
        self._require_active("abort")
        await self._abort_shielded()

    async def _abort_shielded(self) -> None:
        """Abort (if active) and end an own session: one unit, shielded and bounded."""
        await run_to_completion(self._abort_and_end_steps)

    async def _abort_and_end_steps(self) -> None:
        handed_over = await self._abort_steps()
        await self._end_own_session_steps(wait=not handed_over)

    def _abort_in_thread(self, driver: ClientSession) -> None:
        if self.phase is not TransactionPhase.ABORTING:
            return  # settled otherwise meanwhile (the session ended)
        if driver.in_transaction:
            driver.abort_transaction()  # the driver ignores the server's errors here
        self._settle(TransactionPhase.ABORTED)

    async def _abort_steps(self) -> bool:
        """Abort; True if the abort was handed to the thread holding the session."""
        for scope in list(self._op_scopes):
            scope.cancel()
        if self.phase is not TransactionPhase.ACTIVE:
            return False
        session = self.session
        driver = session._driver
        if driver is None:  # the session ended, which aborted the transaction
            self._settle(TransactionPhase.ABORTED)
            return False
        self.phase = TransactionPhase.ABORTING

        async def abort() -> None:
            await self.engine._runner.run_cleanup(
                session._turns.cleanup, self._abort_in_thread, driver, session._turn_wait()
            )

        await shielded_cleanup("aborting a transaction", abort, self.engine.cleanup_timeout)
        # Still ABORTING: handed to the thread in the driver session, which aborts when
        # its call returns (never beside it).
        return self.phase is TransactionPhase.ABORTING

    async def _end_own_session_steps(self, wait: bool = True) -> None:
        for scope in list(self._op_scopes):
            scope.cancel()
        session = self._session
        if self._owns_session and session is not None and session.is_started:
            await session._end_steps(wait=wait)

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
        if self.phase is TransactionPhase.ACTIVE and outcome is None:
            outcome = await _pending_cancellation()  # S4: a cancelled scope never commits
            if outcome is None:
                try:
                    await self.commit()
                except BaseException as commit_failed:
                    if exc is not None and commit_failed is not exc:
                        raise commit_failed from None
                    raise
        if self.phase is TransactionPhase.ACTIVE:
            await self._abort_shielded()
        else:
            await run_to_completion(self._end_own_session_steps)
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
