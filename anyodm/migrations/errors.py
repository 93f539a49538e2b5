"""The errors of migrations (each an :class:`anyodm.errors.AnyODMError`)."""

from __future__ import annotations

from anyodm.errors import AnyODMError

__all__ = ["MigrationError", "MigrationLockLostError", "MigrationLockedError"]


class MigrationError(AnyODMError):
    """A migration cannot run: a bad definition, a document it cannot convert, a
    migration left half applied in the other direction."""


class MigrationLockedError(MigrationError):
    """Another process holds the migration's lock (and kept it past ``lock_timeout``)."""

    def __init__(self, name: str, holder: str, expires_at: object) -> None:
        self.name: str = name
        self.holder: str = holder
        self.expires_at: object = expires_at
        super().__init__(
            f"migration {name!r} is being run by {holder} (its lock expires at "
            f"{expires_at} UTC unless renewed); wait for it, or raise lock_timeout"
        )


class MigrationLockLostError(MigrationError):
    """The lock expired while this process ran the migration and another process took
    it; the batch in flight was not committed (the other process carries on)."""
