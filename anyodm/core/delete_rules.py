"""The delete rules of references at delete time: refuse a delete that a
``Reference(on_delete="deny")`` forbids, and delete what ``on_delete="cascade"``
takes along.

:func:`plan_cascade` only reads: it follows the cascade rules from the documents about
to be deleted to the documents referencing them (recursively, each document once, so
cycles end), then checks every deny rule against the documents still referencing
something deleted that are not deleted themselves.  A denied delete raises before
anything is written.  :func:`delete_cascaded` then deletes what the plan found.  A
delete that may cascade runs in a transaction (the caller's, or one the engine fronts
open for it), so the plan's reads and the deletes see one snapshot and commit or
abort together.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple

from pymongo.client_session import ClientSession

from anyodm.core.polymorphism import family_documents_filter
from anyodm.errors import DeleteDeniedError, InvalidOperationError
from anyodm.model.delete_rules import IncomingRule, cascades, incoming_rules
from anyodm.model.reference_shapes import hashable_key

if TYPE_CHECKING:
    from anyodm.core.gateway import DatabaseGateway
    from anyodm.model import Model

__all__ = [
    "CascadedDocuments",
    "delete_cascaded",
    "needs_own_transaction",
    "plan_cascade",
    "refuse_delete_rules",
    "require_transaction",
]


class CascadedDocuments(NamedTuple):
    """Documents a cascade deletes: their model and their ``_id`` values."""

    model: type[Model]
    ids: list[Any]


def needs_own_transaction(
    model: type[Model],
    driver: ClientSession | None,
    *,
    transaction: bool,
    raw: bool,
    operation: str,
) -> bool:
    """Whether a delete of ``model``'s documents must open a transaction of its own:
    it may cascade, and ``session=`` is not a transaction (``transaction``: the caller
    passed one; ``driver``: the driver session behind ``session=``).  A raw PyMongo
    ``ClientSession`` (``raw``) outside a transaction is refused
    (``InvalidOperationError``, before anything is sent): anyodm does not start
    transactions on it."""
    if not cascades(model) or transaction or (driver is not None and driver.in_transaction):
        return False
    if raw:
        raise InvalidOperationError(
            f"{operation}() of {model.__name__} may cascade (Reference(on_delete="
            f'"cascade") in {_cascading_fields(model)}), which runs in a transaction: '
            "pass a PyMongo ClientSession in a transaction, an anyodm session or "
            "transaction, or no session"
        )
    return True


def require_transaction(model: type[Model], session: ClientSession | None) -> None:
    """The operations core's own check: a delete that may cascade runs in a transaction."""
    if cascades(model) and (session is None or not session.in_transaction):
        raise InvalidOperationError(
            f'a delete of {model.__name__} may cascade (Reference(on_delete="cascade") '
            f"in {_cascading_fields(model)}) and must run in a transaction"
        )


def refuse_delete_rules(model: type[Model], operation: str) -> None:
    """``InvalidOperationError`` (before anything is sent) for an operation that
    deletes documents of ``model`` without applying delete rules, if references to it
    declare some."""
    rules = incoming_rules(model)
    if rules:
        listed = ", ".join(
            f'{rule.source.__name__}.{rule.field} (on_delete="{rule.rule}")' for rule in rules
        )
        raise InvalidOperationError(
            f"{operation}() of {model.__name__} cannot apply the delete rules of the "
            f"references to it: {listed}; use find_one() and delete(), or "
            "remove(..., just_one=True)"
        )


def _cascading_fields(model: type[Model]) -> str:
    return ", ".join(
        f"{rule.source.__name__}.{rule.field}"
        for rule in incoming_rules(model)
        if rule.rule == "cascade"
    )


class _Deleting:
    """The documents a delete removes so far, per collection (their ``_id`` values)."""

    def __init__(self) -> None:
        self.ids: dict[str, dict[Any, Any]] = {}

    def add(self, model: type[Model], ids: list[Any]) -> list[Any]:
        """Add ``ids``; the ones not there yet."""
        known = self.ids.setdefault(model.__anyodm__.collection, {})
        fresh = []
        for key in ids:
            hashed = hashable_key(key)
            if hashed not in known:
                known[hashed] = key
                fresh.append(key)
        return fresh

    def of(self, model: type[Model]) -> list[Any]:
        return list(self.ids.get(model.__anyodm__.collection, {}).values())


def _referencing(rule: IncomingRule, ids: list[Any], deleting: _Deleting) -> dict[str, Any]:
    """The documents of ``rule.source`` referencing one of ``ids`` through the rule's
    field, except those the delete removes anyway."""
    query: dict[str, Any] = {rule.key: {"$in": ids}}
    family = family_documents_filter(rule.source)
    if family is not None:
        query.update(family)
    redeclared = rule.source.__anyodm__.family
    if rule.excluded and redeclared is not None:  # subclasses declaring it again: theirs
        query[redeclared.key] = {**query.get(redeclared.key, {}), "$nin": list(rule.excluded)}
    gone = deleting.of(rule.source)
    if gone:
        query["_id"] = {"$nin": gone}
    return query


def plan_cascade(
    gateway: DatabaseGateway,
    model: type[Model],
    ids: list[Any],
    session: ClientSession | None,
) -> list[CascadedDocuments]:
    """The documents deleting ``ids`` of ``model`` takes along (cascade rules, followed
    recursively, each document once); :class:`DeleteDeniedError` if a deny rule forbids
    the delete of one of them or of ``ids``.  Reads only."""
    deleting = _Deleting()
    deleting.add(model, ids)
    queue: deque[tuple[type[Model], list[Any]]] = deque([(model, ids)])
    cascaded: list[CascadedDocuments] = []
    denials: list[tuple[type[Model], IncomingRule, list[Any]]] = []
    while queue:
        target, keys = queue.popleft()
        for rule in incoming_rules(target):
            if rule.rule != "cascade":
                denials.append((target, rule, keys))
                continue
            collection = gateway.collection(rule.source)
            found = collection.find(_referencing(rule, keys, deleting), {"_id": 1}, session=session)
            fresh = deleting.add(rule.source, [doc["_id"] for doc in found])
            if fresh:
                cascaded.append(CascadedDocuments(rule.source, fresh))
                queue.append((rule.source, fresh))
    # checked once every cascade is known: a document the delete removes anyway denies
    # nothing
    for target, rule, keys in denials:
        collection = gateway.collection(rule.source)
        count = collection.count_documents(_referencing(rule, keys, deleting), session=session)
        if count:
            raise DeleteDeniedError(target, rule.source, rule.field, count)
    return cascaded


def delete_cascaded(
    gateway: DatabaseGateway, cascaded: list[CascadedDocuments], session: ClientSession | None
) -> None:
    """Delete what :func:`plan_cascade` found (by ``_id``, in the same transaction)."""
    for group in cascaded:
        query: dict[str, Any] = {"_id": {"$in": group.ids}}
        family = family_documents_filter(group.model)
        if family is not None:
            query.update(family)
        gateway.collection(group.model).delete_many(query, session=session)
