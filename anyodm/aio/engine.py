"""``Engine``: the async engine for trio and asyncio, a thin front over the operations core."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pymongo import MongoClient
from pymongo.client_session import ClientSession
from typing_extensions import Self, TypeVarTuple, Unpack

from anyodm.aio.changes import ChangeStream
from anyodm.aio.cleanup import shielded_cleanup
from anyodm.aio.cursor import Executor
from anyodm.aio.engine_methods import EngineMethods
from anyodm.aio.raw_sessions import raw_session_turn
from anyodm.aio.session import Session, Transaction
from anyodm.aio.slots import ThreadSlots
from anyodm.aio.threads import DEFAULT_CLEANUP_THREADS, WorkerRunner
from anyodm.core import operations as ops
from anyodm.core.changes import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_AWAIT_TIME,
    ChangeReader,
    make_watch_spec,
)
from anyodm.core.driver_sessions import serialized_on
from anyodm.core.engine_base import EngineBase
from anyodm.core.retry import DEFAULT_TRANSACTION_TIME_LIMIT
from anyodm.core.startup import OnPending, decide_on_pending, migration_statuses, plan_startup
from anyodm.errors import SessionStateError

if TYPE_CHECKING:
    from anyodm.migrations.loading import MigrationSource
    from anyodm.migrations.steps import MigrationReport, MigrationStatus, Progress
    from anyodm.model import Model
    from anyodm.model.model import ODMModelMetaclass

__all__ = ["AIOEngine", "Engine"]

M = TypeVar("M", bound="Model")
T = TypeVar("T")
R = TypeVar("R")
Ts = TypeVarTuple("Ts")

SessionLike = Session | Transaction | ClientSession | None

#: Seconds that aborting a transaction / ending a session may take under cancellation.
DEFAULT_CLEANUP_TIMEOUT = 10.0
_DEFAULT_MAX_THREADS = 100


class Engine(EngineBase, EngineMethods):
    """The async MongoDB engine, for trio and asyncio (through anyio).

    Every PyMongo call runs in a worker thread, at most ``max_threads`` at once
    (default: the client's ``maxPoolSize``), under the caller's anyio deadline; cleanup
    (aborts, ending sessions, closing cursors) has ``cleanup_threads`` more that ordinary
    operations cannot take.  The engine may be used from several event loops, one after
    the other or at once (trio's guest mode on asyncio).  ``client`` is a
    ``pymongo.MongoClient`` (used as is, never closed by the engine) or a connection
    string (the engine owns that client and closes it in ``aclose()`` /
    ``async with engine:``).  ``database`` is the database the models are stored in;
    without it, the database named in the connection string (``mongodb://host/mydb``),
    else ``"test"``.

    ``cleanup_timeout`` bounds the shielded abort/end-session work done under
    cancellation (default 10 s); ``transaction_time_limit`` is ``with_transaction``'s
    default retry window (120 s).
    """

    def __init__(
        self,
        client: MongoClient[Any] | str | None = None,
        database: str | None = None,
        *,
        max_threads: int | None = None,
        cleanup_threads: int = DEFAULT_CLEANUP_THREADS,
        cleanup_timeout: float = DEFAULT_CLEANUP_TIMEOUT,
        transaction_time_limit: float = DEFAULT_TRANSACTION_TIME_LIMIT,
    ) -> None:
        if cleanup_timeout <= 0:
            raise ValueError(f"cleanup_timeout must be positive, got {cleanup_timeout!r}")
        if max_threads is not None and max_threads < 1:
            raise ValueError(f"max_threads must be at least 1, got {max_threads!r}")
        if cleanup_threads < 1:
            raise ValueError(f"cleanup_threads must be at least 1, got {cleanup_threads!r}")
        super().__init__(client, database, transaction_time_limit)
        if max_threads is None:
            pool_size = self._client.options.pool_options.max_pool_size
            max_threads = int(pool_size) if pool_size else _DEFAULT_MAX_THREADS
        self._runner = WorkerRunner(max_threads, cleanup_threads)
        self.cleanup_timeout = cleanup_timeout

    @property
    def thread_limiter(self) -> ThreadSlots:
        """The engine's worker slots: ``total_tokens`` (``max_threads``, may be changed),
        ``borrowed_tokens``, ``available_tokens``, ``reserve_tokens`` (for cleanup)."""
        return self._runner.slots

    # -- where an operation runs ---------------------------------------------------------

    def _driver_session_check(self, session: Any, operation: str) -> ClientSession | None:
        """Validate ``session=`` before anything runs; the raw driver session if given one."""
        if session is None:
            return None
        if isinstance(session, (Session, Transaction)):
            if session.engine is not self:
                raise SessionStateError(
                    f"Engine.{operation}() got a session of another engine: "
                    "use a session from this engine's session()/transaction()"
                )
            if isinstance(session, Transaction):
                session._require_active(operation)
            else:
                session._life.require_open(operation)
            return None
        if isinstance(session, ClientSession):
            return session
        from anyodm.core.session import SyncSession, SyncTransaction

        if isinstance(session, (SyncSession, SyncTransaction)):
            raise SessionStateError(
                f"Engine.{operation}() got a {type(session).__name__}: the async Engine "
                "needs a Session/Transaction from its own session()/transaction()"
            )
        raise TypeError(
            f"Engine.{operation}(session=...) needs a Session, Transaction or a pymongo "
            f"ClientSession, got {type(session).__name__}"
        )

    def _executor(
        self, session: SessionLike, operation: str
    ) -> tuple[Executor, ClientSession | None]:
        """How to run ``func(driver_session)`` — in the session (serialized) or directly —
        and the driver session it will get."""
        raw = self._driver_session_check(session, operation)
        if isinstance(session, (Session, Transaction)):
            bound = session

            def run_in_session(
                operation: str, func: Callable[[ClientSession | None], R], cleanup: bool = False
            ) -> Awaitable[R]:
                return bound.run(operation, func, cleanup=cleanup)

            return run_in_session, session.get_driver_session()
        runner = self._runner

        def run_direct(
            operation: str, func: Callable[[ClientSession | None], R], cleanup: bool = False
        ) -> Awaitable[R]:
            if raw is None:
                return runner.run(func, None, cleanup=cleanup)
            return run_on_raw(raw, func, cleanup)

        async def run_on_raw(
            raw: ClientSession, func: Callable[[ClientSession | None], R], cleanup: bool
        ) -> R:
            # A raw ClientSession is not thread-safe: its calls take turns (S5), waiting
            # in the event loop (cancellable, under the deadline), then in the thread.
            async with raw_session_turn(raw):
                return await runner.run(serialized_on, raw, func, cleanup=cleanup)

        return run_direct, raw

    async def _run(
        self, session: SessionLike, operation: str, func: Callable[[ClientSession | None], T]
    ) -> T:
        if session is None:
            return await self._runner.run(func, None)
        execute, _ = self._executor(session, operation)
        return await execute(operation, func)

    async def configure_database(
        self,
        models: Iterable[type[Model]],
        *,
        update_existing_indexes: bool = False,
        session: SessionLike = None,
        migrations: MigrationSource | None = None,
        on_pending: OnPending = "refuse",
        migration_records: str = "migrations",
    ) -> None:
        """Prepare the database for ``models``: create their indexes (replacing changed
        ones with ``update_existing_indexes=True``).

        With ``migrations`` (a directory of migration modules, a package, or a list of
        ``Migration`` objects, as :meth:`migrate` takes), first check that each one is
        applied (in ``migration_records``); if some are not, ``on_pending`` decides:
        ``"refuse"`` (the default) raises :class:`~anyodm.errors.PendingMigrationsError`
        naming them and creates nothing, ``"warn"`` logs a warning (logger ``"anyodm"``)
        and goes on, ``"run"`` applies them (as :meth:`migrate` does, taking each one's
        lock) before creating the indexes.  Idempotent, and safe to run from many tasks
        and processes at once.  Migrations run outside ``session``.
        """
        plan = plan_startup(models, migrations, on_pending, migration_records)
        self._driver_session_check(session, "configure_database")
        if plan.migrations is not None:
            database = self.database
            found = await self._run(
                None, "configure_database", lambda d: migration_statuses(database, plan)
            )
            if decide_on_pending(plan, database.name, found):
                await self.migrate(plan.migrations, records=plan.records)
        gateway = self._gateway
        await self._run(
            session,
            "configure_database",
            lambda d: ops.configure_database(gateway, plan.indexes, update_existing_indexes, d),
        )

    # -- change streams --------------------------------------------------------------------

    @overload
    def watch(
        self,
        model: type[M],
        *queries: Any,
        full_document: str | None = None,
        resume_after: Mapping[str, Any] | None = None,
        start_after: Mapping[str, Any] | None = None,
        session: SessionLike = None,
        max_await_time: float = DEFAULT_MAX_AWAIT_TIME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> ChangeStream[M]: ...
    # A list of models: pyright solves M as their union; mypy joins the classes of a
    # list display to the metaclass, hence the third overload (events of Model).
    @overload
    def watch(  # pyright: ignore[reportOverlappingOverload]
        self,
        model: Sequence[type[M]],
        *queries: Any,
        full_document: str | None = None,
        resume_after: Mapping[str, Any] | None = None,
        start_after: Mapping[str, Any] | None = None,
        session: SessionLike = None,
        max_await_time: float = DEFAULT_MAX_AWAIT_TIME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> ChangeStream[M]: ...
    @overload
    def watch(
        self,
        model: Sequence[ODMModelMetaclass],
        *queries: Any,
        full_document: str | None = None,
        resume_after: Mapping[str, Any] | None = None,
        start_after: Mapping[str, Any] | None = None,
        session: SessionLike = None,
        max_await_time: float = DEFAULT_MAX_AWAIT_TIME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> ChangeStream[Model]: ...
    def watch(
        self,
        model: type[M] | Sequence[type[M]] | Sequence[ODMModelMetaclass],
        *queries: Any,
        full_document: str | None = None,
        resume_after: Mapping[str, Any] | None = None,
        start_after: Mapping[str, Any] | None = None,
        session: SessionLike = None,
        max_await_time: float = DEFAULT_MAX_AWAIT_TIME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> ChangeStream[Any]:
        """Changes of ``model``'s collection matching ``queries`` (or, given a list of
        models, of their collections): ``async with engine.watch(M) as changes:
        async for change in changes``.  A cancelled stream stops within
        ``max_await_time`` (plus a round trip) and closes its server cursor."""
        spec = make_watch_spec(
            model, queries, full_document, resume_after, start_after, max_await_time, batch_size
        )
        execute, driver = self._executor(session, "watch")
        reader: ChangeReader[M] = ChangeReader(self._gateway, spec, driver)
        return ChangeStream(reader, execute, self.cleanup_timeout)

    # -- sessions ------------------------------------------------------------------------

    def session(self, **options: Any) -> Session:
        """A new session (``async with engine.session() as s``)."""
        return Session(self, **options)

    def transaction(self, **options: Any) -> Transaction:
        """A new transaction in its own session (``async with engine.transaction()``)."""
        return Transaction(self, **options)

    async def with_transaction(
        self,
        callback: Callable[[Transaction, Unpack[Ts]], Awaitable[T]],
        *args: Unpack[Ts],
        time_limit: float | None = None,
    ) -> T:
        """``await callback(tx, *args)`` in a transaction, retried by MongoDB's rules
        (see :meth:`Session.with_transaction`).  If it returns, the transaction committed
        (unless the callback aborted it itself, as with PyMongo's)."""
        # Raw style on purpose: a committed transaction returns its result even if a
        # cancellation landed during the commit (delivered at the caller's next
        # checkpoint), like Transaction.commit(); the session's end is shielded.
        session = self.session()
        await session.start()
        try:
            return await session.with_transaction(callback, *args, time_limit=time_limit)
        finally:
            await session._end()

    # -- migrations ----------------------------------------------------------------------

    async def migrate(
        self,
        migrations: MigrationSource,
        *,
        to: str | None = None,
        down: int | None = None,
        dry_run: bool = False,
        parallel: bool = False,
        lock_timeout: float = 90.0,
        lock_lease: float = 60.0,
        records: str = "migrations",
        progress: Progress | None = None,
    ) -> MigrationReport:
        """Run the pending ``migrations`` (a directory of migration modules, a package, or
        a list of ``Migration`` objects), in name order, up to ``to`` (all by default);
        or, with ``down=N``, the backward steps of the last ``N`` applied ones.

        Each batch commits with its checkpoint in one transaction, so a run that is
        cancelled, fails or dies resumes where it stopped and never migrates a document
        twice.  A lock per migration (in ``records``) keeps other processes out: a run
        waits up to ``lock_timeout`` seconds for it; a holder that died loses it after
        ``lock_lease`` seconds.  ``parallel=True`` runs the migrations of different
        collections at once, one worker per collection, in one task group.
        ``dry_run=True`` reads and converts every document and writes nothing.
        """
        from anyodm.migrations.runner import migrate_async

        return await migrate_async(
            self,
            migrations,
            to=to,
            down=down,
            dry_run=dry_run,
            parallel=parallel,
            lock_timeout=lock_timeout,
            lock_lease=lock_lease,
            records=records,
            progress=progress,
        )

    async def migration_status(
        self, migrations: MigrationSource, *, records: str = "migrations"
    ) -> list[MigrationStatus]:
        """Each migration (given or recorded) and what ``records`` says of it."""
        from anyodm.migrations.runner import status_async

        return await status_async(self, migrations, records)

    # -- lifecycle -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the client if the engine created it (in a worker thread)."""
        if self._owns_client:
            client = self._client
            await shielded_cleanup(
                "closing the client",
                lambda: self._runner.run_cleanup(client.close),
                self.cleanup_timeout,
            )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


AIOEngine = Engine
