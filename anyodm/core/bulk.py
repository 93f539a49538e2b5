"""``bulk_write``: inserts, saves, updates and deletes of several models in one call.

Planned first, for every item, before anything is sent (a value BSON cannot store, a
reference to an unsaved instance, a cycle of eager references: raised with nothing
written), then sent as one ``Collection.bulk_write`` per *batch*: consecutive items of
one collection (ordered), or every item of one collection (unordered).  A
revision-checked write (a model with optimistic concurrency) is a batch of its own,
so that what it matched is known.  MongoDB 8's client-level ``bulkWrite`` (several
collections in one command) is not used: not every server has it.

An item's saved state follows what the server acknowledged: only the instances of the
items written get theirs (at once, or in the transaction's ledger); a failed item's or
one never sent keep theirs; a batch whose outcome is unknown makes its instances
``MAYBE_STORED``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bson.raw_bson import RawBSONDocument
from pymongo import DeleteMany as DriverDeleteMany
from pymongo import DeleteOne as DriverDeleteOne
from pymongo import InsertOne, ReplaceOne
from pymongo import UpdateMany as DriverUpdateMany
from pymongo import UpdateOne as DriverUpdateOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError as DriverBulkWriteError
from pymongo.results import BulkWriteResult

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
from anyodm.core.delete_rules import refuse_delete_rules
from anyodm.core.gateway import DatabaseGateway
from anyodm.core.kinds import refuse_writes
from anyodm.core.operations import _check_loadable, _Write, _write_of, delete_filter
from anyodm.core.pending import (
    record_durable_or_pending,
    record_unknown,
    state_for_save,
    writes_in_flight,
)
from anyodm.core.polymorphism import family_documents_filter, sibling_conflicts
from anyodm.core.revisions import (
    REVISION_KEY,
    conflict_or_not_found,
    revision_conflict,
    uses_revisions,
)
from anyodm.core.server_operations import UpdateSpec
from anyodm.core.write_errors import DUPLICATE_KEY_CODES
from anyodm.errors import (
    AnyODMError,
    BulkWriteError,
    DuplicateKeyError,
    InvalidValueError,
    RevisionConflictError,
)
from anyodm.model.tracking import MAYBE_STORED, SavedState, StoredDocument, plan_save

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = ["bulk_write"]

_Op = (
    InsertOne[Any]
    | ReplaceOne[Any]
    | DriverUpdateOne
    | DriverUpdateMany
    | DriverDeleteOne
    | DriverDeleteMany
)


class _Entry:
    """One item, planned: the driver operation it sends and what it leaves."""

    __slots__ = (
        "code",
        "collection",
        "details",
        "error",
        "fallback",
        "guard",
        "index",
        "item",
        "message",
        "op",
        "state",
        "status",
        "upsert",
        "upserted_id",
    )

    def __init__(
        self,
        index: int,
        item: BulkItem,
        op: _Op | None,
        state: SavedState = None,
        fallback: _Op | None = None,
        guard: Mapping[str, Any] | None = None,
        upsert: bool = False,
    ) -> None:
        self.index = index
        self.item = item
        self.collection = item.model.__anyodm__.collection
        #: None: nothing to send (a save without changes)
        self.op = op
        #: the saved state the instance gets once the write is acknowledged
        self.state = state
        #: for the insert of a generated key: the upsert sent if the key exists
        self.fallback = fallback
        #: a revision-checked write: its filter (sent alone; matching nothing is a conflict)
        self.guard = guard
        #: a revision-checked upsert (of an instance believed fresh)
        self.upsert = upsert
        self.status: ItemStatus | None = None
        self.code: int | None = None
        self.message: str | None = None
        self.error: AnyODMError | None = None
        self.details: Mapping[str, Any] | None = None
        self.upserted_id: Any = None

    def failed(self, details: Mapping[str, Any], driver_error: BaseException) -> None:
        self.status = "failed"
        self.details = details
        code = details.get("code")
        self.code = code if isinstance(code, int) else None
        self.message = str(details.get("errmsg") or driver_error)
        if self.code in DUPLICATE_KEY_CODES:
            key = details.get("keyValue")
            self.error = DuplicateKeyError(
                self.item.model,
                key if isinstance(key, dict) else None,
                driver_error,
                self.item.instance,
            )

    def refused(self, error: AnyODMError) -> None:
        self.status = "failed"
        self.error = error
        self.message = str(error)

    def result(self) -> ItemResult:
        return ItemResult(
            self.index,
            self.item,
            self.status or "not_written",
            self.code,
            self.message,
            self.error,
            self.details,
            self.upserted_id,
        )


class _Counts:
    __slots__ = ("deleted", "inserted", "matched", "modified", "upserted")

    def __init__(self) -> None:
        self.inserted = self.matched = self.modified = self.deleted = self.upserted = 0

    def add_result(self, result: BulkWriteResult) -> None:
        self.inserted += result.inserted_count
        self.matched += result.matched_count
        self.modified += result.modified_count
        self.deleted += result.deleted_count
        self.upserted += result.upserted_count

    def add_details(self, details: Mapping[str, Any]) -> None:
        self.inserted += int(details.get("nInserted", 0))
        self.matched += int(details.get("nMatched", 0))
        self.modified += int(details.get("nModified", 0))
        self.deleted += int(details.get("nRemoved", 0))
        self.upserted += int(details.get("nUpserted", 0))

    def nothing(self) -> bool:
        return not (self.inserted or self.matched or self.deleted or self.upserted)


# -- planning ------------------------------------------------------------------------------


def _refuse_unsaved_references(
    item: BulkItem, instance: Model, written_before: set[int], session: ClientSession | None
) -> None:
    """A bulk item saves no referenced instance: each must be stored already, or be the
    instance of an earlier ``Insert``/``Save`` item (``InvalidValueError`` otherwise)."""
    from anyodm.model.reference_paths import referenced_instances

    for ref in referenced_instances([instance]):
        if id(ref) in written_before:
            continue
        if not isinstance(state_for_save(ref, session), StoredDocument):
            raise InvalidValueError(
                item.model,
                item.model.__name__,
                f"{item!r} references a {type(ref).__name__} instance that is not saved "
                f"(primary key {ref.__anyodm_pk_value__!r}); a bulk write saves no "
                "referenced instance: save it first, or put an Insert or Save item of it "
                "earlier in the list",
            )


def _refuse_unsaved_update_references(
    spec: UpdateSpec, written_before: set[int], session: ClientSession | None
) -> None:
    for where, instance in spec.references:
        if id(instance) in written_before:
            continue
        if not isinstance(state_for_save(instance, session), StoredDocument):
            raise InvalidValueError(
                spec.find.model,
                where,
                f"the update references a {type(instance).__name__} instance that is not "
                f"saved (primary key {instance.__anyodm_pk_value__!r}); save it first, or "
                "put an Insert or Save item of it earlier in the list",
            )


def _with_store_whole(write: _Write) -> DriverUpdateOne:
    """The update of a stored document as an upsert that stores the whole document if
    it is gone (deleted elsewhere): the rest of it ``$setOnInsert``, so what the item
    matched or inserted is known from this one write."""
    assert write.whole is not None
    assert write.filter is not None
    update = dict(write.update)
    sent = set(update.get("$set", ())) | set(update.get("$unset", ()))
    rest = {key: value for key, value in write.whole.items() if key != "_id" and key not in sent}
    if rest:
        update["$setOnInsert"] = rest
    return DriverUpdateOne(write.filter, update, upsert=True)


def _plan_save(
    gateway: DatabaseGateway, index: int, item: Save[Any], session: ClientSession | None
) -> _Entry:
    write = _write_of(gateway, item.instance, session)
    if write is None:
        return _Entry(index, item, None, state_for_save(item.instance, session))
    if uses_revisions(item.model) and write.filter is not None:
        return _Entry(
            index, item, write.bulk_op(), write.sent, guard=write.filter, upsert=write.upsert
        )
    if write.whole is not None:
        return _Entry(index, item, _with_store_whole(write), write.sent)
    fallback = None if write.fallback is None else write.fallback.bulk_op()
    return _Entry(index, item, write.bulk_op(), write.sent, fallback)


def _plan_insert(
    gateway: DatabaseGateway, index: int, item: Insert[Any], session: ClientSession | None
) -> _Entry:
    model = item.model
    plan = plan_save(item.instance, None, use_own=False, codec_options=gateway.codec_options(model))
    sent = plan.sent
    if uses_revisions(model):
        sent = sent.with_element(REVISION_KEY, 1)
    return _Entry(index, item, InsertOne(RawBSONDocument(sent.raw)), sent)


def _plan_delete(
    gateway: DatabaseGateway, index: int, item: Delete[Any], session: ClientSession | None
) -> _Entry:
    doc_filter, guarded, _ = delete_filter(gateway, item.instance, session)
    return _Entry(
        index, item, DriverDeleteOne(doc_filter), None, guard=doc_filter if guarded else None
    )


def _plan(
    gateway: DatabaseGateway, items: list[BulkItem], session: ClientSession | None
) -> list[_Entry]:
    """Every item's write, planned before anything is sent."""
    _check_loadable(item.instance for item in items if item.instance is not None)
    entries: list[_Entry] = []
    written_before: set[int] = set()
    for index, item in enumerate(items):
        instance = item.instance
        if isinstance(item, (Save, Insert)):
            assert instance is not None
            _refuse_unsaved_references(item, instance, written_before, session)
            entry = (
                _plan_save(gateway, index, item, session)
                if isinstance(item, Save)
                else _plan_insert(gateway, index, item, session)
            )
            written_before.add(id(instance))
        elif isinstance(item, Delete):
            entry = _plan_delete(gateway, index, item, session)
        elif isinstance(item, (UpdateOne, UpdateMany)):
            spec = item.spec
            _refuse_unsaved_update_references(spec, written_before, session)
            kind = DriverUpdateMany if isinstance(item, UpdateMany) else DriverUpdateOne
            entry = _Entry(index, item, kind(spec.find.filter, spec.update, upsert=spec.upsert))
        else:
            assert isinstance(item, (DeleteOne, DeleteMany))
            remove = DriverDeleteOne if isinstance(item, DeleteOne) else DriverDeleteMany
            entry = _Entry(index, item, remove(item.spec.filter))
        entries.append(entry)
    return entries


def _batches(entries: list[_Entry], ordered: bool) -> list[list[_Entry]]:
    """Ordered: runs of consecutive items of one collection; unordered: one batch per
    collection (in the order they first appear).  A revision-checked write is alone."""
    batches: list[list[_Entry]] = []
    if ordered:
        for entry in entries:
            last = batches[-1] if batches else None
            if (
                last is not None
                and entry.guard is None
                and last[-1].guard is None
                and last[-1].collection == entry.collection
            ):
                last.append(entry)
            else:
                batches.append([entry])
        return batches
    by_collection: dict[str, list[_Entry]] = {}
    for entry in entries:
        if entry.guard is not None:
            batches.append([entry])
        else:
            group = by_collection.get(entry.collection)
            if group is None:
                group = by_collection[entry.collection] = []
                batches.append(group)
            group.append(entry)
    return batches


# -- sending -------------------------------------------------------------------------------


def _on_primary_key(details: Mapping[str, Any]) -> bool:
    pattern = details.get("keyPattern") or details.get("keyValue") or {}
    return details.get("code") in DUPLICATE_KEY_CODES and list(pattern) == ["_id"]


def _send(
    collection: Collection[Any], entries: list[_Entry], ordered: bool, session: ClientSession | None
) -> _Counts:
    """Send one batch; each entry's status says what the server did with it.

    An insert of a generated key that meets an existing ``_id`` (a copy of the fresh
    instance saved it) is sent again as its upsert (ordered: with the items after it).
    """
    counts = _Counts()
    pending = [entry for entry in entries if entry.op is not None]
    while pending:
        try:
            result = collection.bulk_write(
                [entry.op for entry in pending if entry.op is not None],
                ordered=ordered,
                session=session,
            )
        except DriverBulkWriteError as exc:
            details = exc.details
            if details.get("writeConcernErrors") or exc.timeout:
                raise  # applied or not, not acknowledged as asked
            counts.add_details(details)
            upserted = {u.get("index"): u.get("_id") for u in details.get("upserted", ())}
            errors = {err.get("index"): err for err in details.get("writeErrors", ())}
            first = min((i for i in errors if isinstance(i, int)), default=len(pending))
            again: list[_Entry] = []
            for position, entry in enumerate(pending):
                error = errors.get(position)
                if error is not None:
                    if entry.fallback is not None and _on_primary_key(error):
                        entry.op, entry.fallback = entry.fallback, None
                        again.append(entry)
                    else:
                        entry.failed(error, exc)
                elif not ordered or position < first:
                    entry.status, entry.upserted_id = "written", upserted.get(position)
                elif again:  # after a fallback: sent again behind it
                    again.append(entry)
            pending = again
            continue
        counts.add_result(result)
        for position, entry in enumerate(pending):
            upserted_ids = result.upserted_ids or {}
            entry.status, entry.upserted_id = "written", upserted_ids.get(position)
        pending = []
    failed_at = next((e.index for e in entries if e.status == "failed"), None)
    for entry in entries:
        if entry.op is None and (not ordered or failed_at is None or entry.index < failed_at):
            entry.status = "written"  # nothing to send
    return counts


def _check_guard(
    collection: Collection[Any], entry: _Entry, counts: _Counts, session: ClientSession | None
) -> None:
    """A revision-checked write: matching nothing is a conflict (a delete whose
    document is gone is not)."""
    instance = entry.item.instance
    assert instance is not None
    if entry.status == "failed" and isinstance(entry.error, DuplicateKeyError):
        # the upsert of an instance believed fresh met an existing revised document
        sibling = sibling_conflicts(collection, [instance], session)
        if sibling is not None:
            entry.refused(sibling)
        elif (
            entry.upsert
            and entry.guard
            and collection.count_documents(
                {**entry.guard, REVISION_KEY: {"$exists": True}}, limit=1, session=session
            )
        ):
            entry.refused(revision_conflict(instance, "save"))
        return
    if entry.status != "written" or not counts.nothing():
        return
    if isinstance(entry.item, Delete):
        within = family_documents_filter(entry.item.model)
        error = conflict_or_not_found(collection, instance, "delete", session, within)
        if isinstance(error, RevisionConflictError):
            entry.refused(error)
        return
    sibling = sibling_conflicts(collection, [instance], session)
    entry.refused(sibling if sibling is not None else revision_conflict(instance, "save"))


def _settle(
    entries: list[_Entry], session: ClientSession | None, overlapped: Callable[[Model], bool]
) -> None:
    """Record the saved state of each written instance item."""
    for entry in entries:
        instance = entry.item.instance
        if instance is None or entry.status != "written" or entry.op is None:
            continue
        state = MAYBE_STORED if overlapped(instance) else entry.state
        record_durable_or_pending(instance, state, session)


def _run_batch(
    gateway: DatabaseGateway,
    batch: list[_Entry],
    ordered: bool,
    session: ClientSession | None,
    overlapped: Callable[[Model], bool],
) -> _Counts:
    collection = gateway.collection(batch[0].item.model)
    try:
        counts = _send(collection, batch, ordered, session)
    except BaseException:
        _settle(batch, session, overlapped)
        for entry in batch:
            instance = entry.item.instance
            if instance is not None and entry.status is None and entry.op is not None:
                record_unknown(instance, session)
        raise
    if batch[0].guard is not None:
        _check_guard(collection, batch[0], counts, session)
    _settle(batch, session, overlapped)
    return counts


def bulk_write(
    gateway: DatabaseGateway,
    items: list[BulkItem],
    ordered: bool,
    session: ClientSession | None,
) -> BulkResult:
    """Write the items (see the module docs); :class:`BulkWriteError` carrying the
    result if any item failed.

    Ordered: batches are sent in the items' order and the first failure stops it (the
    items after it are not written).  Unordered: every batch is sent, each unordered.
    Inside a transaction the first failure aborts it on the server, so no batch is
    sent after a failed one.
    """
    refuse_writes((item.model for item in items), "bulk_write", session)
    for item in items:
        if isinstance(item, (Delete, DeleteOne, DeleteMany)):
            refuse_delete_rules(item.model, "bulk_write")
    entries = _plan(gateway, items, session)
    stop_at_failure = ordered or (session is not None and session.in_transaction)
    totals = _Counts()
    instances = [entry.item.instance for entry in entries if entry.item.instance is not None]
    with writes_in_flight(instances) as overlapped:
        for batch in _batches(entries, ordered):
            counts = _run_batch(gateway, batch, ordered, session, overlapped)
            for name in _Counts.__slots__:
                setattr(totals, name, getattr(totals, name) + getattr(counts, name))
            if stop_at_failure and any(entry.status == "failed" for entry in batch):
                break
    result = BulkResult(
        [entry.result() for entry in entries],
        totals.inserted,
        totals.matched,
        totals.modified,
        totals.deleted,
        totals.upserted,
    )
    if result.failed:
        raise BulkWriteError(result)
    return result
