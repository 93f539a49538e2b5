"""The async engine's operations: thin fronts over the operations core.

Each method validates its arguments (nothing is sent on bad input), then runs the core
function in a worker thread, in the caller's session if one is given.  Sessions and
transactions offer the same methods through :mod:`anyodm.core.binding`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo.client_session import ClientSession

from anyodm.aio.cursor import AsyncCursor, Executor
from anyodm.core import operations as ops
from anyodm.core.arguments import check_instance, check_instances
from anyodm.core.find import BatchReader, make_find_spec

if TYPE_CHECKING:
    from typing import TypeAlias

    from anyodm.aio.session import Session, Transaction
    from anyodm.core.gateway import DatabaseGateway
    from anyodm.model import Model

    SessionLike: TypeAlias = Session | Transaction | ClientSession | None

__all__ = ["EngineMethods"]

M = TypeVar("M", bound="Model")
T = TypeVar("T")


class EngineMethods:
    """The operations of :class:`anyodm.Engine` (each a front over ``anyodm.core``)."""

    _gateway: DatabaseGateway
    cleanup_timeout: float

    if TYPE_CHECKING:

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
        session: SessionLike = None,
    ) -> AsyncCursor[M]:
        """The matching instances: ``await`` for a list, ``async for`` to stream."""
        spec = make_find_spec(model, queries, sort, skip, limit, "find")
        execute, driver = self._executor(session, "find")
        gateway = self._gateway

        async def list_all() -> list[M]:
            found: list[M] = await execute("find", lambda d: ops.find_all(gateway, spec, d))
            return found

        return AsyncCursor(
            BatchReader(gateway, spec, driver), execute, list_all, self.cleanup_timeout
        )

    async def find_one(
        self, model: type[M], *queries: Any, sort: Any = None, session: SessionLike = None
    ) -> M | None:
        """The first matching instance, or None."""
        spec = make_find_spec(model, queries, sort, 0, 1, "find_one")
        gateway = self._gateway
        return await self._run(session, "find_one", lambda d: ops.find_one(gateway, spec, d))

    async def count(self, model: type[Model], *queries: Any, session: SessionLike = None) -> int:
        """How many instances match."""
        spec = make_find_spec(model, queries, None, 0, None, "count")
        gateway = self._gateway
        return await self._run(session, "count", lambda d: ops.count(gateway, spec, d))

    # -- writes --------------------------------------------------------------------------

    async def save(self, instance: M, *, session: SessionLike = None) -> M:
        """Save ``instance`` (its references first); only modified fields are sent."""
        check_instance(instance, "save")
        gateway = self._gateway
        return await self._run(session, "save", lambda d: ops.save(gateway, instance, d))

    async def save_all(self, instances: Iterable[M], *, session: SessionLike = None) -> list[M]:
        """Save many instances with one bulk write per model."""
        items: list[M] = check_instances(instances, "save_all")  # type: ignore[assignment]
        gateway = self._gateway
        return await self._run(session, "save_all", lambda d: ops.save_all(gateway, items, d))

    async def delete(self, instance: Model, *, session: SessionLike = None) -> None:
        """Delete ``instance``; DocumentNotFoundError if it is not in the database."""
        check_instance(instance, "delete")
        gateway = self._gateway
        await self._run(session, "delete", lambda d: ops.delete(gateway, instance, d))

    async def remove(
        self,
        model: type[Model],
        *queries: Any,
        just_one: bool = False,
        session: SessionLike = None,
    ) -> int:
        """Delete the matching instances; returns how many were deleted."""
        spec = make_find_spec(model, queries, None, 0, None, "remove")
        gateway = self._gateway
        return await self._run(session, "remove", lambda d: ops.remove(gateway, spec, just_one, d))
