"""``SyncEngine``: the blocking engine, calling the operations core directly."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pymongo import MongoClient
from pymongo.client_session import ClientSession
from typing_extensions import Self, TypeVarTuple, Unpack

from anyodm.core import operations as ops
from anyodm.core.changes import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_AWAIT_TIME,
    ChangeReader,
    SyncChangeStream,
    make_watch_spec,
)
from anyodm.core.engine_base import EngineBase
from anyodm.core.engine_methods import SyncEngineMethods
from anyodm.core.retry import DEFAULT_TRANSACTION_TIME_LIMIT
from anyodm.core.session import SyncSession, SyncTransaction
from anyodm.core.startup import OnPending, decide_on_pending, migration_statuses, plan_startup
from anyodm.errors import SessionStateError

if TYPE_CHECKING:
    from anyodm.migrations.loading import MigrationSource
    from anyodm.migrations.steps import MigrationReport, MigrationStatus, Progress
    from anyodm.model import Model
    from anyodm.model.model import ODMModelMetaclass

__all__ = ["SyncEngine", "driver_session_of_sync"]

M = TypeVar("M", bound="Model")
T = TypeVar("T")
Ts = TypeVarTuple("Ts")

SyncSessionLike = SyncSession | SyncTransaction | ClientSession | None


def driver_session_of_sync(
    engine: SyncEngine, session: Any, operation: str
) -> ClientSession | None:
    """The driver session behind a ``session=`` argument of a sync operation."""
    if session is None:
        return None
    if isinstance(session, (SyncSession, SyncTransaction)):
        if session.engine is not engine:
            raise SessionStateError(
                f"SyncEngine.{operation}() got a session of another engine: "
                "use a session from this engine's session()/transaction()"
            )
        return session.driver_session_for(operation)
    if isinstance(session, ClientSession):
        return session
    from anyodm.aio.session import Session, Transaction

    if isinstance(session, (Session, Transaction)):
        raise SessionStateError(
            f"SyncEngine.{operation}() got an async {type(session).__name__}: a SyncEngine "
            "needs a SyncSession/SyncTransaction from its own session()/transaction()"
        )
    raise TypeError(
        f"SyncEngine.{operation}(session=...) needs a SyncSession, SyncTransaction or a "
        f"pymongo ClientSession, got {type(session).__name__}"
    )


class SyncEngine(EngineBase, SyncEngineMethods):
    """A blocking MongoDB engine with the same methods as :class:`anyodm.Engine`.

    ``client`` is a ``pymongo.MongoClient`` (used as is, never closed by the engine) or a
    connection string (the engine then owns its client and closes it in ``close()``).
    ``database`` is the database the models are stored in; without it, the database
    named in the connection string (``mongodb://host/mydb``), else ``"test"``.
    """

    def __init__(
        self,
        client: MongoClient[Any] | str | None = None,
        database: str | None = None,
        *,
        transaction_time_limit: float = DEFAULT_TRANSACTION_TIME_LIMIT,
    ) -> None:
        super().__init__(client, database, transaction_time_limit)

    def _driver_session(self, session: Any, operation: str) -> ClientSession | None:
        """The driver session behind ``session=`` (checked: open, of this engine)."""
        return driver_session_of_sync(self, session, operation)

    def configure_database(
        self,
        models: Iterable[type[Model]],
        *,
        update_existing_indexes: bool = False,
        session: SyncSessionLike = None,
        migrations: MigrationSource | None = None,
        on_pending: OnPending = "refuse",
        migration_records: str = "migrations",
    ) -> None:
        """Prepare the database for ``models``: create their indexes, after checking (or
        running) ``migrations``; see :meth:`anyodm.Engine.configure_database`."""
        plan = plan_startup(models, migrations, on_pending, migration_records)
        driver = driver_session_of_sync(self, session, "configure_database")
        if plan.migrations is not None:
            found = migration_statuses(self.database, plan)
            if decide_on_pending(plan, self.database.name, found):
                self.migrate(plan.migrations, records=plan.records)
        ops.configure_database(self._gateway, plan.indexes, update_existing_indexes, driver)

    # -- change streams --------------------------------------------------------------------

    @overload
    def watch(
        self,
        model: type[M],
        *queries: Any,
        full_document: str | None = None,
        resume_after: Mapping[str, Any] | None = None,
        start_after: Mapping[str, Any] | None = None,
        session: SyncSessionLike = None,
        max_await_time: float = DEFAULT_MAX_AWAIT_TIME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> SyncChangeStream[M]: ...
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
        session: SyncSessionLike = None,
        max_await_time: float = DEFAULT_MAX_AWAIT_TIME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> SyncChangeStream[M]: ...
    @overload
    def watch(
        self,
        model: Sequence[ODMModelMetaclass],
        *queries: Any,
        full_document: str | None = None,
        resume_after: Mapping[str, Any] | None = None,
        start_after: Mapping[str, Any] | None = None,
        session: SyncSessionLike = None,
        max_await_time: float = DEFAULT_MAX_AWAIT_TIME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> SyncChangeStream[Model]: ...
    def watch(
        self,
        model: type[M] | Sequence[type[M]] | Sequence[ODMModelMetaclass],
        *queries: Any,
        full_document: str | None = None,
        resume_after: Mapping[str, Any] | None = None,
        start_after: Mapping[str, Any] | None = None,
        session: SyncSessionLike = None,
        max_await_time: float = DEFAULT_MAX_AWAIT_TIME,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> SyncChangeStream[Any]:
        """Changes of ``model``'s collection matching ``queries`` (or, given a list of
        models, of their collections): ``with engine.watch(M) as changes: for change
        in changes``."""
        spec = make_watch_spec(
            model, queries, full_document, resume_after, start_after, max_await_time, batch_size
        )
        driver = driver_session_of_sync(self, session, "watch")
        reader: ChangeReader[M] = ChangeReader(self._gateway, spec, driver)
        return SyncChangeStream(reader)

    # -- sessions ------------------------------------------------------------------------

    def session(self, **options: Any) -> SyncSession:
        """A new session (``with engine.session() as s``)."""
        return SyncSession(self, **options)

    def transaction(self, **options: Any) -> SyncTransaction:
        """A new transaction in its own session (``with engine.transaction() as tx``)."""
        return SyncTransaction(self, **options)

    def with_transaction(
        self,
        callback: Callable[[SyncTransaction, Unpack[Ts]], T],
        *args: Unpack[Ts],
        time_limit: float | None = None,
    ) -> T:
        """Run ``callback(tx, *args)`` in a transaction, retried by MongoDB's rules."""
        with self.session() as session:
            return session.with_transaction(callback, *args, time_limit=time_limit)

    # -- migrations ----------------------------------------------------------------------

    def migrate(
        self,
        migrations: MigrationSource,
        *,
        to: str | None = None,
        down: int | None = None,
        dry_run: bool = False,
        lock_timeout: float = 90.0,
        lock_lease: float = 60.0,
        records: str = "migrations",
        progress: Progress | None = None,
    ) -> MigrationReport:
        """Run the pending ``migrations`` (see :meth:`anyodm.Engine.migrate`; one at a
        time: ``parallel=`` is the async engine's)."""
        from anyodm.migrations.runner import migrate_sync

        return migrate_sync(
            self,
            migrations,
            to=to,
            down=down,
            dry_run=dry_run,
            lock_timeout=lock_timeout,
            lock_lease=lock_lease,
            records=records,
            progress=progress,
        )

    def migration_status(
        self, migrations: MigrationSource, *, records: str = "migrations"
    ) -> list[MigrationStatus]:
        """Each migration (given or recorded) and what ``records`` says of it."""
        from anyodm.migrations.runner import status_sync

        return status_sync(self, migrations, records)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the client if the engine created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
