"""The sync engine's operations: thin fronts calling the operations core directly.

Sessions and transactions offer the same methods through :mod:`anyodm.core.binding`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from pymongo.client_session import ClientSession
from typing_extensions import TypeVar, Unpack

from anyodm.core import operations as ops
from anyodm.core import server_operations as server
from anyodm.core.arguments import check_instance, check_instances
from anyodm.core.bulk import bulk_write
from anyodm.core.bulk_items import BulkItem, check_items, check_ordered, hooked_items
from anyodm.core.bulk_results import BulkResult
from anyodm.core.cursor import SyncCursor
from anyodm.core.delete_rules import needs_own_transaction, refuse_delete_rules
from anyodm.core.fetching import check_fetch, fetch
from anyodm.core.find import (
    BatchReader,
    make_aggregate_spec,
    make_filter_spec,
    make_find_spec,
    make_first_spec,
)
from anyodm.core.hooks import bulk_plan, delete_plan, save_plan, with_sync_hooks
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

    from anyodm.core.engine import SyncEngine
    from anyodm.core.gateway import DatabaseGateway
    from anyodm.core.session import SyncSession, SyncTransaction
    from anyodm.model import Model

    SyncSessionLike: TypeAlias = SyncSession | SyncTransaction | ClientSession | None

__all__ = ["SyncEngineMethods"]

M = TypeVar("M", bound="Model")
V = TypeVar("V", default=M)
D = TypeVar("D", default=dict[str, Any])
F = TypeVar("F")


class SyncEngineMethods:
    """The operations of :class:`anyodm.SyncEngine` (each a front over ``anyodm.core``)."""

    _gateway: DatabaseGateway

    if TYPE_CHECKING:

        def _driver_session(self, session: Any, operation: str) -> ClientSession | None: ...

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
        session: SyncSessionLike = None,
        **options: Unpack[FindOptions],
    ) -> SyncCursor[V]:
        """The matching instances: iterate to stream them, or use it as a list.

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
        driver = self._driver_session(session, "find")
        return SyncCursor(BatchReader(self._gateway, spec, driver))

    def find_one(
        self,
        model: type[M],
        *queries: Any,
        sort: Any = None,
        projection: type[V] | None = None,
        references: Literal["load", "keys"] = "load",
        with_children: bool = True,
        session: SyncSessionLike = None,
        **options: Unpack[FindOneOptions],
    ) -> V | None:
        """The first matching instance (of ``projection`` if given), or None
        (``references`` and ``with_children`` as for :meth:`find`)."""
        spec = make_first_spec(model, queries, sort, projection, references, with_children)
        spec.options = call_options(spec.model, "find_one", options)
        return ops.find_one(self._gateway, spec, self._driver_session(session, "find_one"))

    def count(
        self,
        model: type[Model],
        *queries: Any,
        with_children: bool = True,
        session: SyncSessionLike = None,
        **options: Unpack[CountOptions],
    ) -> int:
        """How many instances match (``with_children=False``: of exactly ``model``'s
        class in a polymorphic family)."""
        spec = make_filter_spec(model, queries, "count", with_children)
        spec.options = call_options(spec.model, "count", options)
        return ops.count(self._gateway, spec, self._driver_session(session, "count"))

    # -- writes --------------------------------------------------------------------------

    def save(
        self,
        instance: M,
        *,
        session: SyncSessionLike = None,
        skip_hooks: bool = False,
        **options: Unpack[SaveOptions],
    ) -> M:
        """Save ``instance`` (its references first); only modified fields are sent.

        The model's event hooks run around it (``skip_hooks=True``: not them)."""
        check_instance(instance, "save")
        given = call_options(type(instance), "save", options)
        driver = self._driver_session(session, "save")
        gateway = self._gateway
        plan = None
        if type(instance).__anyodm_hooks__.active:
            plan = save_plan((instance,), driver, skip_hooks)
        return with_sync_hooks(
            plan,
            self._engine(),
            session,
            "save",
            lambda: ops.save(gateway, instance, driver, given),
        )

    def save_all(
        self,
        instances: Iterable[M],
        *,
        session: SyncSessionLike = None,
        skip_hooks: bool = False,
        **options: Unpack[SaveOptions],
    ) -> list[M]:
        """Save many instances with one bulk write per model.

        Each listed instance's event hooks run around it (``skip_hooks=True``: not them)."""
        items: list[M] = check_instances(instances, "save_all")  # type: ignore[assignment]
        given = call_options(None, "save_all", options)
        driver = self._driver_session(session, "save_all")
        gateway = self._gateway
        plan = None
        if any(type(item).__anyodm_hooks__.active for item in items):
            plan = save_plan(items, driver, skip_hooks)
        return with_sync_hooks(
            plan,
            self._engine(),
            session,
            "save_all",
            lambda: ops.save_all(gateway, items, driver, given),
        )

    def delete(
        self,
        instance: Model,
        *,
        session: SyncSessionLike = None,
        skip_hooks: bool = False,
        **options: Unpack[SaveOptions],
    ) -> None:
        """Delete ``instance``; DocumentNotFoundError if it is not in the database.

        The model's event hooks run around it (``skip_hooks=True``: not them)."""
        check_instance(instance, "delete")
        given = call_options(type(instance), "delete", options)
        driver = self._driver_session(session, "delete")
        gateway = self._gateway
        plan = delete_plan(instance, skip_hooks)
        if self._needs_own_transaction(type(instance), session, driver, "delete"):

            def write() -> None:
                with self._own_transaction(session) as tx:
                    ops.delete(gateway, instance, tx.get_driver_session(), given)

        else:

            def write() -> None:
                ops.delete(gateway, instance, driver, given)

        with_sync_hooks(plan, self._engine(), session, "delete", write)

    def _needs_own_transaction(
        self, model: type[Model], session: SyncSessionLike, driver: Any, operation: str
    ) -> bool:
        """Whether a delete of ``model``'s documents opens a transaction of its own (it
        may cascade and ``session=`` is not a transaction)."""
        from anyodm.core.session import SyncTransaction

        return needs_own_transaction(
            model,
            driver,
            transaction=isinstance(session, SyncTransaction),
            raw=isinstance(session, ClientSession),
            operation=operation,
        )

    def _own_transaction(self, session: SyncSessionLike) -> SyncTransaction:
        """A transaction in ``session`` (a ``SyncSession``), or in a session of its own."""
        from anyodm.core.session import SyncSession

        if isinstance(session, SyncSession):
            return session.transaction()
        return self._engine().transaction()

    def _engine(self) -> SyncEngine:
        return cast("SyncEngine", self)

    @overload
    def fetch(self, instance: Model, field: str, *, session: SyncSessionLike = None) -> Any: ...
    @overload
    def fetch(self, instance: Model, field: F, *, session: SyncSessionLike = None) -> F: ...
    def fetch(self, instance: Model, field: Any, *, session: SyncSessionLike = None) -> Any:
        """Load what the field ``field`` (``Book.author``, typed as the field; or its
        name) of ``instance`` refers to and return its new value: a reference (lazy, read
        as a key by ``references="keys"``, or a reload of any), every reference held in
        an embedded model field, or a back-reference."""
        check_instance(instance, "fetch")
        name = check_fetch(instance, field)
        return fetch(self._gateway, instance, name, self._driver_session(session, "fetch"))

    def remove(
        self,
        model: type[Model],
        *queries: Any,
        just_one: bool = False,
        session: SyncSessionLike = None,
        **options: Unpack[WriteOptions],
    ) -> int:
        """Delete the matching instances; returns how many were deleted."""
        spec = make_filter_spec(model, queries, "remove")
        spec.options = call_options(spec.model, "remove", options)
        driver = self._driver_session(session, "remove")
        if self._needs_own_transaction(model, session, driver, "remove"):
            with self._own_transaction(session) as tx:
                return ops.remove(self._gateway, spec, just_one, tx.get_driver_session())
        return ops.remove(self._gateway, spec, just_one, driver)

    # -- server-side operations ----------------------------------------------------------

    def update_one(
        self,
        model: type[Model],
        *queries: Any,
        update: Any,
        upsert: bool = False,
        session: SyncSessionLike = None,
        **options: Unpack[WriteOptions],
    ) -> UpdateResult:
        """Apply ``update`` (``anyodm.update`` operations, a list of them, or a raw dict
        of $-operators) to the first matching document, without loading it."""
        spec = make_update_spec(model, queries, update, upsert, "update_one")
        spec.find.options = call_options(spec.find.model, "update_one", options)
        driver = self._driver_session(session, "update_one")
        return server.update(self._gateway, spec, False, driver)

    def update_many(
        self,
        model: type[Model],
        *queries: Any,
        update: Any,
        upsert: bool = False,
        session: SyncSessionLike = None,
        **options: Unpack[WriteOptions],
    ) -> UpdateResult:
        """Apply ``update`` to every matching document, without loading them."""
        spec = make_update_spec(model, queries, update, upsert, "update_many")
        spec.find.options = call_options(spec.find.model, "update_many", options)
        driver = self._driver_session(session, "update_many")
        return server.update(self._gateway, spec, True, driver)

    def find_one_and_update(
        self,
        model: type[M],
        *queries: Any,
        update: Any,
        sort: Any = None,
        return_updated: bool = True,
        upsert: bool = False,
        session: SyncSessionLike = None,
        **options: Unpack[WriteOptions],
    ) -> M | None:
        """Atomically update the first matching document (by ``sort``) and return it as
        it is after the update (``return_updated=False``: before); None if none matched."""
        spec = make_modify_spec(model, queries, update, sort, return_updated, upsert)
        find = spec.update.find
        find.options = call_options(find.model, "find_one_and_update", options)
        driver = self._driver_session(session, "find_one_and_update")
        found: M | None = server.find_one_and_update(self._gateway, spec, driver)
        return found

    def find_one_and_delete(
        self,
        model: type[M],
        *queries: Any,
        sort: Any = None,
        session: SyncSessionLike = None,
        **options: Unpack[WriteOptions],
    ) -> M | None:
        """Atomically delete the first matching document (by ``sort``) and return it.

        Refused for a model that references with delete rules point to."""
        spec = make_find_spec(model, queries, sort, 0, 1, "find_one_and_delete")
        refuse_delete_rules(model, "find_one_and_delete")
        spec.options = call_options(spec.model, "find_one_and_delete", options)
        driver = self._driver_session(session, "find_one_and_delete")
        found: M | None = server.find_one_and_delete(self._gateway, spec, driver)
        return found

    def distinct(
        self,
        model: type[Model],
        field: Any,
        *queries: Any,
        session: SyncSessionLike = None,
        **options: Unpack[DistinctOptions],
    ) -> list[Any]:
        """The distinct values of ``field`` (a field such as ``Book.tags``) among the
        matching documents, decoded through the field's type (arrays give elements)."""
        spec = make_distinct_spec(model, field, queries)
        spec.find.options = call_options(spec.find.model, "distinct", options)
        return server.distinct(self._gateway, spec, self._driver_session(session, "distinct"))

    def aggregate(
        self,
        model: type[Model],
        pipeline: Any,
        *,
        into: type[D] | None = None,
        session: SyncSessionLike = None,
        **options: Unpack[FindOptions],
    ) -> SyncCursor[D]:
        """Run ``pipeline`` on ``model``'s collection: a cursor like :meth:`find`'s, of
        dicts, or of ``into`` instances.  Stages may name fields with field proxies."""
        spec = make_aggregate_spec(model, pipeline, into)
        spec.options = call_options(spec.model, "aggregate", options)
        driver = self._driver_session(session, "aggregate")
        return SyncCursor(BatchReader(self._gateway, spec, driver))

    # -- bulk writes ---------------------------------------------------------------------

    def bulk_write(
        self,
        items: Iterable[BulkItem],
        *,
        ordered: bool = True,
        session: SyncSessionLike = None,
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
        driver = self._driver_session(session, "bulk_write")
        gateway = self._gateway
        plan = None
        hooked = hooked_items(checked)
        if any(type(instance).__anyodm_hooks__.active for _, instance in hooked):
            plan = bulk_plan(hooked, driver, skip_hooks)
        return with_sync_hooks(
            plan,
            self._engine(),
            session,
            "bulk_write",
            lambda: bulk_write(gateway, checked, in_order, driver),
        )
