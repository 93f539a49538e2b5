"""The sync engine's operations: thin fronts calling the operations core directly.

Sessions and transactions offer the same methods through :mod:`anyodm.core.binding`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo.client_session import ClientSession

from anyodm.core import operations as ops
from anyodm.core.arguments import check_instance, check_instances
from anyodm.core.cursor import SyncCursor
from anyodm.core.find import BatchReader, make_find_spec

if TYPE_CHECKING:
    from typing import TypeAlias

    from anyodm.core.gateway import DatabaseGateway
    from anyodm.core.session import SyncSession, SyncTransaction
    from anyodm.model import Model

    SyncSessionLike: TypeAlias = SyncSession | SyncTransaction | ClientSession | None

__all__ = ["SyncEngineMethods"]

M = TypeVar("M", bound="Model")


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
        session: SyncSessionLike = None,
    ) -> SyncCursor[M]:
        """The matching instances: iterate to stream them, or use it as a list."""
        spec = make_find_spec(model, queries, sort, skip, limit, "find")
        driver = self._driver_session(session, "find")
        return SyncCursor(BatchReader(self._gateway, spec, driver))

    def find_one(
        self, model: type[M], *queries: Any, sort: Any = None, session: SyncSessionLike = None
    ) -> M | None:
        """The first matching instance, or None."""
        spec = make_find_spec(model, queries, sort, 0, 1, "find_one")
        return ops.find_one(self._gateway, spec, self._driver_session(session, "find_one"))

    def count(self, model: type[Model], *queries: Any, session: SyncSessionLike = None) -> int:
        """How many instances match."""
        spec = make_find_spec(model, queries, None, 0, None, "count")
        return ops.count(self._gateway, spec, self._driver_session(session, "count"))

    # -- writes --------------------------------------------------------------------------

    def save(self, instance: M, *, session: SyncSessionLike = None) -> M:
        """Save ``instance`` (its references first); only modified fields are sent."""
        check_instance(instance, "save")
        return ops.save(self._gateway, instance, self._driver_session(session, "save"))

    def save_all(self, instances: Iterable[M], *, session: SyncSessionLike = None) -> list[M]:
        """Save many instances with one bulk write per model."""
        items: list[M] = check_instances(instances, "save_all")  # type: ignore[assignment]
        driver = self._driver_session(session, "save_all")
        return ops.save_all(self._gateway, items, driver)

    def delete(self, instance: Model, *, session: SyncSessionLike = None) -> None:
        """Delete ``instance``; DocumentNotFoundError if it is not in the database."""
        check_instance(instance, "delete")
        ops.delete(self._gateway, instance, self._driver_session(session, "delete"))

    def remove(
        self,
        model: type[Model],
        *queries: Any,
        just_one: bool = False,
        session: SyncSessionLike = None,
    ) -> int:
        """Delete the matching instances; returns how many were deleted."""
        spec = make_find_spec(model, queries, None, 0, None, "remove")
        driver = self._driver_session(session, "remove")
        return ops.remove(self._gateway, spec, just_one, driver)
