"""``configure_database``'s start-up, written once for both engines.

A start-up is planned first (the models and their indexes checked, the migrations
loaded, the options checked: bad input raises before anything is sent), then, if
migrations were given, their records are read: pending ones are refused
(:class:`~anyodm.errors.PendingMigrationsError`), reported, or run; last, what the
models need is created (``operations.configure_database``).  Every step may run in many
processes at once: migrations take their lock, index creation settles races.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from anyodm.core.operations import IndexPlan, plan_indexes
from anyodm.errors import PendingMigrationsError

if TYPE_CHECKING:
    from pymongo.database import Database

    from anyodm.migrations.definition import Migration
    from anyodm.migrations.loading import MigrationSource
    from anyodm.migrations.steps import MigrationStatus
    from anyodm.model import Model

__all__ = [
    "OnPending",
    "StartupPlan",
    "decide_on_pending",
    "migration_statuses",
    "plan_startup",
]

log: logging.Logger = logging.getLogger("anyodm")

#: What ``configure_database`` does when migrations are pending: raise
#: ``PendingMigrationsError`` and create nothing, log a warning and go on, or apply them.
OnPending = Literal["refuse", "warn", "run"]


@dataclass(frozen=True)
class StartupPlan:
    """A checked start-up: nothing of it was sent yet."""

    indexes: IndexPlan
    #: the migrations to check (None: none given)
    migrations: list[Migration] | None
    on_pending: OnPending
    records: str


def plan_startup(
    models: Iterable[type[Model]],
    migrations: MigrationSource | None,
    on_pending: str,
    records: str,
) -> StartupPlan:
    """Check every argument of a start-up (and load the migrations) before anything runs."""
    if on_pending not in get_args(OnPending):
        raise ValueError(
            f"configure_database(on_pending=...) takes 'refuse', 'warn' or 'run', got "
            f"{on_pending!r}"
        )
    if not isinstance(records, str) or not records:
        raise TypeError(
            f"configure_database(migration_records=...) needs a collection name, got {records!r}"
        )
    indexes = plan_indexes(models)
    loaded = None
    if migrations is not None:
        from anyodm.migrations.loading import load_migrations

        loaded = load_migrations(migrations)
    return StartupPlan(indexes, loaded, cast(OnPending, on_pending), records)


def migration_statuses(database: Database[Any], plan: StartupPlan) -> list[MigrationStatus]:
    """What the records say of each planned migration (and of recorded unknown ones)."""
    from anyodm.migrations.records import read_records
    from anyodm.migrations.steps import statuses

    if plan.migrations is None:
        return []
    return statuses(plan.migrations, read_records(database, plan.records))


def decide_on_pending(plan: StartupPlan, database: str, found: list[MigrationStatus]) -> bool:
    """Whether pending migrations are to be run now; raises for ``"refuse"``, logs a
    warning for ``"warn"``.  Applied migrations the code does not know (code older than
    the database) are logged as a warning whatever ``on_pending`` says."""
    unknown = [s.name for s in found if not s.known and s.state in ("applied", "applying")]
    if unknown:
        log.warning(
            "anyodm: configure_database: database %r has migration(s) applied that are "
            "not among the given ones: %s (is this code older than the database?)",
            database,
            ", ".join(unknown),
        )
    pending = [status for status in found if status.known and status.state != "applied"]
    if not pending:
        return False
    error = PendingMigrationsError(database, plan.records, pending)
    if plan.on_pending == "refuse":
        raise error
    if plan.on_pending == "warn":
        log.warning(
            "anyodm: configure_database: %d migration(s) not applied to database %r "
            "(recorded in %r): %s; creating the indexes all the same (on_pending='warn')",
            len(pending),
            database,
            plan.records,
            error.summary,
        )
        return False
    log.info("anyodm: applying %d migration(s) at start-up: %s", len(pending), error.names)
    return True
