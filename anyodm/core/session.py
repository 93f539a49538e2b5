"""Synchronous sessions and transactions (``SyncSession``, ``SyncTransaction``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from pymongo.client_session import (  # type: ignore[attr-defined,unused-ignore]
    ClientSession,
    TransactionOptions,  # public here; pymongo 4.20's typing misses the re-export
)
from typing_extensions import ParamSpec, Self, TypeVar, TypeVarTuple, Unpack

from anyodm.core.binding import session_bound
from anyodm.core.engine_methods import SyncEngineMethods
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

if TYPE_CHECKING:
    from collections.abc import Iterable

    from anyodm.core.bulk_items import BulkItem
    from anyodm.core.bulk_results import BulkResult
    from anyodm.core.cursor import SyncCursor
    from anyodm.core.engine import SyncEngine
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

__all__ = ["SyncSession", "SyncTransaction"]

M = TypeVar("M", bound="Model")
V = TypeVar("V", default=M)
D = TypeVar("D", default=dict[str, Any])
T = TypeVar("T")
F = TypeVar("F")
Ts = TypeVarTuple("Ts")
P = ParamSpec("P")


class _SyncCrud:
    """The engine's operations, bound to this session (``session=`` filled in)."""

    engine: SyncEngine
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
        ) -> SyncCursor[V]:
            """Like the engine's ``find``, in this session."""
            ...

        def find_one(
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

        def count(
            self,
            model: type[Model],
            *queries: Any,
            with_children: bool = True,
            **options: Unpack[CountOptions],
        ) -> int:
            """Like the engine's ``count``, in this session."""
            ...

        def save(
            self,
            instance: M,
            *,
            skip_hooks: bool = False,
            **options: Unpack[SaveOptions],
        ) -> M:
            """Like the engine's ``save``, in this session."""
            ...

        def save_all(
            self,
            instances: Iterable[M],
            *,
            skip_hooks: bool = False,
            **options: Unpack[SaveOptions],
        ) -> list[M]:
            """Like the engine's ``save_all``, in this session."""
            ...

        def delete(
            self,
            instance: Model,
            *,
            skip_hooks: bool = False,
            **options: Unpack[SaveOptions],
        ) -> None:
            """Like the engine's ``delete``, in this session."""
            ...

        def remove(
            self,
            model: type[Model],
            *queries: Any,
            just_one: bool = False,
            **options: Unpack[WriteOptions],
        ) -> int:
            """Like the engine's ``remove``, in this session."""
            ...

        def update_one(
            self,
            model: type[Model],
            *queries: Any,
            update: Any,
            upsert: bool = False,
            **options: Unpack[WriteOptions],
        ) -> UpdateResult:
            """Like the engine's ``update_one``, in this session."""
            ...

        def update_many(
            self,
            model: type[Model],
            *queries: Any,
            update: Any,
            upsert: bool = False,
            **options: Unpack[WriteOptions],
        ) -> UpdateResult:
            """Like the engine's ``update_many``, in this session."""
            ...

        def find_one_and_update(
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

        def find_one_and_delete(
            self,
            model: type[M],
            *queries: Any,
            sort: Any = None,
            **options: Unpack[WriteOptions],
        ) -> M | None:
            """Like the engine's ``find_one_and_delete``, in this session."""
            ...

        def distinct(
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
        ) -> SyncCursor[D]:
            """Like the engine's ``aggregate``, in this session."""
            ...

        @overload
        def fetch(self, instance: Model, field: str) -> Any: ...
        @overload
        def fetch(self, instance: Model, field: F) -> F: ...
        def fetch(self, instance: Model, field: Any) -> Any:
            """Like the engine's ``fetch``, in this session."""
            ...
            ...

        def bulk_write(
            self, items: Iterable[BulkItem], *, ordered: bool = True, skip_hooks: bool = False
        ) -> BulkResult:
            """Like the engine's ``bulk_write``, in this session."""
            ...

    else:
        find = session_bound(SyncEngineMethods.find)
        find_one = session_bound(SyncEngineMethods.find_one)
        count = session_bound(SyncEngineMethods.count)
        save = session_bound(SyncEngineMethods.save)
        save_all = session_bound(SyncEngineMethods.save_all)
        delete = session_bound(SyncEngineMethods.delete)
        remove = session_bound(SyncEngineMethods.remove)
        update_one = session_bound(SyncEngineMethods.update_one)
        update_many = session_bound(SyncEngineMethods.update_many)
        find_one_and_update = session_bound(SyncEngineMethods.find_one_and_update)
        find_one_and_delete = session_bound(SyncEngineMethods.find_one_and_delete)
        distinct = session_bound(SyncEngineMethods.distinct)
        aggregate = session_bound(SyncEngineMethods.aggregate)
        fetch = session_bound(SyncEngineMethods.fetch)
        bulk_write = session_bound(SyncEngineMethods.bulk_write)


class SyncSession(_SyncCrud):
    """A MongoDB session for :class:`SyncEngine` (``with engine.session() as s``)."""

    def __init__(
        self,
        engine: SyncEngine,
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
        self._life = SessionLifecycle("SyncSession")
        self._driver: ClientSession | None = None
        self._transaction: SyncTransaction | None = None

    @property
    def is_started(self) -> bool:
        """True between start and end."""
        return self._life.phase is SessionPhase.STARTED

    def get_driver_session(self) -> ClientSession:
        """The underlying PyMongo ``ClientSession`` (only while started)."""
        self._life.require_open("get_driver_session")
        assert self._driver is not None
        return self._driver

    def driver_session_for(self, operation: str) -> ClientSession:
        """The driver session for an operation; raises if the session is not open."""
        self._life.require_open(operation)
        assert self._driver is not None
        return self._driver

    def start(self) -> None:
        """Start the session (``with`` does it for you)."""
        self._life.begin()
        self._driver = self.engine.client.start_session(**self._options)

    def end(self) -> None:
        """End the session; a transaction still active in it is aborted."""
        self._life.require_open("end")
        tx = self._transaction
        try:
            if tx is not None and tx.is_active:
                tx.abort()
        finally:
            self._life.phase = SessionPhase.ENDED
            driver, self._driver = self._driver, None
            if driver is not None:
                driver.end_session()  # aborts a transaction the driver is still in
                if tx is not None and tx.phase in (
                    TransactionPhase.ACTIVE,
                    TransactionPhase.ABORTING,
                ):
                    tx._settle(TransactionPhase.ABORTED)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.is_started:
            self.end()

    def transaction(self, **options: Any) -> SyncTransaction:
        """A transaction in this session (``with session.transaction() as tx``)."""
        return SyncTransaction(self.engine, session=self, **options)

    def with_transaction(
        self,
        callback: Callable[[SyncTransaction, Unpack[Ts]], T],
        *args: Unpack[Ts],
        time_limit: float | None = None,
    ) -> T:
        """Run ``callback(tx, *args)`` in a transaction with MongoDB's retry rules.

        Retries as :meth:`anyodm.Session.with_transaction` does, within ``time_limit``
        seconds (default: the engine's ``transaction_time_limit``); when the time runs
        out while the last error still asks for a retry, it raises
        :class:`~anyodm.errors.TransactionRetriesExhaustedError` (that error as its cause).
        """
        self._life.require_open("with_transaction")
        limit = self.engine.transaction_time_limit if time_limit is None else time_limit
        started = time.monotonic()

        def time_left() -> bool:
            return time.monotonic() - started < limit

        def gave_up(exc: BaseException, at_commit: bool) -> BaseException:
            return retries_exhausted(
                translate_transaction_error(exc),
                at_commit=at_commit,
                attempts=attempt,
                elapsed=time.monotonic() - started,
                time_limit=limit,
            )

        attempt = 0
        while True:
            attempt += 1
            tx = self.transaction()
            tx.start()
            try:
                result = callback(tx, *args)
            except BaseException as exc:
                if tx.is_active:
                    tx.abort()
                if is_transient(exc) and time_left():
                    time.sleep(backoff_seconds(attempt))
                    continue
                error = gave_up(exc, at_commit=False)
                if error is exc:
                    raise
                raise error from exc
            if not tx.is_active:  # the callback committed or aborted itself
                return result
            while True:
                try:
                    tx._commit_once()
                except BaseException as exc:
                    if isinstance(exc, Exception) and should_retry_commit(exc) and time_left():
                        continue
                    tx._finish_after_failed_commit(exc)
                    if isinstance(exc, Exception) and is_transient(exc) and time_left():
                        break
                    error = gave_up(exc, at_commit=True)
                    if error is exc:
                        raise
                    raise error from exc
                tx._finish_committed()
                return result
            time.sleep(backoff_seconds(attempt))

    def _attach(self, tx: SyncTransaction) -> None:
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

    def __repr__(self) -> str:
        return f"<SyncSession {self._life.phase.value}>"


class SyncTransaction(_SyncCrud):
    """A MongoDB transaction for :class:`SyncEngine` (``with engine.transaction() as tx``).

    A clean exit of the ``with`` block commits; an exception aborts.  After an explicit
    ``commit()``/``abort()`` the exit does nothing more and further operations raise.

    ``SyncTransaction(engine)`` starts and ends a session of its own.
    ``SyncTransaction(session)`` takes a started session (one that is not started raises
    :class:`SessionStateError`, a ``RuntimeError``) and leaves it open when the
    transaction ends: the session is ended by whoever started it.
    """

    def __init__(
        self, engine: SyncEngine | SyncSession, session: SyncSession | None = None, **options: Any
    ) -> None:
        if isinstance(engine, SyncSession):  # ODMantic's spelling: SyncTransaction(session)
            session = engine
            engine = session.engine
        if session is not None and not session.is_started:
            raise SessionStateError(
                "SyncTransaction(session): provided session is not started; start it first "
                "('with engine.session() as session', or session.start())"
            )
        self.engine = engine
        self._session = session
        self._owns_session = session is None
        self._options = check_transaction_options(options, "SyncTransaction")
        self._ledger: PendingStates | None = None
        self.phase: TransactionPhase = TransactionPhase.NEW

    @property
    def session(self) -> SyncSession:
        """The session the transaction runs in (only once started)."""
        if self._session is None:
            raise SessionStateError("SyncTransaction has no session before it is started")
        return self._session

    @property
    def is_started(self) -> bool:
        """True while the transaction is active (started, not committed or aborted)."""
        return self.phase is TransactionPhase.ACTIVE

    @property
    def is_active(self) -> bool:
        """Same as :attr:`is_started`."""
        return self.phase is TransactionPhase.ACTIVE

    def get_driver_session(self) -> ClientSession:
        """The underlying PyMongo ``ClientSession`` (only while active)."""
        return self.driver_session_for("get_driver_session")

    def driver_session_for(self, operation: str) -> ClientSession:
        """The driver session for an operation; raises unless the transaction is active."""
        if self.phase is not TransactionPhase.ACTIVE:
            self._raise_not_active(operation)
        return self.session.driver_session_for(operation)

    def _raise_not_active(self, operation: str) -> None:
        if self.phase is TransactionPhase.NEW:
            raise SessionStateError(
                f"SyncTransaction.{operation}() called before the transaction was started: "
                "use 'with engine.transaction() as tx', or call start() first"
            )
        raise SessionStateError(
            f"SyncTransaction.{operation}() called after the transaction "
            f"{self.phase.value.replace('_', ' ')}: start a new transaction"
        )

    def start(self) -> None:
        """Start the transaction (and its own session when it has none)."""
        if self.phase is not TransactionPhase.NEW:
            raise SessionStateError(
                "SyncTransaction already started: a transaction object is used once; "
                "create another with engine.transaction()"
            )
        if self._session is None:
            self._session = self.engine.session()
            self._session.start()
        try:
            self._session._attach(self)
            driver = self._session.driver_session_for("transaction")
            driver.start_transaction(**self._options)
        except BaseException:
            self._end_own_session()
            raise
        self._ledger = open_ledger(driver)
        self.phase = TransactionPhase.ACTIVE

    def _settle(self, phase: TransactionPhase) -> None:
        """Enter a final phase; the saved states it implies follow (S8)."""
        self.phase = phase
        settle_ledger(self._ledger, phase)

    def commit(self) -> None:
        """Commit; the transaction is over afterwards (whatever the outcome)."""
        self.driver_session_for("commit")
        try:
            self._commit_once()
        except BaseException as exc:
            self._finish_after_failed_commit(exc)
            error = translate_transaction_error(exc)
            if error is exc:
                raise
            raise error from exc
        self._finish_committed()

    def _commit_once(self) -> None:
        self.session.driver_session_for("commit").commit_transaction()
        self._settle(TransactionPhase.COMMITTED)

    def _finish_committed(self) -> None:
        self._end_own_session()

    def _finish_after_failed_commit(self, exc: BaseException) -> None:
        # A commit interrupted (KeyboardInterrupt) or unanswered may have been applied.
        unknown = commit_outcome_unknown(exc)
        self._settle(TransactionPhase.COMMIT_UNKNOWN if unknown else TransactionPhase.ABORTED)
        self._end_own_session()

    def abort(self) -> None:
        """Abort; nothing of the transaction is committed."""
        driver = self.driver_session_for("abort")
        try:
            driver.abort_transaction()  # the driver ignores the server's errors here
        finally:
            if driver.in_transaction:  # interrupted before the driver left it
                self.phase = TransactionPhase.ABORTING
            else:
                self._settle(TransactionPhase.ABORTED)
            self._end_own_session()

    def _end_own_session(self) -> None:
        if self._owns_session and self._session is not None and self._session.is_started:
            self._session.end()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.phase is TransactionPhase.ACTIVE:
            if exc is None:
                self.commit()
            else:
                self.abort()
        if exc is not None:
            error = translate_transaction_error(exc)
            if error is not exc:  # a standalone server: say what it means
                raise error from exc

    def __repr__(self) -> str:
        return f"<SyncTransaction {self.phase.value}>"
