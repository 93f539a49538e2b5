"""anyodm: a MongoDB ODM for pydantic v2 on trio, asyncio and plain sync code.

Models are pydantic v2; the driver is synchronous PyMongo, which the async
:class:`Engine` runs in anyio worker threads, so the same code works under trio and
asyncio.  Sessions and transactions are structured-concurrency contexts: cancelling the
scope around a transaction aborts it.

The public names are imported on first use, so ``import anyodm.testing`` (the test
server's launcher) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from anyodm.errors import (
    AnyODMError,
    BulkWriteError,
    CollectionMismatchError,
    CursorClosedError,
    CursorConsumedError,
    DeleteDeniedError,
    DocumentNotFoundError,
    DocumentParsingError,
    DuplicateKeyError,
    InvalidFieldError,
    InvalidOperationError,
    InvalidValueError,
    LifespanError,
    PendingMigrationsError,
    RevisionConflictError,
    SessionStateError,
    TransactionRetriesExhaustedError,
    TransactionsNotSupportedError,
    WrittenDocumentParsingError,
)

if TYPE_CHECKING:
    from anyodm import bulk, pipeline, query, update
    from anyodm.aio.changes import ChangeStream
    from anyodm.aio.engine import AIOEngine, Engine
    from anyodm.aio.hooks import HookContext
    from anyodm.aio.session import Session, Transaction
    from anyodm.aio.session import Session as AIOSession
    from anyodm.aio.session import Transaction as AIOTransaction
    from anyodm.core.bulk_results import BulkResult
    from anyodm.core.changes import ChangeEvent, SyncChangeStream
    from anyodm.core.engine import SyncEngine
    from anyodm.core.hooks import SyncHookContext
    from anyodm.core.lifecycle import TransactionPhase
    from anyodm.core.revisions import revision
    from anyodm.core.server_operations import UpdateResult
    from anyodm.core.session import SyncSession, SyncTransaction
    from anyodm.model import (
        BackReference,
        EmbeddedModel,
        Field,
        Index,
        Model,
        ObjectId,
        Reference,
        TimeSeries,
        View,
        WithBsonSerializer,
    )
    from anyodm.model.hooks import (
        Delete,
        Event,
        Insert,
        Save,
        Update,
        Validate,
        after_event,
        before_event,
    )
    from anyodm.model.lazy import NotLoaded, is_loaded, maybe_loaded

__all__ = [
    "AIOEngine",
    "AIOSession",
    "AIOTransaction",
    "AnyODMError",
    "BackReference",
    "BulkResult",
    "BulkWriteError",
    "ChangeEvent",
    "ChangeStream",
    "CollectionMismatchError",
    "CursorClosedError",
    "CursorConsumedError",
    "Delete",
    "DeleteDeniedError",
    "DocumentNotFoundError",
    "DocumentParsingError",
    "DuplicateKeyError",
    "EmbeddedModel",
    "Engine",
    "Event",
    "Field",
    "HookContext",
    "Index",
    "Insert",
    "InvalidFieldError",
    "InvalidOperationError",
    "InvalidValueError",
    "LifespanError",
    "Model",
    "NotLoaded",
    "ObjectId",
    "PendingMigrationsError",
    "Reference",
    "RevisionConflictError",
    "Save",
    "Session",
    "SessionStateError",
    "SyncChangeStream",
    "SyncEngine",
    "SyncHookContext",
    "SyncSession",
    "SyncTransaction",
    "TimeSeries",
    "Transaction",
    "TransactionPhase",
    "TransactionRetriesExhaustedError",
    "TransactionsNotSupportedError",
    "Update",
    "UpdateResult",
    "Validate",
    "View",
    "WithBsonSerializer",
    "WrittenDocumentParsingError",
    "after_event",
    "before_event",
    "bulk",
    "is_loaded",
    "maybe_loaded",
    "pipeline",
    "query",
    "revision",
    "update",
]

__version__ = "0.1.0.dev0"

_LAZY = {
    "query": "anyodm.query",
    "update": "anyodm.update",
    "pipeline": "anyodm.pipeline",
    "bulk": "anyodm.bulk",
    "BulkResult": "anyodm.core.bulk_results",
    "UpdateResult": "anyodm.core.server_operations",
    "AIOEngine": "anyodm.aio.engine",
    "Engine": "anyodm.aio.engine",
    "ChangeEvent": "anyodm.core.changes",
    "ChangeStream": "anyodm.aio.changes",
    "SyncChangeStream": "anyodm.core.changes",
    "Session": "anyodm.aio.session",
    "Transaction": "anyodm.aio.session",
    "SyncEngine": "anyodm.core.engine",
    "SyncSession": "anyodm.core.session",
    "SyncTransaction": "anyodm.core.session",
    "TransactionPhase": "anyodm.core.lifecycle",
    "BackReference": "anyodm.model",
    "EmbeddedModel": "anyodm.model",
    "Field": "anyodm.model",
    "Index": "anyodm.model",
    "Model": "anyodm.model",
    "ObjectId": "anyodm.model",
    "Reference": "anyodm.model",
    "TimeSeries": "anyodm.model",
    "View": "anyodm.model",
    "WithBsonSerializer": "anyodm.model",
    "NotLoaded": "anyodm.model.lazy",
    "is_loaded": "anyodm.model.lazy",
    "maybe_loaded": "anyodm.model.lazy",
    "revision": "anyodm.core.revisions",
    "Event": "anyodm.model.hooks",
    "Insert": "anyodm.model.hooks",
    "Update": "anyodm.model.hooks",
    "Save": "anyodm.model.hooks",
    "Delete": "anyodm.model.hooks",
    "Validate": "anyodm.model.hooks",
    "before_event": "anyodm.model.hooks",
    "after_event": "anyodm.model.hooks",
    "HookContext": "anyodm.aio.hooks",
    "SyncHookContext": "anyodm.core.hooks",
}

#: ODMantic's names for anyodm's classes: name -> (module, class)
_ALIASES = {
    "AIOSession": ("anyodm.aio.session", "Session"),
    "AIOTransaction": ("anyodm.aio.session", "Transaction"),
}


_MODULES = frozenset({"query", "update", "pipeline", "bulk"})


def __getattr__(name: str) -> Any:
    module_name, attribute = _ALIASES.get(name, (_LAZY.get(name), name))
    if module_name is None:
        raise AttributeError(f"module 'anyodm' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name in _MODULES else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
