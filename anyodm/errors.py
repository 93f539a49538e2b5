"""The errors anyodm raises.  Every error a user can cause is an :class:`AnyODMError`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anyodm.core.bulk_results import BulkResult, ItemResult
    from anyodm.migrations.steps import MigrationStatus

__all__ = [
    "AnyODMError",
    "CollectionMismatchError",
    "BulkWriteError",
    "CursorClosedError",
    "CursorConsumedError",
    "DeleteDeniedError",
    "DocumentNotFoundError",
    "DocumentParsingError",
    "DuplicateKeyError",
    "WrittenDocumentParsingError",
    "InvalidFieldError",
    "InvalidOperationError",
    "InvalidValueError",
    "LifespanError",
    "PendingMigrationsError",
    "RevisionConflictError",
    "SessionStateError",
    "TransactionRetriesExhaustedError",
    "TransactionsNotSupportedError",
]


class AnyODMError(Exception):
    """Base class of every error raised by anyodm itself."""


class CursorConsumedError(AnyODMError, RuntimeError):
    """A cursor that was already read to its end (or closed) was iterated again.

    A streaming cursor keeps nothing it yielded: use ``to_list()`` (or ``await`` the
    cursor) to keep the results, or run ``find`` again for a fresh cursor.
    """


class CursorClosedError(AnyODMError, RuntimeError):
    """A cursor or change stream was closed while this read of it waited or ran.

    The read returns nothing of what the server may have sent: after ``aclose()``
    (or ``close()``) returns, no read of the cursor or stream yields data.  Reads that
    start after the close see the end of the iteration instead.
    """


class InvalidOperationError(AnyODMError, RuntimeError):
    """An operation that MongoDB refuses in the current context (for example ``watch``
    inside a transaction), refused before anything is sent."""


class CollectionMismatchError(AnyODMError):
    """``configure_database`` found a model's collection or view already in the database,
    of another kind or with another definition than the model declares (a time-series
    collection's options, a view's source or pipeline).  Nothing was changed for it."""

    def __init__(
        self, model: type[Any], collection: str, differences: Sequence[str], hint: str = ""
    ) -> None:
        self.model = model
        self.collection = collection
        self.differences: list[str] = list(differences)
        super().__init__(
            f"configure_database: {model.__name__}'s collection {collection!r} exists and "
            f"is not what the model declares: {'; '.join(self.differences)}"
            + (f" ({hint})" if hint else "")
        )


class DocumentNotFoundError(AnyODMError):
    """The instance an operation needed (``delete``, a reference) is not in the database."""

    def __init__(self, instance: Any, message: str | None = None) -> None:
        self.instance = instance
        if message is None:
            model = type(instance).__name__
            pk = getattr(instance, "__anyodm_pk_value__", None)
            message = f"{model} instance not found in the database (primary key {pk!r})"
        super().__init__(message)


class DeleteDeniedError(AnyODMError):
    """A delete refused by a ``Reference(on_delete="deny")``: documents still reference
    what it would delete.  Nothing was deleted.

    ``model`` is the model whose document(s) the delete would remove (the target of the
    reference, perhaps reached through a cascade), ``referencing_model`` and ``field``
    the model and the python path of the denying reference field (dotted through
    embedded models), ``count`` how many of its documents reference them.
    """

    def __init__(
        self, model: type[Any], referencing_model: type[Any], field: str, count: int
    ) -> None:
        self.model = model
        self.referencing_model = referencing_model
        self.field = field
        self.count = count
        documents = "document" if count == 1 else "documents"
        super().__init__(
            f"delete of {model.__name__} refused: {count} {referencing_model.__name__} "
            f"{documents} still reference it through {referencing_model.__name__}.{field} "
            '(Reference(on_delete="deny")); nothing was deleted. Delete or change those '
            "documents first"
        )


class DocumentParsingError(AnyODMError, ValueError):
    """A document from the database does not fit its model.

    ``errors`` lists each failing field as ``(dotted_path, message)``; the path uses
    the stored key names and list indices (``"address.lines.2"``).
    """

    def __init__(
        self,
        model: type[Any],
        errors: Sequence[tuple[str, str]],
        document_id: Any = None,
    ) -> None:
        self.model = model
        self.errors: list[tuple[str, str]] = list(errors)
        self.document_id = document_id
        where = f" (_id={document_id!r})" if document_id is not None else ""
        details = "; ".join(f"{path or '<document>'}: {msg}" for path, msg in self.errors)
        super().__init__(
            f"document{where} does not fit model {model.__name__}: "
            f"{len(self.errors)} failing field(s): {details}"
        )


class WrittenDocumentParsingError(DocumentParsingError):
    """``find_one_and_update``/``find_one_and_delete`` applied their write, then could
    not load the document the server returned (it does not fit the model, or a
    reference target is missing).

    The write is done: do not retry it (an ``$inc`` would be applied twice).
    ``document`` is the raw document the server returned (stored key names, references
    as keys; before or after the update as ``return_updated`` asked): after
    ``find_one_and_delete`` it is the only copy left, which
    ``engine.get_collection(Model).insert_one(error.document)`` stores back.
    ``operation`` names the operation; ``errors``/``model`` are as in
    :class:`DocumentParsingError`.
    """

    #: the write was applied (always True; for ``except DocumentParsingError`` handlers)
    applied = True

    def __init__(self, operation: str, document: Mapping[str, Any], error: DocumentParsingError):
        self.operation = operation
        self.document = document
        super().__init__(error.model, error.errors, document.get("_id"))
        done = "deleted" if operation == "find_one_and_delete" else "updated"
        self.args: tuple[Any, ...] = (
            f"{operation}(): the document was {done} (do not retry), but it cannot be "
            f"loaded; its raw document is in this error's .document: {self.args[0]}",
        )


class DuplicateKeyError(AnyODMError):
    """A write violated a unique index.

    ``instance`` is the instance whose write failed (ODMantic's attribute; ``None`` when
    the write was not of one instance), ``key_value`` the offending key (as the server
    reports it, when it does), ``model`` the model written, ``driver_error`` PyMongo's
    original error.
    """

    def __init__(
        self,
        model: type[Any] | None,
        key_value: Mapping[str, Any] | None,
        driver_error: BaseException,
        instance: Any = None,
    ) -> None:
        self.instance = instance
        self.model = model
        self.key_value: dict[str, Any] | None = dict(key_value) if key_value is not None else None
        self.driver_error = driver_error
        name = model.__name__ if model is not None else "document"
        key = f" {self.key_value!r}" if self.key_value else ""
        super().__init__(f"duplicate key{key} while writing {name}: {driver_error}")


class BulkWriteError(AnyODMError):
    """Some items of a ``bulk_write`` failed.

    ``result`` is the :class:`~anyodm.bulk.BulkResult` of the whole call: which items
    were written (their instances' saved state records it), which failed (with the
    server's code and message, and a :class:`DuplicateKeyError` or
    :class:`RevisionConflictError` naming the instance where one applies) and which
    were not written (after the failure of an ordered bulk write).  ``failed`` lists
    the failed items' results.
    """

    def __init__(self, result: BulkResult) -> None:
        self.result: BulkResult = result
        self.failed: list[ItemResult] = result.failed
        first = self.failed[0] if self.failed else None
        counts = (
            f"{len(self.failed)} of {len(result.items)} item(s) failed, "
            f"{len(result.written)} written, {len(result.not_written)} not written"
        )
        where = f"; first: {first.describe()}" if first is not None else ""
        super().__init__(f"bulk_write: {counts}{where}")


class SessionStateError(AnyODMError, RuntimeError):
    """A session or transaction was used in a state that does not allow the operation."""


class InvalidFieldError(AnyODMError, TypeError):
    """An operation names a field it cannot use: unknown, of the wrong type for the
    operator, or not updatable.  Raised before anything is sent.

    ``model`` is the model operated on, ``field`` the field's dotted name
    (``"Order.address.city"``).
    """

    def __init__(self, model: type[Any], field: str, reason: str) -> None:
        self.model = model
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class InvalidValueError(AnyODMError, ValueError):
    """A value given for a field does not fit the field's type (raised before sending)."""

    def __init__(self, model: type[Any], field: str, reason: str) -> None:
        self.model = model
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class RevisionConflictError(AnyODMError):
    """A save or delete of an instance whose document changed since it was loaded.

    Raised for models with ``model_config = {"optimistic_concurrency": True}``; nothing
    was written.  Re-read the document, re-apply the change and save again.
    """

    def __init__(self, instance: Any, operation: str, *, never_loaded: bool = False) -> None:
        self.instance = instance
        self.operation = operation
        model = type(instance).__name__
        pk = getattr(instance, "__anyodm_pk_value__", None)
        if never_loaded:
            reason = (
                "a document with this primary key already exists, and this instance was "
                "never loaded or saved (it knows no revision of it); load the document "
                "to change it, or choose another key"
            )
        else:
            reason = (
                "the document was changed or deleted since this instance was loaded "
                "(stale revision); re-read it and retry"
            )
        super().__init__(f"{operation} of {model} (primary key {pk!r}) refused: {reason}")


_RETRY_LABELS = ("TransientTransactionError", "UnknownTransactionCommitResult")


def _describe_driver_error(error: BaseException) -> str:
    """``OperationFailure: Write conflict (code 112, TransientTransactionError)``."""
    details = getattr(error, "details", None)
    text = details.get("errmsg") if isinstance(details, Mapping) else None
    text = str(text or error)
    if len(text) > 160:
        text = text[:157] + "..."
    extra = []
    code = getattr(error, "code", None)
    if code is not None:
        extra.append(f"code {code}")
    has_label = getattr(error, "has_error_label", None)
    if has_label is not None:
        extra += [label for label in _RETRY_LABELS if has_label(label)]
    more = f" ({'; '.join(extra)})" if extra else ""
    return f"{type(error).__name__}: {text}{more}"


class TransactionsNotSupportedError(AnyODMError):
    """The server cannot run transactions: it is a standalone ``mongod``.

    MongoDB runs transactions only on a replica set member or through ``mongos``; a
    standalone server refuses the first operation of a transaction (code 20,
    ``IllegalOperation``).  Nothing of the transaction was written.  Run the server as a
    replica set (one member is enough), or test against ``anyodm.testing``'s embedded
    server.  ``driver_error`` is PyMongo's error (also the ``__cause__``).
    """

    def __init__(self, driver_error: BaseException) -> None:
        self.driver_error = driver_error
        reply = getattr(driver_error, "details", None)
        said = reply.get("errmsg") if isinstance(reply, Mapping) else None
        super().__init__(
            "transactions need a replica set or a sharded cluster, and this server is a "
            f"standalone mongod (it answered {said or str(driver_error)!r}, code 20); "
            "nothing of the transaction was written. Run it as a replica set, one member "
            "is enough: start mongod with --replSet rs0, run rs.initiate() once, and "
            "connect with ?replicaSet=rs0. For tests, anyodm.testing's embedded server "
            "runs transactions (pip install 'anyodm[testing]'; see the testing docs)"
        )


class TransactionRetriesExhaustedError(AnyODMError):
    """``with_transaction`` stopped retrying: its time ran out while the last error of
    the transaction still asked for a retry (``TransientTransactionError``, or a commit
    whose outcome was unknown).

    ``attempts`` is how many times the callback ran, ``elapsed`` the seconds spent,
    ``time_limit`` the retry window (seconds), ``deadline_first`` whether the caller's
    own deadline ended the window before ``time_limit`` did, and ``last_error`` the
    error of the last attempt (also the ``__cause__``).  ``outcome_unknown`` is True
    when that was a commit whose outcome could not be learned: the transaction may have
    committed, so check the data before running it again; otherwise nothing of it was
    committed.  Frequent conflicts come from concurrent transactions writing the same
    documents: fewer of them at once, or a longer ``time_limit``, let it through.
    """

    def __init__(
        self,
        *,
        attempts: int,
        elapsed: float,
        time_limit: float,
        last_error: BaseException,
        outcome_unknown: bool,
        deadline_first: bool = False,
    ) -> None:
        self.attempts = attempts
        self.elapsed = elapsed
        self.time_limit = time_limit
        self.last_error = last_error
        self.outcome_unknown = outcome_unknown
        self.deadline_first = deadline_first
        window = (
            "the caller's deadline ended its retry window"
            if deadline_first
            else f"its retry window (time_limit={time_limit:g}s) ran out"
        )
        if outcome_unknown:
            what = (
                "the last commit's outcome is unknown (UnknownTransactionCommitResult): the "
                "transaction may have committed; check the data before running it again"
            )
        else:
            what = (
                "the last attempt failed with a transient error "
                "(TransientTransactionError); nothing of the transaction was committed"
            )
        super().__init__(
            f"with_transaction gave up after {attempts} attempt(s) in {elapsed:.2f}s: "
            f"{window}; {what}. Last error: {_describe_driver_error(last_error)}. "
            "Transactions that keep conflicting write the same documents concurrently: "
            "run fewer of them at once, or allow a longer time_limit"
        )


class PendingMigrationsError(AnyODMError):
    """``configure_database(..., migrations=...)`` found migrations that have not been
    applied, and ``on_pending="refuse"`` (the default) asked it to stop.

    Nothing was created: no index, no collection.  ``pending`` lists the
    :class:`~anyodm.migrations.MigrationStatus` of each one (its name, its ``state``:
    ``"pending"``, ``"applying"`` — another process may be running it — ``"reverting"``
    or ``"reverted"``); ``names`` their names, in the order they run.  Apply them
    (``python -m anyodm migrate up``, or ``await engine.migrate(...)``), or pass
    ``on_pending="run"`` to apply them at start-up.
    """

    def __init__(self, database: str, records: str, pending: Sequence[MigrationStatus]) -> None:
        self.database = database
        self.records = records
        self.pending: list[MigrationStatus] = list(pending)
        self.names: list[str] = [status.name for status in self.pending]
        #: each one's name and state, as the message lists them
        self.summary: str = ", ".join(_describe_pending(status) for status in self.pending)
        super().__init__(
            f"configure_database: {len(self.pending)} migration(s) not applied to database "
            f"{database!r} (recorded in {records!r}): {self.summary}; nothing was created. "
            "Apply them first (python -m anyodm migrate up, or await engine.migrate(...)), "
            'or pass on_pending="run" to apply them at start-up'
        )


def _describe_pending(status: MigrationStatus) -> str:
    details = [status.state]
    if status.state in ("applying", "reverting") and status.processed:
        details.append(f"{status.processed} documents so far")
    if status.locked_by:
        details.append(f"locked by {status.locked_by}")
    return f"{status.name} ({', '.join(details)})"


class LifespanError(AnyODMError, RuntimeError):
    """:class:`anyodm.asgi.EngineLifespan` was used outside its lifespan: its engine was
    asked for before the application started or after it stopped, or the same lifespan
    was started a second time while it ran."""
