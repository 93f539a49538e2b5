"""``EngineLifespan``: an application's engine, opened and configured at start-up and
closed at shutdown (``FastAPI(lifespan=EngineLifespan(...))``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
    nullcontext,
    suppress,
)
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from typing_extensions import TypedDict, Unpack

from anyodm.aio.engine import Engine
from anyodm.core.startup import OnPending, plan_startup
from anyodm.errors import LifespanError

if TYPE_CHECKING:
    from anyodm.migrations.loading import MigrationSource
    from anyodm.model import Model

__all__ = ["EngineLifespan", "EngineOptions"]


class EngineOptions(TypedDict, total=False):
    """The options of :class:`~anyodm.Engine` an :class:`EngineLifespan` passes on."""

    max_threads: int | None
    cleanup_threads: int
    cleanup_timeout: float
    transaction_time_limit: float


class EngineLifespan:
    """An application lifespan that owns an :class:`~anyodm.Engine`.

    ``FastAPI(lifespan=EngineLifespan(uri, models=[...]))``: at start-up it opens an
    ``Engine(client, database, **engine_options)`` and runs
    ``configure_database(models, migrations=..., on_pending=...)`` (indexes created,
    migrations checked, reported or run: see :meth:`anyodm.Engine.configure_database`);
    a failure there fails the start-up and closes the engine.  While the application
    runs, :attr:`engine` is the engine, :meth:`get_engine` gives it as a dependency
    (``Depends(lifespan.get_engine)``), and the application's ``state`` (Starlette's
    ``app.state``) has it as ``state_attribute`` (``None``: not set).  At shutdown the
    engine is closed.

    Called with the application, it is an async context manager, so it also composes
    with a lifespan of the application's own (``async with lifespan(app): ...``).  The
    arguments are checked when it is made (models, migrations, ``on_pending``); nothing
    connects before start-up.
    """

    def __init__(
        self,
        client: MongoClient[Any] | str | None = None,
        database: str | None = None,
        *,
        models: Iterable[type[Model]] = (),
        migrations: MigrationSource | None = None,
        on_pending: OnPending = "refuse",
        migration_records: str = "migrations",
        update_existing_indexes: bool = False,
        state_attribute: str | None = "engine",
        **engine_options: Unpack[EngineOptions],
    ) -> None:
        self._models = list(models)
        self._migrations = _read_once(migrations)
        plan_startup(self._models, self._migrations, on_pending, migration_records)
        if state_attribute is not None and not state_attribute.isidentifier():
            raise ValueError(
                f"EngineLifespan(state_attribute=...) needs an attribute name or None, "
                f"got {state_attribute!r}"
            )
        self._client = client
        self._database = database
        self._on_pending: OnPending = on_pending
        self._records = migration_records
        self._update_existing_indexes = update_existing_indexes
        self._state_attribute = state_attribute
        self._engine_options = engine_options
        self._engine: Engine | None = None
        self._running = False

    @property
    def engine(self) -> Engine:
        """The open engine (``LifespanError`` before start-up and after shutdown)."""
        if self._engine is None:
            raise LifespanError(
                "EngineLifespan.engine: the application is not running (the engine opens "
                "at start-up: pass this lifespan to the application, "
                "FastAPI(lifespan=...), and run it under an ASGI server or a test client "
                "that runs lifespans)"
            )
        return self._engine

    async def get_engine(self) -> Engine:
        """The open engine, as a dependency: ``Annotated[Engine,
        Depends(lifespan.get_engine)]`` (async, so FastAPI calls it in the event loop
        rather than in a worker thread)."""
        return self.engine

    def __call__(self, app: object) -> AbstractAsyncContextManager[None]:
        """The lifespan of ``app``: the engine is open while it runs."""
        return self._lifespan(app)

    @asynccontextmanager
    async def _lifespan(self, app: object) -> AsyncIterator[None]:
        if self._running:
            raise LifespanError(
                "EngineLifespan: started while it already runs (one EngineLifespan per "
                "running application)"
            )
        self._running = True
        try:
            async with Engine(self._client, self._database, **self._engine_options) as engine:
                await engine.configure_database(
                    self._models,
                    migrations=self._migrations,
                    on_pending=self._on_pending,
                    migration_records=self._records,
                    update_existing_indexes=self._update_existing_indexes,
                )
                with self._in_state_of(app, engine):
                    self._engine = engine
                    try:
                        yield
                    finally:
                        self._engine = None
        finally:
            self._running = False

    def _in_state_of(self, app: object, engine: Engine) -> AbstractContextManager[None]:
        state = getattr(app, "state", None)
        name = self._state_attribute
        if name is None or state is None:
            return nullcontext()
        if getattr(state, name, None) is not None:
            raise LifespanError(
                f"EngineLifespan: the application's state already has {name!r}; pass "
                "state_attribute= another name (or None)"
            )
        return _attribute_set(state, name, engine)


@contextmanager
def _attribute_set(state: object, name: str, engine: Engine) -> Iterator[None]:
    """``state.<name>`` is the engine while the application runs."""
    setattr(state, name, engine)
    try:
        yield
    finally:
        with suppress(AttributeError):
            delattr(state, name)


def _read_once(source: MigrationSource | None) -> MigrationSource | None:
    """An iterable of Migration objects as a list (read once); a path or package as is."""
    if source is None or isinstance(source, (str, os.PathLike, ModuleType)):
        return source
    return list(source)
