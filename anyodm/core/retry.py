"""MongoDB's retry rules for ``with_transaction``, shared by the sync and async loops.

* An error labelled ``TransientTransactionError`` (from the callback or the commit)
  retries the whole callback in a new transaction.
* An ``UnknownTransactionCommitResult`` commit error retries the commit alone, unless the
  error is a max-time expiry (retrying could not help).
* Nothing is retried once the time limit has passed; waits between attempts grow
  exponentially with full jitter, so competing transactions do not retry in lockstep.
"""

from __future__ import annotations

import random
from typing import Any

from pymongo.errors import ConnectionFailure, PyMongoError

__all__ = [
    "commit_outcome_unknown",
    "DEFAULT_TRANSACTION_TIME_LIMIT",
    "backoff_seconds",
    "is_transient",
    "should_retry_commit",
]

#: Seconds within which with_transaction may retry (MongoDB's convention).
DEFAULT_TRANSACTION_TIME_LIMIT = 120.0

_MAX_TIME_EXPIRED = 50
_BACKOFF_INITIAL = 0.005
_BACKOFF_MAX = 0.5
_BACKOFF_GROWTH = 1.5


def is_transient(exc: BaseException) -> bool:
    """The whole transaction may succeed if run again."""
    return isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError")


def _is_max_time_expired(exc: PyMongoError) -> bool:
    if getattr(exc, "code", None) == _MAX_TIME_EXPIRED:
        return True
    details: Any = getattr(exc, "details", None)
    if isinstance(details, dict):
        wce = details.get("writeConcernError")
        if isinstance(wce, dict) and wce.get("code") == _MAX_TIME_EXPIRED:
            return True
    return False


def commit_outcome_unknown(exc: BaseException) -> bool:
    """After a commit failed with ``exc``: may the server have committed all the same?

    Only a refusal the server answered (an ``OperationFailure`` without MongoDB's
    ``UnknownTransactionCommitResult`` label) tells that it did not; an interruption
    (``KeyboardInterrupt``), a network error or a timeout leave it unknown.
    """
    if not isinstance(exc, Exception):
        return True
    if isinstance(exc, PyMongoError):
        if exc.has_error_label("UnknownTransactionCommitResult") or exc.timeout:
            return True
        return isinstance(exc, ConnectionFailure)
    return True


def should_retry_commit(exc: BaseException) -> bool:
    """The commit's outcome is unknown and sending it again may settle it."""
    return (
        isinstance(exc, PyMongoError)
        and exc.has_error_label("UnknownTransactionCommitResult")
        and not _is_max_time_expired(exc)
    )


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Jittered wait before retry number ``attempt`` (1 for the first retry)."""
    ceiling = min(_BACKOFF_MAX, _BACKOFF_INITIAL * _BACKOFF_GROWTH ** max(attempt - 1, 0))
    return (rng or random).random() * ceiling
