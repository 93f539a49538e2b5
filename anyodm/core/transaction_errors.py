"""Turning the driver's transaction errors into anyodm's (sync and async engines).

* A standalone ``mongod`` refuses the first operation of a transaction with code 20
  (``IllegalOperation``, "Transaction numbers are only allowed on a replica set member
  or mongos"): :func:`translate_transaction_error` makes it a
  :class:`~anyodm.errors.TransactionsNotSupportedError`.
* ``with_transaction`` that stops retrying because its time ran out raises
  :func:`retries_exhausted`'s error instead of the last retryable driver error, whose
  label would tell the reader to retry.
"""

from __future__ import annotations

from pymongo.errors import OperationFailure

from anyodm.core.retry import is_transient, should_retry_commit
from anyodm.errors import TransactionRetriesExhaustedError, TransactionsNotSupportedError

__all__ = [
    "retries_exhausted",
    "transactions_unsupported",
    "translate_transaction_error",
]

_ILLEGAL_OPERATION = 20


def transactions_unsupported(exc: BaseException) -> bool:
    """Whether ``exc`` is a standalone server's refusal to run a transaction."""
    return (
        isinstance(exc, OperationFailure)
        and exc.code == _ILLEGAL_OPERATION
        and "replica set member or mongos" in str(exc)
    )


def translate_transaction_error(exc: BaseException) -> BaseException:
    """What anyodm raises for ``exc`` met in a transaction: a
    :class:`TransactionsNotSupportedError` (caused by ``exc``) for a standalone
    server's refusal, else ``exc`` itself."""
    if transactions_unsupported(exc):
        error = TransactionsNotSupportedError(exc)
        error.__cause__ = exc
        return error
    return exc


def retries_exhausted(
    exc: BaseException,
    *,
    at_commit: bool,
    attempts: int,
    elapsed: float,
    time_limit: float,
    deadline_first: bool = False,
) -> BaseException:
    """What ``with_transaction`` raises when ``exc`` ends its last attempt.

    A :class:`TransactionRetriesExhaustedError` (caused by ``exc``) when ``exc`` is one
    that ``with_transaction`` retries — ``TransientTransactionError`` from the callback
    or the commit (``at_commit``), or a commit's ``UnknownTransactionCommitResult`` —
    so that only the lack of time stopped it; else ``exc`` itself.
    """
    unknown = at_commit and should_retry_commit(exc)
    if not (unknown or is_transient(exc)):
        return exc
    error = TransactionRetriesExhaustedError(
        attempts=attempts,
        elapsed=elapsed,
        time_limit=time_limit,
        last_error=exc,
        outcome_unknown=unknown,
        deadline_first=deadline_first,
    )
    error.__cause__ = exc
    return error
