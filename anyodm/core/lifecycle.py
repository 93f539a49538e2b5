"""The states of sessions and transactions, and the errors for using them wrongly.

Shared by the sync and async fronts so both say the same thing for the same misuse.
"""

from __future__ import annotations

import enum
from typing import Any

from anyodm.errors import SessionStateError

__all__ = ["SessionLifecycle", "SessionPhase", "TransactionPhase"]


class SessionPhase(enum.Enum):
    """Where a session is in its life."""

    NEW = "new"
    STARTED = "started"
    ENDED = "ended"


class TransactionPhase(enum.Enum):
    """Where a transaction is in its life.

    ``COMMITTING``: the commit is on its way (no operation, abort or second commit may
    start meanwhile).  ``ABORTED``: the driver is out of the transaction (aborted, or its
    session ended) and nothing of it is committed.  ``ABORTING``: the abort is decided but a worker
    thread still holds the session (an operation in flight past the cleanup bound); that
    thread aborts when its call returns and the phase becomes ``ABORTED``.  Nothing of the
    transaction is committed in either case.  ``COMMIT_UNKNOWN``: the commit was sent but
    its outcome could not be learned (a network error or the bound ran out during the
    commit); the transaction may or may not have been committed.
    """

    NEW = "new"
    ACTIVE = "active"
    COMMITTING = "committing"
    COMMITTED = "committed"
    ABORTING = "aborting"
    ABORTED = "aborted"
    COMMIT_UNKNOWN = "commit_unknown"


class SessionLifecycle:
    """A session's phase, with the checks every operation makes on it."""

    __slots__ = ("kind", "phase")

    def __init__(self, kind: str) -> None:
        self.kind: str = kind  # "Session", "SyncTransaction", ... for messages
        self.phase: SessionPhase = SessionPhase.NEW

    def require_open(self, operation: str) -> None:
        """Raise unless the session is started and not ended."""
        if self.phase is SessionPhase.STARTED:
            return
        if self.phase is SessionPhase.NEW:
            raise SessionStateError(
                f"{self.kind}.{operation}() called before the {self.kind.lower()} was started: "
                f"use it inside 'with'/'async with', or call start() first"
            )
        raise SessionStateError(
            f"{self.kind}.{operation}() called after the {self.kind.lower()} ended: "
            f"a {self.kind.lower()} can't be used once ended; open a new one"
        )

    def begin(self) -> None:
        """Move NEW -> STARTED, or raise for a second start."""
        if self.phase is SessionPhase.STARTED:
            raise SessionStateError(
                f"{self.kind} already started: each {self.kind.lower()} is entered/started once"
            )
        if self.phase is SessionPhase.ENDED:
            raise SessionStateError(
                f"{self.kind} already ended: a {self.kind.lower()} can't be restarted; "
                f"open a new one"
            )
        self.phase = SessionPhase.STARTED


TRANSACTION_OPTIONS = frozenset(
    {"read_concern", "write_concern", "read_preference", "max_commit_time_ms"}
)


def check_transaction_options(options: dict[str, Any], owner: str) -> dict[str, Any]:
    """Reject misspelt transaction options now rather than at ``start()``."""
    unknown = sorted(set(options) - TRANSACTION_OPTIONS)
    if unknown:
        raise TypeError(
            f"{owner}() got unknown transaction option(s) {', '.join(unknown)}; "
            f"expected any of {', '.join(sorted(TRANSACTION_OPTIONS))}"
        )
    return options
