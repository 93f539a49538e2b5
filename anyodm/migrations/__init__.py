"""Batched, checkpointed, resumable data migrations.

A migration is a small module defining ``migration = ModelMigration(...)`` (or
:class:`UpdateMigration`, :class:`DocumentMigration`); ``await engine.migrate(path)``
(``engine.migrate(path)`` on :class:`~anyodm.SyncEngine`, ``python -m anyodm migrate``
from a shell) runs the pending ones.  See the "Migrations" page of the documentation.
"""

from __future__ import annotations

from anyodm.migrations.definition import (
    DEFAULT_BATCH_SIZE,
    DocumentMigration,
    Migration,
    ModelMigration,
    UpdateMigration,
)
from anyodm.migrations.errors import MigrationError, MigrationLockedError, MigrationLockLostError
from anyodm.migrations.loading import load_migrations
from anyodm.migrations.records import DEFAULT_RECORDS
from anyodm.migrations.steps import MigrationReport, MigrationRun, MigrationStatus, Progress

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_RECORDS",
    "DocumentMigration",
    "Migration",
    "MigrationError",
    "MigrationLockLostError",
    "MigrationLockedError",
    "MigrationReport",
    "MigrationRun",
    "MigrationStatus",
    "ModelMigration",
    "Progress",
    "UpdateMigration",
    "load_migrations",
]
