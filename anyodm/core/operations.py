"""Every database operation of anyodm, once, as synchronous code over PyMongo.

``SyncEngine`` calls these directly; ``Engine`` runs them in a worker thread.  Each one
takes the engine's :class:`DatabaseGateway` and an optional driver ``ClientSession``,
and returns ready model instances (decoding happens here, in the caller's thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from bson.raw_bson import RawBSONDocument
from pymongo import IndexModel, InsertOne, ReplaceOne, UpdateOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    PyMongoError,
    WriteConcernError,
    WTimeoutError,
)
from pymongo.errors import DuplicateKeyError as PyMongoDuplicateKeyError

from anyodm.core.arguments import check_model_class
from anyodm.core.delete_rules import (
    CascadedDocuments,
    delete_cascaded,
    plan_cascade,
    require_transaction,
)
from anyodm.core.find import FindSpec, open_cursor, read_all
from anyodm.core.gateway import DatabaseGateway
from anyodm.core.indexes import ensure_index
from anyodm.core.kinds import (
    ensure_kind,
    refuse_kind_indexes,
    refuse_measurement_update,
    refuse_write,
    refuse_writes,
)
from anyodm.core.options import (
    NO_OPTIONS,
    CallOptions,
    refuse_in_transaction,
    writable_collection,
)
from anyodm.core.pending import (
    note_loaded,
    record_durable_or_pending,
    record_unknown,
    state_for_save,
    writes_in_flight,
)
from anyodm.core.polymorphism import (
    family_documents_filter,
    not_found_error,
    own_documents_filter,
    sibling_conflicts,
)
from anyodm.core.revisions import (
    REVISION_KEY,
    conflict_or_not_found,
    guarded_filter,
    next_revision,
    revision_conflict,
    uses_revisions,
    with_revision_increment,
)
from anyodm.core.shard_keys import shard_key_of, where_instance_lives, where_saved
from anyodm.core.write_errors import duplicate_keys_as_anyodm_errors
from anyodm.errors import (
    AnyODMError,
    DuplicateKeyError,
    InvalidOperationError,
    RevisionConflictError,
)
from anyodm.model.delete_rules import incoming_rules
from anyodm.model.kinds import TimeSeriesKind
from anyodm.model.tracking import (
    MAYBE_STORED,
    SavedState,
    SavePlan,
    StoredDocument,
    keeps_extras,
    plan_save,
)

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = [
    "IndexPlan",
    "configure_database",
    "count",
    "delete",
    "find_all",
    "find_one",
    "plan_indexes",
    "remove",
    "save",
    "save_all",
]

M = TypeVar("M", bound="Model")
T = TypeVar("T")


# -- reads -------------------------------------------------------------------------------


def find_all(gateway: DatabaseGateway, spec: FindSpec[T], session: ClientSession | None) -> list[T]:
    """Every matching document, decoded, in one thread hop.

    Read with the server's own batch sizes (usually one round trip) as undecoded
    documents, then decoded and validated in slices with a GIL hand-over after each
    (see :mod:`anyodm.core.batches`), so this thread never holds the GIL long enough to
    stall the event loop's thread (S1).
    """
    with open_cursor(gateway, spec, session) as cursor:
        found = read_all(cursor, gateway.codec_options(spec.model), spec.load)
    note_loaded(found, session)
    return found


def find_one(
    gateway: DatabaseGateway, spec: FindSpec[T], session: ClientSession | None
) -> T | None:
    """The first matching document, decoded, or None."""
    collection = spec.collection(gateway, session)
    options = spec.options
    if spec.pipeline is None:
        doc = collection.find_one(
            spec.filter,
            spec.projection,
            sort=spec.sort,
            skip=spec.skip,
            session=session,
            **options.driver,
        )
    else:
        with collection.aggregate(
            spec.pipeline, session=session, **options.aggregate_kwargs()
        ) as cursor:
            doc = next(cursor, None)
    if doc is None:
        return None
    found = spec.decode(doc)
    note_loaded((found,), session)
    return found


def count(gateway: DatabaseGateway, spec: FindSpec[Any], session: ClientSession | None) -> int:
    """How many documents match (through the find's pipeline when the filter reaches
    into referenced documents)."""
    collection = spec.collection(gateway, session)
    options = spec.options.driver
    if spec.pipeline is None:
        return collection.count_documents(spec.filter, session=session, **options)
    with collection.aggregate(spec.pipeline, session=session, **options) as cursor:
        counted = next(cursor, None)
    return 0 if counted is None else int(counted["n"])


# -- writes ------------------------------------------------------------------------------


def _unsaved_references(instances: list[M], session: ClientSession | None) -> list[Model]:
    """Every instance reachable from ``instances`` through references (in their fields
    and their embedded models, however deep) that has changes to save on ``session``
    (compared with the transaction's pending state inside one): each once, the
    ``instances`` themselves excluded, ordered so that a model's instances come after
    those of every model it references (children first)."""
    from anyodm.model.reference_paths import model_depth, referenced_instances

    reachable = referenced_instances(list(instances))
    unsaved = [ref for ref in reachable if _has_changes(ref, session)]
    unsaved.sort(key=lambda ref: model_depth(type(ref)))  # stable: children first kept
    return unsaved


def _has_changes(instance: Model, session: ClientSession | None) -> bool:
    plan = plan_save(instance, state_for_save(instance, session), use_own=False)
    return bool(plan.changes or plan.unset)


def _saving_order(instances: list[M], session: ClientSession | None) -> list[Model]:
    """``instances`` and their unsaved references, each once, children first."""
    from anyodm.model.reference_paths import model_depth

    ordered: list[Model] = [*_unsaved_references(instances, session)]
    seen = {id(ref) for ref in ordered}
    for instance in instances:
        if id(instance) not in seen:
            seen.add(id(instance))
            ordered.append(instance)
    ordered.sort(key=lambda instance: model_depth(type(instance)))
    return ordered


def _has_generated_key(instance: Model) -> bool:
    """The primary key came from its default (the user did not choose it)."""
    return type(instance).__anyodm__.primary_field not in instance.model_fields_set


class _Write(NamedTuple):
    """How one instance is saved: an insert of ``update``, an update of ``filter``, or
    (``replace``) ``update`` stored whole in its place.

    ``sent`` is the stored form of the instance's whole document as encoded for this
    write: its saved state once the write is durable.
    """

    #: the document to insert or store whole, or the update operators
    update: Mapping[str, Any]
    filter: dict[str, Any] | None  # None: insert
    sent: StoredDocument
    #: the document may not exist yet: the update creates it
    upsert: bool = False
    #: the filter holds the revision the instance knows (optimistic concurrency): a
    #: write that matches nothing is a conflict
    guarded: bool = False
    #: the whole document, stored again if the update of a stored document matched
    #: nothing (it was deleted meanwhile)
    whole: dict[str, Any] | None = None
    #: ``update`` is the whole document, replacing whatever is stored (upsert)
    replace: bool = False
    #: for an insert: the upsert to send instead if a document with its key exists (a
    #: copy of the fresh instance saved it, or it was stored again after a delete)
    fallback: _Write | None = None

    def bulk_op(self) -> InsertOne[Any] | UpdateOne | ReplaceOne[Any]:
        if self.filter is None:
            return InsertOne(self.update)
        if self.replace:
            return ReplaceOne(self.filter, self.update, upsert=True)
        return UpdateOne(self.filter, self.update, upsert=self.upsert)

    def run(
        self,
        collection: Collection[Any],
        session: ClientSession | None,
        options: CallOptions = NO_OPTIONS,
    ) -> bool:
        """Send the write; False if a guarded write matched nothing (a conflict)."""
        comment = options.comment
        if self.filter is None:
            collection.insert_one(self.update, session=session, **comment)
            return True
        if self.replace:
            collection.replace_one(
                self.filter, self.update, upsert=True, session=session, **comment
            )
            return True
        result = collection.update_one(
            self.filter, self.update, upsert=self.upsert, session=session, **comment
        )
        if result.matched_count or self.upsert:
            return True
        if self.guarded:
            return False
        if self.whole is not None:  # the stored document is gone: store it whole again
            collection.replace_one(self.filter, self.whole, upsert=True, session=session, **comment)
        return True


def _upsert_whole(
    model: type[Model], doc: dict[str, Any], pk_filter: dict[str, Any], sent: StoredDocument
) -> _Write:
    """An upsert of the whole document: every field ``$set`` (fields stored that the model
    does not know stay), or, for a model that keeps extra fields, the document replaced
    (extra fields removed from the instance go too)."""
    if keeps_extras(model):
        return _Write(doc, pk_filter, sent, upsert=True, replace=True)
    fields = {key: value for key, value in doc.items() if key != "_id"}
    update = {"$set": fields} if fields else {"$setOnInsert": {"_id": doc["_id"]}}
    return _Write(update, pk_filter, sent, upsert=True)


def _on_primary_key(exc: BaseException) -> bool:
    """Whether a duplicate key error (or the first write error of a bulk write) is on
    ``_id``."""
    details = getattr(exc, "details", None) or {}
    errors = details.get("writeErrors")
    if errors:
        details = errors[0]
    pattern = details.get("keyPattern") or details.get("keyValue") or {}
    return list(pattern) == ["_id"]


def _write_of(
    gateway: DatabaseGateway, instance: Model, session: ClientSession | None
) -> _Write | None:
    """The write that saves ``instance``'s changes (revision-checked for a model with
    optimistic concurrency), or None if there are none.

    A stored document gets the fields whose encoding changed (``$set``) and the extra
    fields that disappeared (``$unset``), and nothing else; if the update matches
    nothing (the document was deleted elsewhere), the whole document is stored again,
    never a partial one.  A fresh instance whose primary key was generated (a new
    ObjectId) cannot exist in the database yet, so it is inserted.  Anything else (a
    chosen key, an unknown outcome, a copy under another key) is an upsert of every
    field.
    """
    model = type(instance)
    state = state_for_save(instance, session)
    codec_options = gateway.codec_options(model)
    plan = plan_save(instance, state, use_own=False, codec_options=codec_options)
    doc = plan.doc
    pk_filter: dict[str, Any] = {"_id": doc["_id"]}
    located: dict[str, Any] = {}  # the shard key's values, where the document is
    shard_key = shard_key_of(model)
    if shard_key is not None:
        if plan.stored:
            assert isinstance(state, StoredDocument)
            changes = plan.changes
            located = where_saved(instance, shard_key, state, changes, session, codec_options)
        else:
            located = where_instance_lives(instance, shard_key, None, doc, codec_options)
        pk_filter.update(located)
    family_guard = own_documents_filter(model)
    if family_guard is not None:
        pk_filter.update(family_guard)
    base: SavedState = state if plan.stored else None
    if isinstance(model.__anyodm__.kind, TimeSeriesKind):
        return _measurement_write(instance, plan, state)
    if not plan.stored:
        if type(state) is StoredDocument:  # a copy under another key: a new document
            state = None
        upsert = _upsert_whole(model, doc, pk_filter, plan.sent)
        if state is None and _has_generated_key(instance):  # sent as encoded
            # a write error ends a transaction: no second try inside one
            in_transaction = session is not None and session.in_transaction
            fallback = None if uses_revisions(model) or in_transaction else upsert
            write = _Write(RawBSONDocument(plan.sent.raw), None, plan.sent, fallback=fallback)
        else:
            write = upsert
            base = state
    else:
        if not plan.changes and not plan.unset:
            return None
        update = {}
        if plan.changes:
            update["$set"] = plan.changes
        if plan.unset:
            update["$unset"] = dict.fromkeys(plan.unset, "")
        write = _Write(update, pk_filter, plan.sent, whole=doc)
    if not uses_revisions(model):
        return write
    sent = plan.sent.with_element(REVISION_KEY, next_revision(base))
    if write.filter is None:  # a new ObjectId: cannot conflict
        return _Write(RawBSONDocument(sent.raw), None, sent)
    revised = guarded_filter(doc["_id"], base)
    revised.update(located)
    if family_guard is not None:
        revised.update(family_guard)
    if write.replace:
        whole = {**doc, REVISION_KEY: next_revision(base)}
        return _Write(whole, revised, sent, upsert=True, replace=True)
    update = with_revision_increment(dict(write.update))
    return _Write(update, revised, sent, upsert=not plan.stored, guarded=plan.stored)


def _measurement_write(instance: Model, plan: SavePlan, state: SavedState) -> _Write | None:
    """The write saving a measurement of a time-series collection: an insert (of a
    fresh instance, or of a copy under another key), nothing for an unchanged stored
    one; the update of a stored one, and the save of one whose last save had an unknown
    outcome (an insert could store it twice), are refused."""
    if plan.stored:
        if plan.changes or plan.unset:
            refuse_measurement_update(instance)
        return None
    if state is MAYBE_STORED:
        model = type(instance)
        raise InvalidOperationError(
            f"save() of a {model.__name__} whose previous save had an unknown outcome: "
            f"{model.__name__} is a time-series collection, which cannot upsert, and an "
            "insert might store the measurement twice; find it again first"
        )
    # no upsert fallback: a time-series collection has no unique index on _id
    return _Write(RawBSONDocument(plan.sent.raw), None, plan.sent)


def _outcome_unknown(exc: BaseException) -> bool:
    """Whether a failed write may nevertheless have been applied."""
    cause = exc.__cause__ if isinstance(exc, AnyODMError) else exc
    if cause is None or isinstance(cause, AnyODMError):
        return False
    if not isinstance(cause, Exception):  # KeyboardInterrupt and the like, mid-call
        return True
    if isinstance(cause, (ConnectionFailure, WriteConcernError, WTimeoutError)):
        return True
    return isinstance(cause, PyMongoError) and cause.timeout


def _check_loadable(instances: Iterable[Model]) -> None:
    """Refuse, before anything is written, models whose references form a cycle."""
    from anyodm.model.references import check_loadable

    for model in {type(instance) for instance in instances}:
        check_loadable(model)


def save(
    gateway: DatabaseGateway,
    instance: M,
    session: ClientSession | None,
    options: CallOptions = NO_OPTIONS,
) -> M:
    """Save the referenced instances, then upsert ``instance``'s modified fields
    (``options``: the call's comment and write concern, for every write it sends)."""
    refuse_write(type(instance), "save", session)
    refuse_in_transaction(options, session)
    refs = _unsaved_references([instance], session)
    _check_loadable([instance, *refs])
    refuse_writes((type(ref) for ref in refs), "save", session)
    # planned before the references are written: a value BSON cannot store raises
    # InvalidValueError with nothing written
    write = _write_of(gateway, instance, session)
    if refs:
        _write_grouped(gateway, refs, session, options)
    if write is not None:
        with writes_in_flight((instance,)) as overlapped:
            _send_one(gateway, instance, write, session, overlapped, options)
    return instance


def _send_one(
    gateway: DatabaseGateway,
    instance: Model,
    write: _Write,
    session: ClientSession | None,
    overlapped: Callable[[Model], bool],
    options: CallOptions = NO_OPTIONS,
) -> None:
    """Send one instance's write and record its saved state (RevisionConflictError if a
    revision-checked write found the document changed: nothing was written)."""
    model = type(instance)
    collection = writable_collection(gateway, model, options, session)
    try:
        with duplicate_keys_as_anyodm_errors(model, [instance]):
            try:
                written = write.run(collection, session, options)
            except PyMongoDuplicateKeyError as exc:
                if write.fallback is None or not _on_primary_key(exc):
                    raise
                write = write.fallback  # its document exists (a copy saved it): upsert
                written = write.run(collection, session, options)
    except DuplicateKeyError as exc:
        sibling = sibling_conflicts(collection, [instance], session)
        if sibling is not None:
            raise sibling from exc
        # the upsert of an instance believed fresh met an existing revised document
        # (a guarded update that clashes is a unique key of another index)
        revised = write.upsert and write.filter is not None and REVISION_KEY in write.filter
        if revised and collection.count_documents(
            {**(write.filter or {}), REVISION_KEY: {"$exists": True}}, limit=1, session=session
        ):
            raise revision_conflict(instance, "save") from exc
        raise
    except BaseException as exc:
        if _outcome_unknown(exc):
            record_unknown(instance, session)
        raise
    if not written:
        sibling = sibling_conflicts(collection, [instance], session)
        if sibling is not None:
            raise sibling
        raise revision_conflict(instance, "save")
    _record(instance, write.sent, session, overlapped)


def _record(
    instance: Model,
    state: SavedState,
    session: ClientSession | None,
    overlapped: Callable[[Model], bool],
) -> None:
    """The write of ``instance`` succeeded: record the saved state it gives it."""
    record_durable_or_pending(instance, MAYBE_STORED if overlapped(instance) else state, session)


def save_all(
    gateway: DatabaseGateway,
    instances: list[M],
    session: ClientSession | None,
    options: CallOptions = NO_OPTIONS,
) -> list[M]:
    """Save many instances and every instance they reference that has changes, each once,
    children first, with one ordered bulk write per model.

    On a failure, the models written before the failing one's are saved, and of its own
    model the instances before the failing one (each bulk write is ordered); the rest
    are not written, and every instance's saved state says which.  Run it in a
    transaction for all or nothing.
    """
    refuse_writes((type(instance) for instance in instances), "save_all", session)
    refuse_in_transaction(options, session)
    ordered = _saving_order(instances, session)
    _check_loadable(ordered)
    refuse_writes((type(instance) for instance in ordered), "save_all", session)
    _write_grouped(gateway, ordered, session, options)
    return instances


def _write_grouped(
    gateway: DatabaseGateway,
    instances: list[Model],
    session: ClientSession | None,
    options: CallOptions = NO_OPTIONS,
) -> None:
    """Write the changes of ``instances`` (in their order): one bulk write per model."""
    groups: dict[type[Model], list[tuple[Model, _Write]]] = {}
    planned: set[int] = set()
    for instance in instances:
        if id(instance) in planned:  # listed twice: one write
            continue
        planned.add(id(instance))
        write = _write_of(gateway, instance, session)
        if write is not None:
            groups.setdefault(type(instance), []).append((instance, write))
    for model, pending in groups.items():
        with writes_in_flight(done for done, _ in pending) as overlapped:
            if uses_revisions(model):  # each write checked on its own
                for done, write in pending:
                    _send_one(gateway, done, write, session, overlapped, options)
                continue
            collection = writable_collection(gateway, model, options, session)
            _bulk_write(collection, pending, session, overlapped, options)


def _bulk_write(
    collection: Collection[Any],
    pending: list[tuple[Model, _Write]],
    session: ClientSession | None,
    overlapped: Callable[[Model], bool],
    options: CallOptions = NO_OPTIONS,
) -> None:
    """One ordered bulk write of one model's writes, and the saved states it gives.

    An insert that meets an existing ``_id`` (a copy of the fresh instance saved it) is
    sent again as its upsert, with the writes after it.
    """
    model = type(pending[0][0])
    while True:
        writes = [write for _, write in pending]
        try:
            with duplicate_keys_as_anyodm_errors(model, [done for done, _ in pending]):
                result = collection.bulk_write(
                    [write.bulk_op() for write in writes],
                    ordered=True,
                    session=session,
                    **options.comment,
                )
                if _some_update_unmatched(writes, result.matched_count, result.upserted_count):
                    # again, one by one in order (each is idempotent: $set/$unset, or an
                    # upsert), so that a document that was gone is stored whole at its
                    # turn and the writes after it still come after it
                    for write in writes:
                        if write.filter is not None:
                            write.run(collection, session, options)
        except DuplicateKeyError as exc:
            failed = _first_failed_index(exc)
            _record_applied(pending[:failed], exc, session, overlapped)
            done, write = pending[failed]
            if write.fallback is not None and _on_primary_key(exc.__cause__ or exc):
                pending = [(done, write.fallback), *pending[failed + 1 :]]
                continue
            sibling = sibling_conflicts(collection, [done], session)
            if sibling is not None:
                raise sibling from exc
            raise
        except BaseException as exc:
            applied = None if _outcome_unknown(exc) else _applied_before(exc)
            if applied is None:  # some of them may have been applied
                for done, _ in pending:
                    record_unknown(done, session)
            else:
                _record_applied(pending[:applied], exc, session, overlapped)
            raise
        for done, write in pending:
            _record(done, write.sent, session, overlapped)
        return


def _some_update_unmatched(writes: list[_Write], matched: int, upserted: int) -> bool:
    """Whether an update of a stored document in a bulk write matched nothing (it was
    deleted meanwhile), from the bulk's counts (matched upserts are counted too)."""
    updates = sum(1 for write in writes if write.whole is not None)
    if not updates:
        return False
    upserts = sum(1 for write in writes if write.filter is not None and write.upsert)
    return matched - (upserts - upserted) < updates


def _record_applied(
    applied: list[tuple[Model, _Write]],
    exc: BaseException,
    session: ClientSession | None,
    overlapped: Callable[[Model], bool],
) -> None:
    """The writes before a failed one of an ordered bulk write were applied: record
    them, except updates of stored documents if one of them matched nothing (what is
    stored of those is then unknown)."""
    cause = exc if isinstance(exc, BulkWriteError) else exc.__cause__
    details = cause.details if isinstance(cause, BulkWriteError) else {}
    matched, upserted = details.get("nMatched"), details.get("nUpserted")
    unmatched = not isinstance(matched, int) or _some_update_unmatched(
        [write for _, write in applied], matched, upserted if isinstance(upserted, int) else 0
    )
    for done, write in applied:
        if unmatched and write.whole is not None:
            record_unknown(done, session)
        else:
            _record(done, write.sent, session, overlapped)


def _applied_before(exc: BaseException) -> int | None:
    """How many writes of an ordered bulk write were applied before ``exc``; None if it
    can't be told (a command failed after others were applied, or before any was)."""
    cause = exc if isinstance(exc, BulkWriteError) else exc.__cause__
    if isinstance(cause, BulkWriteError):
        return _first_failed_index(exc)
    return None


def _first_failed_index(exc: BaseException) -> int:
    """Index of the first failed write of an ordered bulk write (0 if unknown)."""
    cause = exc if isinstance(exc, BulkWriteError) else exc.__cause__
    if isinstance(cause, BulkWriteError):
        errors = cause.details.get("writeErrors") or [{}]
        index = errors[0].get("index", 0)
        return int(index) if isinstance(index, int) else 0
    return 0


class DeleteFilter(NamedTuple):
    """The filter of one instance's delete and what it guards."""

    filter: dict[str, Any]
    #: the filter checks the instance's revision (optimistic concurrency)
    guarded: bool
    #: the polymorphic family's part of the filter (None outside a family)
    family_guard: dict[str, Any] | None


def delete_filter(
    gateway: DatabaseGateway, instance: Model, session: ClientSession | None
) -> DeleteFilter:
    """What a delete of ``instance`` filters on (``delete`` and bulk ``Delete`` items):
    its ``_id``, the revision it knows, the shard key's values where the document was
    loaded or last saved, and its class within a polymorphic family."""
    model = type(instance)
    doc_filter: dict[str, Any] = {"_id": instance.__anyodm_stored_pk__}
    guarded = False
    if uses_revisions(model):
        state = state_for_save(instance, session)
        if isinstance(state, StoredDocument):
            doc_filter, guarded = guarded_filter(doc_filter["_id"], state), True
    shard_key = shard_key_of(model)
    if shard_key is not None:
        state = state_for_save(instance, session)
        codec_options = gateway.codec_options(model)
        doc_filter.update(where_instance_lives(instance, shard_key, state, None, codec_options))
    family_guard = family_documents_filter(model)
    if family_guard is not None:
        doc_filter.update(family_guard)
    return DeleteFilter(doc_filter, guarded, family_guard)


def delete(
    gateway: DatabaseGateway,
    instance: Model,
    session: ClientSession | None,
    options: CallOptions = NO_OPTIONS,
) -> None:
    """Delete ``instance``'s document; DocumentNotFoundError if it was not there.

    In a polymorphic family the document must be of the instance's class or one of its
    subclasses: a document of another class with the same ``_id`` is left alone (and
    the error says so).  Either way the instance is unsaved afterwards (at commit
    inside a transaction): a later save stores it whole.

    The delete rules of the references to the model apply (``DeleteDeniedError`` with
    nothing deleted; cascaded documents deleted after it, in the transaction a
    cascade requires).
    """
    model = type(instance)
    refuse_write(model, "delete", session)
    collection = writable_collection(gateway, model, options, session)
    cascaded: list[CascadedDocuments] = []
    if incoming_rules(model):
        require_transaction(model, session)
        cascaded = plan_cascade(gateway, model, [instance.__anyodm_stored_pk__], session)
    doc_filter, guarded, family_guard = delete_filter(gateway, instance, session)
    with writes_in_flight((instance,)) as overlapped:
        try:
            result = collection.delete_one(doc_filter, session=session, **options.comment)
        except BaseException as exc:
            if _outcome_unknown(exc):
                record_unknown(instance, session)
            raise
        if result.deleted_count == 0 and guarded:
            error = conflict_or_not_found(collection, instance, "delete", session, family_guard)
            if isinstance(error, RevisionConflictError):
                raise error
        _record(instance, None, session, overlapped)
    if result.deleted_count == 0:
        raise not_found_error(collection, instance, session)
    delete_cascaded(gateway, cascaded, session)


def remove(
    gateway: DatabaseGateway,
    spec: FindSpec[Any],
    just_one: bool,
    session: ClientSession | None,
) -> int:
    """Delete the matching documents (at most one with ``just_one``); how many went.

    With delete rules on references to the model, the matching documents' keys are
    read first and the rules applied to them (as :func:`delete`); the documents
    deleted are those that match and were read.
    """
    refuse_write(spec.model, "remove", session)
    if incoming_rules(spec.model):
        return _remove_with_rules(gateway, spec, just_one, session)
    collection = writable_collection(gateway, spec.model, spec.options, session)
    delete = collection.delete_one if just_one else collection.delete_many
    return delete(spec.filter, session=session, **spec.options.driver).deleted_count


def _remove_with_rules(
    gateway: DatabaseGateway,
    spec: FindSpec[Any],
    just_one: bool,
    session: ClientSession | None,
) -> int:
    model = spec.model
    require_transaction(model, session)
    collection = writable_collection(gateway, model, spec.options, session)
    found = collection.find(spec.filter, {"_id": 1}, limit=1 if just_one else 0, session=session)
    ids = [doc["_id"] for doc in found]
    if not ids:
        return 0
    cascaded = plan_cascade(gateway, model, ids, session)
    matched = {"$and": [spec.filter, {"_id": {"$in": ids}}]}
    deleted = collection.delete_many(matched, session=session, **spec.options.driver).deleted_count
    delete_cascaded(gateway, cascaded, session)
    return deleted


# -- schema ------------------------------------------------------------------------------


def _family_indexes(model: type[Model]) -> list[IndexModel]:
    """The model's indexes; for a polymorphic model, its subclasses' too (one collection,
    each limited to its class's documents), each once by name (``TypeError`` naming both
    models if two classes give one name to different indexes, before anything is sent)."""
    info = model.__anyodm__
    members = [model] if info.family is None else info.family.members_of(model)
    indexes: dict[str, tuple[type[Model], IndexModel]] = {}
    for member in members:
        for index in member.__anyodm__.indexes:
            name = index.document["name"]
            first = indexes.setdefault(name, (member, index))
            if first[1].document != index.document:
                raise TypeError(
                    f"{member.__name__}: the index name {name!r} is already used by "
                    f"{first[0].__name__} for another index of the collection "
                    f"{info.collection!r} (name one of them differently)"
                )
    return [index for _, index in indexes.values()]


IndexPlan = list[tuple["type[Model]", list[IndexModel]]]


def plan_indexes(models: Iterable[type[Model]]) -> IndexPlan:
    """Each model with the indexes ``configure_database`` creates for it; checked (a
    model class, index names that agree within a family) before anything is sent."""
    checked = [check_model_class(m, "configure_database") for m in models]
    planned = [(model, _family_indexes(model)) for model in checked]
    for model, indexes in planned:
        refuse_kind_indexes(model, indexes)
    return planned


def configure_database(
    gateway: DatabaseGateway,
    planned: IndexPlan,
    update_existing_indexes: bool,
    session: ClientSession | None,
) -> None:
    """Create what the planned models need in the database: their time-series
    collections and views (:func:`anyodm.core.kinds.ensure_kind`), then their indexes
    (with ``update_existing_indexes``, replacing changed ones).  Safe to run from many
    processes at once (:func:`anyodm.core.indexes.ensure_index`).

    This is the one place where start-up creates things in the database (collection
    options belong here too, before the indexes).
    """
    for model, _ in planned:  # first: an index would create a plain collection
        ensure_kind(gateway.database, model, session)
    for model, indexes in planned:
        collection = gateway.collection(model)
        for index in indexes:
            ensure_index(collection, index, update_existing_indexes, session)
