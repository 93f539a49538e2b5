"""Bulk write items: ``from anyodm import bulk; await engine.bulk_write([bulk.Save(a), ...])``.

``Insert``, ``Save`` and ``Delete`` write one instance (running its event hooks);
``UpdateOne``, ``UpdateMany``, ``DeleteOne`` and ``DeleteMany`` act on the documents a
model's queries match (``UpdateOne`` also on one instance's document), like
``update_one``, ``update_many`` and ``remove``.  ``bulk_write`` returns a
``BulkResult`` (``ItemResult`` per item) or raises ``anyodm.BulkWriteError`` carrying it.
"""

from anyodm.core.bulk_items import (
    BulkItem,
    Delete,
    DeleteMany,
    DeleteOne,
    Insert,
    Save,
    UpdateMany,
    UpdateOne,
)
from anyodm.core.bulk_results import BulkResult, ItemResult, ItemStatus
from anyodm.errors import BulkWriteError

__all__ = [
    "BulkItem",
    "BulkResult",
    "BulkWriteError",
    "Delete",
    "DeleteMany",
    "DeleteOne",
    "Insert",
    "ItemResult",
    "ItemStatus",
    "Save",
    "UpdateMany",
    "UpdateOne",
]
