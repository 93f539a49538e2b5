"""The async engine's operations: thin fronts over the operations core.

Each method validates its arguments (nothing is sent on bad input), then runs the core
function in a worker thread, in the caller's session if one is given.  Sessions and
transactions offer the same methods through :mod:`anyodm.core.binding`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from pymongo.client_session import ClientSession
from typing_extensions import TypeVar, Unpack

from anyodm.aio.cursor import AsyncCursor, Executor
from anyodm.aio.hooks import with_hooks
from anyodm.core import operations as ops
from anyodm.core import server_operations as server
from anyodm.core.arguments import check_instance, check_instances
from anyodm.core.bulk import bulk_write
from anyodm.core.bulk_items import BulkItem, check_items, check_ordered, hooked_items
from anyodm.core.bulk_results import BulkResult
from anyodm.core.delete_rules import needs_own_transaction, refuse_delete_rules
from anyodm.core.fetching import check_fetch, fetch
from anyodm.core.find import (
    BatchReader,
    FindSpec,
    make_aggregate_spec,
    make_filter_spec,
    make_find_spec,
    make_first_spec,
)
from anyodm.core.hooks import HookPlan, bulk_plan, delete_plan, save_plan
from anyodm.core.options import (
    CountOptions,
    DistinctOptions,
    FindOneOptions,
    FindOptions,
    SaveOptions,
    WriteOptions,
    call_options,
)
from anyodm.core.server_operations import (
    UpdateResult,
    make_distinct_spec,
    make_modify_spec,
    make_update_spec,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    from anyodm.aio.engine import Engine
    from anyodm.aio.session import Session, Transaction
    from anyodm.aio.slots import ThreadSlots
    from anyodm.core.gateway import DatabaseGateway
    from anyodm.model import Model

    SessionLike: TypeAlias = Session | Transaction | ClientSession | None

__all__ = ["EngineMethods"]

M = TypeVar("M", bound="Model")
V = TypeVar("V", default=M)
D = TypeVar("D", default=dict[str, Any])
T = TypeVar("T")
F = TypeVar("F")


class EngineMethods:
    """The operations of :class:`anyodm.Engine` (each a front over ``anyodm.core``)."""

    _gateway: DatabaseGateway
    cleanup_timeout: float

    if TYPE_CHECKING:

        @property
        def thread_limiter(self) -> ThreadSlots: ...

        def _executor(
            self, session: SessionLike, operation: str
        ) -> tuple[Executor, ClientSession | None]: ...

        async def _run(
            self, session: SessionLike, operation: str, func: Callable[[ClientSession | None], T]
        ) -> T: ...

    # -- reads ---------------------------------------------------------------------------

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
        session: SessionLike = None,
        **options: Unpack[FindOptions],
    ) -> AsyncCursor[V]:
        """The matching instances: ``await`` for a list, ``async for`` to stream.

        ``projection=View`` (a pydantic model naming some of the model's fields) requests
        only those fields and gives ``View`` instances. ``references="keys"`` looks no
        referenced document up: references hold ``NotLoaded`` placeholders of their
        keys (``fetch`` loads them). ``with_children=False``: only documents of exactly
        ``model``'s class in a polymorphic family.
        """
        spec = make_find_spec(
            model, queries, sort, skip, limit, "find", projection, references, with_children
        )
        spec.options = call_options(spec.model, "find", options)
        return self._cursor("find", spec, session)

    def _cursor(
        self, operation: str, spec: FindSpec[Any], session: SessionLike
    ) -> AsyncCursor[Any]:
        execute, driver = self._executor(session, operation)
        gateway = self._gateway
        slots = self.thread_limiter
        cleanup_timeout = self.cleanup_timeout

        def read_ahead() -> bool:
            # With batch_size= (the default 100-document batches of a stream gain
            # nothing measurable), outside sessions (a driver session is one thread's
            # at a time), and with a worker slot to spare for it.
            return bool(spec.options.batch_size) and driver is None and slots.total_tokens >= 2

        def cursor() -> AsyncCursor[Any]:
            reader = BatchReader(gateway, spec, driver)
            return AsyncCursor(reader, execute, list_all, cleanup_timeout, read_ahead)

        async def list_all() -> list[Any]:
            if read_ahead():
                # Batches of the size asked for: each next one read while the last is
                # decoded (without batch_size=, the server's batches are few and large).
                return await cursor()._read_all()
            found: list[Any] = await execute(operation, lambda d: ops.find_all(gateway, spec, d))
            return found

        return cursor()

    async def find_one(
        self,
        model: type[M],
        *queries: Any,
        sort: Any = None,
        projection: type[V] | None = None,
        references: Literal["load", "keys"] = "load",
        with_children: bool = True,
        session: SessionLike = None,
        **options: Unpack[FindOneOptions],
    ) -> V | None:
        """The first matching instance (of ``projection`` if given), or None
        (``references`` and ``with_children`` as for :meth:`find`)."""
        spec = make_first_spec(model, queries, sort, projection, references, with_children)
        spec.options = call_options(spec.model, "find_one", options)
        gateway = self._gateway
        return await self._run(session, "find_one", lambda d: ops.find_one(gateway, spec, d))

    async def count(
        self,
        model: type[Model],
        *queries: Any,
        with_children: bool = True,
        session: SessionLike = None,
        **options: Unpack[CountOptions],
    ) -> int:
        """How many instances match (``with_children=False``: of exactly ``model``'s
        class in a polymorphic family)."""
        spec = make_filter_spec(model, queries, "count", with_children)
        spec.options = call_options(spec.model, "count", options)
        gateway = self._gateway
        return await self._run(session, "count", lambda d: ops.count(gateway, spec, d))

    # -- writes --------------------------------------------------------------------------

    async def save(
        self,
        instance: M,
        *,
        session: SessionLike = None,
        skip_hooks: bool = False,
        **options: Unpack[SaveOptions],
    ) -> M:
        """Save ``instance`` (its references first); only modified fields are sent.

        The model's event hooks run around it (``skip_hooks=True``: not them)."""
        check_instance(instance, "save")
        given = call_options(type(instance), "save", options)
        gateway = self._gateway

        def write(d: ClientSession | None) -> M:
            return ops.save(gateway, instance, d, given)

        if not type(instance).__anyodm_hooks__.active:
            return await self._run(session, "save", write)
        return await self._hooked(
            session, "save", lambda d: save_plan((instance,), d, skip_hooks), write
        )

    async def save_all(
        self,
        instances: Iterable[M],
        *,
        session: SessionLike = None,
        skip_hooks: bool = False,
        **options: Unpack[SaveOptions],
    ) -> list[M]:
        """Save many instances with one bulk write per model.

        Each listed instance's event hooks run around it (``skip_hooks=True``: not them)."""
        items: list[M] = check_instances(instances, "save_all")  # type: ignore[assignment]
        given = call_options(None, "save_all", options)
        gateway = self._gateway

        def write(d: ClientSession | None) -> list[M]:
            return ops.save_all(gateway, items, d, given)

        if not any(type(item).__anyodm_hooks__.active for item in items):
            return await self._run(session, "save_all", write)
        return await self._hooked(
            session, "save_all", lambda d: save_plan(items, d, skip_hooks), write
        )

    async def delete(
        self,
        instance: Model,
        *,
        session: SessionLike = None,
        skip_hooks: bool = False,
        **options: Unpack[SaveOptions],
    ) -> None:
        """Delete ``instance``; DocumentNotFoundError if it is not in the database.

        The model's event hooks run around it (``skip_hooks=True``: not them)."""
        check_instance(instance, "delete")
        given = call_options(type(instance), "delete", options)
        gateway = self._gateway

        def write(d: ClientSession | None) -> None:
            ops.delete(gateway, instance, d, given)

        if self._needs_own_transaction(type(instance), session, "delete"):
            plan = delete_plan(instance, skip_hooks)
            engine = cast("Engine", self)

            async def in_own_transaction() -> None:
                async with self._own_transaction(session) as tx:
                    await self._run(tx, "delete", write)

            if plan is None:
                await in_own_transaction()
            else:
                await with_hooks(plan, engine, session, in_own_transaction)
        elif not type(instance).__anyodm_hooks__.hooks:
            await self._run(session, "delete", write)
        else:
            await self._hooked(
                session, "delete", lambda d: delete_plan(instance, skip_hooks), write
            )

    def _needs_own_transaction(
        self, model: type[Model], session: SessionLike, operation: str
    ) -> bool:
        """Whether a delete of ``model``'s documents opens a transaction of its own (it
        may cascade and ``session=`` is not a transaction); checks ``session=``."""
        from anyodm.aio.session import Transaction

        _, driver = self._executor(session, operation)
        return needs_own_transaction(
            model,
            driver,
            transaction=isinstance(session, Transaction),
            raw=isinstance(session, ClientSession),
            operation=operation,
        )

    def _own_transaction(self, session: SessionLike) -> Transaction:
        """A transaction in ``session`` (a ``Session``), or in a session of its own."""
        from anyodm.aio.session import Session

        if isinstance(session, Session):
            return session.transaction()
        return cast("Engine", self).transaction()

    async def _hooked(
        self,
        session: SessionLike,
        operation: str,
        plan_of: Callable[[ClientSession | None], HookPlan | None],
        func: Callable[[ClientSession | None], T],
    ) -> T:
        """Run ``func`` like :meth:`_run`, between the hook steps ``plan_of(driver)``
        gives (the session is checked first: a hook never runs for a refused call)."""
        execute, driver = self._executor(session, operation)
        plan = plan_of(driver)
        if plan is None:
            return await execute(operation, func)
        engine = cast("Engine", self)
        return await with_hooks(plan, engine, session, lambda: execute(operation, func))

    @overload
    async def fetch(self, instance: Model, field: str, *, session: SessionLike = None) -> Any: ...
    @overload
    async def fetch(self, instance: Model, field: F, *, session: SessionLike = None) -> F: ...
    async def fetch(self, instance: Model, field: Any, *, session: SessionLike = None) -> Any:
        """Load what the field ``field`` (``Book.author``, typed as the field; or its
        name) of ``instance`` refers to and return its new value: a reference (lazy, read
        as a key by ``references="keys"``, or a reload of any), every reference held in
        an embedded model field, or a back-reference."""
        check_instance(instance, "fetch")
        name = check_fetch(instance, field)
        gateway = self._gateway
        return await self._run(session, "fetch", lambda d: fetch(gateway, instance, name, d))

    async def remove(
        self,
        model: type[Model],
        *queries: Any,
        just_one: bool = False,
        session: SessionLike = None,
        **options: Unpack[WriteOptions],
    ) -> int:
        """Delete the matching instances; returns how many were deleted."""
        spec = make_filter_spec(model, queries, "remove")
        spec.options = call_options(spec.model, "remove", options)
        gateway = self._gateway

        def write(d: ClientSession | None) -> int:
            return ops.remove(gateway, spec, just_one, d)

        if self._needs_own_transaction(model, session, "remove"):
            async with self._own_transaction(session) as tx:
                return await self._run(tx, "remove", write)
        return await self._run(session, "remove", write)

    # -- server-side operations ----------------------------------------------------------

    async def update_one(
        self,
        model: type[Model],
        *queries: Any,
        update: Any,
        upsert: bool = False,
        session: SessionLike = None,
        **options: Unpack[WriteOptions],
    ) -> UpdateResult:
        """Apply ``update`` (``anyodm.update`` operations, a list of them, or a raw dict
        of $-operators) to the first matching document, without loading it."""
        spec = make_update_spec(model, queries, update, upsert, "update_one")
        spec.find.options = call_options(spec.find.model, "update_one", options)
        gateway = self._gateway
        return await self._run(
            session, "update_one", lambda d: server.update(gateway, spec, False, d)
        )

    async def update_many(
        self,
        model: type[Model],
        *queries: Any,
        update: Any,
        upsert: bool = False,
        session: SessionLike = None,
        **options: Unpack[WriteOptions],
    ) -> UpdateResult:
        """Apply ``update`` to every matching document, without loading them."""
        spec = make_update_spec(model, queries, update, upsert, "update_many")
        spec.find.options = call_options(spec.find.model, "update_many", options)
        gateway = self._gateway
        return await self._run(
            session, "update_many", lambda d: server.update(gateway, spec, True, d)
        )

    async def find_one_and_update(
        self,
        model: type[M],
        *queries: Any,
        update: Any,
        sort: Any = None,
        return_updated: bool = True,
        upsert: bool = False,
        session: SessionLike = None,
        **options: Unpack[WriteOptions],
    ) -> M | None:
        """Atomically update the first matching document (by ``sort``) and return it as
        it is after the update (``return_updated=False``: before); None if none matched."""
        spec = make_modify_spec(model, queries, update, sort, return_updated, upsert)
        find = spec.update.find
        find.options = call_options(find.model, "find_one_and_update", options)
        gateway = self._gateway
        found: M | None = await self._run(
            session, "find_one_and_update", lambda d: server.find_one_and_update(gateway, spec, d)
        )
        return found

    async def find_one_and_delete(
        self,
        model: type[M],
        *queries: Any,
        sort: Any = None,
        session: SessionLike = None,
        **options: Unpack[WriteOptions],
    ) -> M | None:
        """Atomically delete the first matching document (by ``sort``) and return it.

        Refused for a model that references with delete rules point to."""
        spec = make_find_spec(model, queries, sort, 0, 1, "find_one_and_delete")
        refuse_delete_rules(model, "find_one_and_delete")
        spec.options = call_options(spec.model, "find_one_and_delete", options)
        gateway = self._gateway
        found: M | None = await self._run(
            session, "find_one_and_delete", lambda d: server.find_one_and_delete(gateway, spec, d)
        )
        return found

    async def distinct(
        self,
        model: type[Model],
        field: Any,
        *queries: Any,
        session: SessionLike = None,
        **options: Unpack[DistinctOptions],
    ) -> list[Any]:
        """The distinct values of ``field`` (a field such as ``Book.tags``) among the
        matching documents, decoded through the field's type (arrays give elements)."""
        spec = make_distinct_spec(model, field, queries)
        spec.find.options = call_options(spec.find.model, "distinct", options)
        gateway = self._gateway
        return await self._run(session, "distinct", lambda d: server.distinct(gateway, spec, d))

    def aggregate(
        self,
        model: type[Model],
        pipeline: Any,
        *,
        into: type[D] | None = None,
        session: SessionLike = None,
        **options: Unpack[FindOptions],
    ) -> AsyncCursor[D]:
        """Run ``pipeline`` on ``model``'s collection: a cursor like :meth:`find`'s, of
        dicts, or of ``into`` instances.  Stages may name fields with field proxies."""
        spec = make_aggregate_spec(model, pipeline, into)
        spec.options = call_options(spec.model, "aggregate", options)
        return self._cursor("aggregate", spec, session)

    # -- bulk writes ---------------------------------------------------------------------

    async def bulk_write(
        self,
        items: Iterable[BulkItem],
        *,
        ordered: bool = True,
        session: SessionLike = None,
        skip_hooks: bool = False,
    ) -> BulkResult:
        """Write inserts, saves, updates and deletes of several models in one call
        (``anyodm.bulk`` items): one bulk write per collection and run of items.

        ``ordered=True`` stops at the first failure (the items after it are not
        written); ``ordered=False`` attempts every item.  Returns a ``BulkResult``;
        raises ``BulkWriteError`` (carrying it) if an item failed.  The instance items'
        event hooks run around it (``skip_hooks=True``: not them)."""
        checked = check_items(items, "bulk_write")
        in_order = check_ordered(ordered, "bulk_write")
        gateway = self._gateway

        def write(d: ClientSession | None) -> BulkResult:
            return bulk_write(gateway, checked, in_order, d)

        hooked = hooked_items(checked)
        if not any(type(instance).__anyodm_hooks__.active for _, instance in hooked):
            return await self._run(session, "bulk_write", write)
        return await self._hooked(
            session, "bulk_write", lambda d: bulk_plan(hooked, d, skip_hooks), write
        )
