"""What ``bulk_write`` did, item by item."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from anyodm.core.bulk_items import BulkItem
    from anyodm.errors import AnyODMError
    from anyodm.model import Model

__all__ = ["BulkResult", "ItemResult", "ItemStatus"]

#: ``"written"``: the server acknowledged the item's write (or a ``Save`` had nothing
#: to send); ``"failed"``: the server refused it (or a revision check did);
#: ``"not_written"``: never sent (after the failure of an ordered bulk write, or
#: after any failure inside a transaction)
ItemStatus = Literal["written", "failed", "not_written"]


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one item, at its position ``index`` in the list given."""

    index: int
    item: BulkItem
    status: ItemStatus
    #: the server's error code for a failed item (None for a revision conflict)
    code: int | None = None
    #: why it failed, as the server (or the revision check) said
    message: str | None = None
    #: a :class:`~anyodm.errors.DuplicateKeyError` or
    #: :class:`~anyodm.errors.RevisionConflictError` naming the instance, when one applies
    error: AnyODMError | None = None
    #: the server's write error, as sent
    details: Mapping[str, Any] | None = None
    #: the ``_id`` of the document an upsert inserted
    upserted_id: Any = None

    @property
    def instance(self) -> Model | None:
        """The instance of an ``Insert``, ``Save`` or ``Delete`` item (else None)."""
        return self.item.instance

    @property
    def written(self) -> bool:
        return self.status == "written"

    def describe(self) -> str:
        """``item 2 (Save(Book instance ...)): duplicate key ...`` (for messages)."""
        why = f": {self.message}" if self.message else ""
        code = f" (code {self.code})" if self.code is not None else ""
        return f"item {self.index} ({self.item!r}) {self.status}{why}{code}"


@dataclass(frozen=True)
class BulkResult:
    """The outcome of a ``bulk_write``: ``items`` in the order given, and the counts the
    server reported (``matched``/``modified`` for updates and saves of stored
    documents, ``upserted`` for upserts that inserted)."""

    items: list[ItemResult] = field(default_factory=list)
    inserted: int = 0
    matched: int = 0
    modified: int = 0
    deleted: int = 0
    upserted: int = 0

    @property
    def written(self) -> list[ItemResult]:
        """The items whose write the server acknowledged."""
        return [item for item in self.items if item.status == "written"]

    @property
    def failed(self) -> list[ItemResult]:
        """The items the server refused."""
        return [item for item in self.items if item.status == "failed"]

    @property
    def not_written(self) -> list[ItemResult]:
        """The items never sent."""
        return [item for item in self.items if item.status == "not_written"]

    @property
    def ok(self) -> bool:
        """Every item was written."""
        return all(item.status == "written" for item in self.items)
