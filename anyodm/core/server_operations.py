"""Operations the server carries out on documents that are never loaded first: atomic
updates, find-and-modify, ``distinct``; once, as synchronous code over PyMongo.

Like :mod:`anyodm.core.operations`, each takes the engine's gateway and an optional
driver session, validates nothing (the ``make_*`` functions did, before the thread
hop) and returns decoded results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pymongo import ReturnDocument
from pymongo.client_session import ClientSession

from anyodm.core.arguments import check_model_class
from anyodm.core.find import FindSpec, make_filter_spec, make_find_spec
from anyodm.core.gateway import DatabaseGateway
from anyodm.core.joins import with_references
from anyodm.core.kinds import refuse_write
from anyodm.core.options import writable_collection
from anyodm.core.pending import note_loaded, record_durable_or_pending, state_for_save
from anyodm.core.revisions import uses_revisions, with_revision_increment
from anyodm.core.write_errors import duplicate_keys_as_anyodm_errors
from anyodm.errors import DocumentParsingError, InvalidValueError, WrittenDocumentParsingError
from anyodm.model.field_codec import (
    codec_for,
    element_annotation,
    field_codec,
    resolve_field,
    resolve_name,
)
from anyodm.model.reference_paths import linked_instances
from anyodm.model.references import check_findable
from anyodm.model.tracking import MAYBE_STORED, StoredDocument, set_saved_state
from anyodm.model.update import build_update, referenced_by

if TYPE_CHECKING:
    pass

__all__ = [
    "DistinctSpec",
    "ModifySpec",
    "UpdateResult",
    "UpdateSpec",
    "distinct",
    "find_one_and_delete",
    "find_one_and_update",
    "make_distinct_spec",
    "make_modify_spec",
    "make_update_spec",
    "update",
]


@dataclass(frozen=True)
class UpdateResult:
    """What ``update_one``/``update_many`` did.

    ``matched``: documents the filter matched; ``modified``: documents actually changed
    (an update that leaves a document as it was does not count); ``upserted_id``: the
    ``_id`` of the document inserted by ``upsert=True``, else ``None``.
    """

    matched: int
    modified: int
    upserted_id: Any = None


# -- validated specifications (built before anything is sent) ---------------------------


class UpdateSpec:
    """A validated ``update_one``/``update_many``/``find_one_and_update``."""

    __slots__ = ("find", "references", "update", "upsert")

    def __init__(
        self,
        find: FindSpec[Any],
        update: dict[str, Any],
        upsert: bool,
        references: list[tuple[str, Any]] | None = None,
    ) -> None:
        self.find: FindSpec[Any] = find
        self.update: dict[str, Any] = update
        self.upsert: bool = upsert
        #: ``(field, instance)``: the instances whose keys the update stores
        self.references: list[tuple[str, Any]] = references or []

    def check_references_saved(self, session: ClientSession | None) -> None:
        """Refuse, before sending, an update storing the key of an instance not known to
        be saved (on ``session``: one saved in its transaction counts): an update cannot
        save it as a save's cascade would, and the stored key would point at nothing."""
        for where, instance in self.references:
            if not isinstance(state_for_save(instance, session), StoredDocument):
                model = type(instance).__name__
                raise InvalidValueError(
                    self.find.model,
                    where,
                    f"the update references a {model} instance that is not saved "
                    f"(primary key {instance.__anyodm_pk_value__!r}); save it first",
                )


def _check_bool(value: Any, name: str, operation: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{operation}(): {name} must be True or False, not {value!r:.80}")
    return value


def make_update_spec(
    model: type[Any],
    queries: tuple[Any, ...],
    update: Any,
    upsert: Any,
    operation: str,
    sort: Any = None,
) -> UpdateSpec:
    """Check the model, queries, update operations and options; raise before sending."""
    # the filter (and sort) only: an update never sends the find's $lookup pipeline
    if sort is None:
        find = make_filter_spec(model, queries, operation)
    else:
        find = make_find_spec(model, queries, sort, 0, None, operation)
    refuse_write(find.model, operation)
    document = build_update(find.model, update, operation)
    if uses_revisions(find.model):  # instances loaded before this update become stale
        document = with_revision_increment(document)
    upserting = _check_bool(upsert, "upsert", operation)
    info = find.model.__anyodm__
    if upserting and info.family is not None and info.discriminator is not None:
        # an upserted document of a polymorphic family records its class
        inserted = {**document.get("$setOnInsert", {}), info.family.key: info.discriminator}
        document = {**document, "$setOnInsert": inserted}
    return UpdateSpec(find, document, upserting, referenced_by(update))


class ModifySpec:
    """A validated ``find_one_and_update`` / ``find_one_and_delete``."""

    __slots__ = ("return_updated", "update")

    def __init__(self, update: UpdateSpec, return_updated: bool) -> None:
        self.update: UpdateSpec = update
        self.return_updated: bool = return_updated


def make_modify_spec(
    model: type[Any],
    queries: tuple[Any, ...],
    update: Any,
    sort: Any,
    return_updated: Any,
    upsert: Any,
) -> ModifySpec:
    spec = make_update_spec(model, queries, update, upsert, "find_one_and_update", sort)
    check_findable(spec.find.model)  # the document it returns is loaded as a find would
    return ModifySpec(spec, _check_bool(return_updated, "return_updated", "find_one_and_update"))


class DistinctSpec:
    """A validated ``distinct``: the stored key and how to decode its values."""

    __slots__ = ("decode", "find", "key")

    def __init__(self, find: FindSpec[Any], key: str, decode: Any) -> None:
        self.find: FindSpec[Any] = find
        self.key: str = key
        self.decode: Any = decode


def make_distinct_spec(model: type[Any], field: Any, queries: tuple[Any, ...]) -> DistinctSpec:
    """``field`` is a field proxy (``Book.tags``, ``Book.address.city``) or a field name."""
    checked = check_model_class(model, "distinct")
    if isinstance(field, str):
        resolved = resolve_name(checked, field, "distinct")
    else:
        resolved = resolve_field(checked, field, "distinct")
    find = make_filter_spec(checked, queries, "distinct")
    if resolved.reference is not None:
        target = resolved.reference
        pk = target.model_fields[target.__anyodm__.primary_field]
        codec = codec_for(pk.annotation, pk.metadata)
    elif (element := element_annotation(resolved.annotation)) is not None:
        codec = codec_for(element)  # MongoDB's distinct unwinds arrays: values are elements
    else:
        codec = field_codec(resolved)
    return DistinctSpec(find, resolved.path, codec.decode)


# -- the operations ----------------------------------------------------------------------


def update(
    gateway: DatabaseGateway, spec: UpdateSpec, many: bool, session: ClientSession | None
) -> UpdateResult:
    """Apply the update to the first (``update_one``) or every matching document."""
    model = spec.find.model
    refuse_write(model, "update_many" if many else "update_one", session)
    options = spec.find.options
    collection = writable_collection(gateway, model, options, session)
    spec.check_references_saved(session)
    write = collection.update_many if many else collection.update_one
    with duplicate_keys_as_anyodm_errors(model):
        result = write(
            spec.find.filter, spec.update, upsert=spec.upsert, session=session, **options.driver
        )
    return UpdateResult(result.matched_count, result.modified_count, result.upserted_id)


def find_one_and_update(
    gateway: DatabaseGateway, spec: ModifySpec, session: ClientSession | None
) -> Any:
    """Update the first matching document (by ``sort``) and return it, after the update
    or before it, as an instance; ``None`` if nothing matched (and nothing was upserted)."""
    find = spec.update.find
    model = find.model
    refuse_write(model, "find_one_and_update", session)
    collection = writable_collection(gateway, model, find.options, session)
    spec.update.check_references_saved(session)
    after = ReturnDocument.AFTER if spec.return_updated else ReturnDocument.BEFORE
    with duplicate_keys_as_anyodm_errors(model):
        doc = collection.find_one_and_update(
            find.filter,
            spec.update.update,
            sort=find.sort,
            upsert=spec.update.upsert,
            return_document=after,
            session=session,
            **find.options.driver,
        )
    if doc is None:
        return None
    instance = _load_written(gateway, model, doc, session, "find_one_and_update")
    if not spec.return_updated:  # a before-image: what is stored now is not known
        set_saved_state(instance, MAYBE_STORED)
    note_loaded((instance,), session)
    return instance


def find_one_and_delete(
    gateway: DatabaseGateway, spec: FindSpec[Any], session: ClientSession | None
) -> Any:
    """Delete the first matching document (by ``sort``) and return it as an instance
    (an unsaved one: saving it inserts it again); ``None`` if nothing matched."""
    model = spec.model
    refuse_write(model, "find_one_and_delete", session)
    collection = writable_collection(gateway, model, spec.options, session)
    doc = collection.find_one_and_delete(
        spec.filter, sort=spec.sort, session=session, **spec.options.driver
    )
    if doc is None:
        return None
    instance = _load_written(gateway, model, doc, session, "find_one_and_delete")
    note_loaded((instance,), session)  # what it loaded with it is pending in a transaction
    for copy in _copies_of(instance):  # unsaved (at commit in a transaction)
        record_durable_or_pending(copy, None, session)
    return instance


def _load_written(
    gateway: DatabaseGateway,
    model: type[Any],
    doc: Mapping[str, Any],
    session: ClientSession | None,
    operation: str,
) -> Any:
    """The instance of a document a write returned; a failure to load it says that the
    write was applied and carries the raw document (never lost, never retried)."""
    try:
        return model.model_validate_doc(with_references(gateway, model, doc, session))
    except DocumentParsingError as exc:
        raise WrittenDocumentParsingError(operation, doc, exc) from exc


def _copies_of(instance: Any) -> list[Any]:
    """``instance`` and the copies of its document standing in for references to it in
    what was loaded with it (a back-referenced document's reference to it)."""
    collection = type(instance).__anyodm__.collection
    key = instance.__anyodm_stored_pk__
    return [
        instance,
        *(
            other
            for other in linked_instances([instance])
            if getattr(type(other).__anyodm__, "collection", None) == collection
            and other.__anyodm_stored_pk__ == key
        ),
    ]


def distinct(
    gateway: DatabaseGateway, spec: DistinctSpec, session: ClientSession | None
) -> list[Any]:
    """The distinct values of the field among the matching documents, decoded."""
    model = spec.find.model
    collection = spec.find.collection(gateway, session)
    raw = collection.distinct(
        spec.key, spec.find.filter, session=session, **spec.find.options.driver
    )
    values = []
    for index, value in enumerate(raw):
        try:
            values.append(spec.decode(value))
        except ValidationError as exc:
            if value is None:  # a missing parent (``address: null``), as some servers report
                continue
            errors = [(f"{spec.key}[{index}]", e["msg"]) for e in exc.errors(include_url=False)]
            raise DocumentParsingError(model, errors) from None
    return values
