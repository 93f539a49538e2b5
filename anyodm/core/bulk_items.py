"""The items of ``bulk_write``: each one write, checked when it is made.

An instance item (:class:`Insert`, :class:`Save`, :class:`Delete`) holds the instance
it writes; the server-side items (:class:`UpdateOne`, :class:`UpdateMany`,
:class:`DeleteOne`, :class:`DeleteMany`) hold a model and a validated filter (and
update), built like ``update_one``'s and ``remove``'s, so a wrong field or value raises
where the item is made, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal

from typing_extensions import TypeVar

from anyodm.core.arguments import check_instance, check_model_class
from anyodm.core.find import FindSpec, make_filter_spec
from anyodm.core.server_operations import UpdateSpec, make_update_spec

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = [
    "BulkItem",
    "Delete",
    "DeleteMany",
    "DeleteOne",
    "Insert",
    "Save",
    "UpdateMany",
    "UpdateOne",
    "check_items",
    "check_ordered",
    "hooked_items",
]

M = TypeVar("M", bound="Model")

#: which event hooks an instance item runs (None: a by-query item runs none)
HookKind = Literal["save", "insert", "delete"]


class BulkItem:
    """One write of a ``bulk_write`` (the base of the item classes)."""

    __slots__ = ("model",)

    #: the model written (its collection)
    model: type[Model]

    @property
    def instance(self) -> Model | None:
        """The instance this item writes (None for a by-query item)."""
        return None

    @property
    def hook_kind(self) -> HookKind | None:
        return None

    def _describe_target(self) -> str:
        instance = self.instance
        if instance is None:
            return self.model.__name__
        return f"{self.model.__name__} instance {instance.__anyodm_pk_value__!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe_target()})"


class _InstanceItem(BulkItem, Generic[M]):
    """An item writing one instance."""

    __slots__ = ("_instance",)

    _operation: ClassVar[str] = ""

    def __init__(self, instance: M) -> None:
        checked = check_instance(instance, f"bulk.{self._operation}")
        self._instance: M = instance
        self.model: type[Model] = type(checked)

    @property
    def instance(self) -> M:
        """The instance this item writes."""
        return self._instance


class Insert(_InstanceItem[M]):
    """Insert ``instance``'s whole document (an existing ``_id`` is a duplicate key
    error for this item).  Runs the instance's ``Save``, ``Insert`` and ``Validate``
    hooks; its references must be saved already (or written by an earlier item)."""

    __slots__ = ()
    _operation: ClassVar[str] = "Insert"

    @property
    def hook_kind(self) -> HookKind:
        return "insert"


class Save(_InstanceItem[M]):
    """Save ``instance`` as ``engine.save`` does (only the changed fields of a stored
    document; an upsert of a fresh one; revision-checked for a model with optimistic
    concurrency), without saving its references: they must be saved already (or
    written by an earlier item).  Runs the instance's save hooks."""

    __slots__ = ()
    _operation: ClassVar[str] = "Save"

    @property
    def hook_kind(self) -> HookKind:
        return "save"


class Delete(_InstanceItem[M]):
    """Delete ``instance``'s document (revision-checked for a model with optimistic
    concurrency); a document already gone is not an error.  Runs its ``Delete``
    hooks."""

    __slots__ = ()
    _operation: ClassVar[str] = "Delete"

    @property
    def hook_kind(self) -> HookKind:
        return "delete"


class _UpdateItem(BulkItem):
    """An item updating documents by query (or one instance's document)."""

    __slots__ = ("_target", "spec")

    _operation: ClassVar[str] = ""
    _many: ClassVar[bool] = False

    def __init__(self, target: Any, queries: tuple[Any, ...], update: Any, upsert: Any) -> None:
        operation = f"bulk.{self._operation}"
        model: type[Model]
        if isinstance(target, type):
            model = check_model_class(target, operation)
            self._target: Model | None = None
        else:
            instance = check_instance(target, operation)
            if queries or self._many:
                raise TypeError(
                    f"{operation}() takes a model and queries, or (UpdateOne) one instance "
                    "alone (its document is updated)"
                )
            model, self._target = type(instance), instance
            queries = ({"_id": instance.__anyodm_stored_pk__},)
        self.spec: UpdateSpec = make_update_spec(model, queries, update, upsert, operation)
        self.model: type[Model] = self.spec.find.model

    def _describe_target(self) -> str:
        if self._target is not None:
            return f"{self.model.__name__} instance {self._target.__anyodm_pk_value__!r}"
        return self.model.__name__


class UpdateOne(_UpdateItem):
    """Apply ``update`` (``anyodm.update`` operations, a list of them, or a raw dict of
    $-operators) to the first document of ``model`` matching ``queries``, or to the
    document of one ``instance`` (``UpdateOne(book, update=...)``: the instance itself
    is not changed, nor its saved state).  No hook runs."""

    __slots__ = ()
    _operation: ClassVar[str] = "UpdateOne"

    def __init__(
        self, target: type[Model] | Model, *queries: Any, update: Any, upsert: bool = False
    ) -> None:
        super().__init__(target, queries, update, upsert)


class UpdateMany(_UpdateItem):
    """Apply ``update`` to every document of ``model`` matching ``queries``.  No hook
    runs."""

    __slots__ = ()
    _operation: ClassVar[str] = "UpdateMany"
    _many: ClassVar[bool] = True

    def __init__(
        self, model: type[Model], *queries: Any, update: Any, upsert: bool = False
    ) -> None:
        super().__init__(model, queries, update, upsert)


class _RemoveItem(BulkItem):
    """An item deleting documents by query."""

    __slots__ = ("spec",)

    _operation: ClassVar[str] = ""

    def __init__(self, model: type[Model], queries: tuple[Any, ...]) -> None:
        self.spec: FindSpec[Any] = make_filter_spec(model, queries, f"bulk.{self._operation}")
        self.model: type[Model] = self.spec.model


class DeleteOne(_RemoveItem):
    """Delete the first document of ``model`` matching ``queries``.  No hook runs."""

    __slots__ = ()
    _operation: ClassVar[str] = "DeleteOne"

    def __init__(self, model: type[Model], *queries: Any) -> None:
        super().__init__(model, queries)


class DeleteMany(_RemoveItem):
    """Delete every document of ``model`` matching ``queries`` (all of them without
    queries).  No hook runs."""

    __slots__ = ()
    _operation: ClassVar[str] = "DeleteMany"

    def __init__(self, model: type[Model], *queries: Any) -> None:
        super().__init__(model, queries)


_DRIVER_ITEMS = frozenset({"InsertOne", "ReplaceOne", "UpdateOne", "UpdateMany", "DeleteOne"})


def _wrong_item(index: int, item: Any, operation: str) -> TypeError:
    kind = type(item).__name__
    hint = "use anyodm.bulk's items: Insert, Save, UpdateOne, UpdateMany, Delete, DeleteOne, "
    hint += "DeleteMany"
    if getattr(type(item), "__anyodm_kind__", None) == "document":
        hint = "wrap the instance: anyodm.bulk.Save(...) or anyodm.bulk.Insert(...)"
    elif kind in _DRIVER_ITEMS and type(item).__module__.startswith("pymongo"):
        hint = f"this is PyMongo's {kind}: use anyodm.bulk.{kind.replace('InsertOne', 'Insert')}"
    return TypeError(f"{operation}(): item {index} is a {kind}, not a bulk item ({hint})")


def check_items(items: Iterable[Any], operation: str) -> list[BulkItem]:
    """The items as a list (a generator is consumed once), each a :class:`BulkItem`,
    at least one, no instance in two items; raises before anything is sent."""
    if isinstance(items, (str, bytes, BulkItem)) or not isinstance(items, Iterable):
        raise TypeError(
            f"{operation}() needs an iterable of bulk items (anyodm.bulk.Insert, Save, ...), "
            f"got {type(items).__name__}"
        )
    checked: list[BulkItem] = []
    seen: dict[int, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, BulkItem):
            raise _wrong_item(index, item, operation)
        instance = item.instance
        if instance is not None:
            first = seen.setdefault(id(instance), index)
            if first != index:
                raise ValueError(
                    f"{operation}(): the {type(instance).__name__} instance "
                    f"{instance.__anyodm_pk_value__!r} is in items {first} and {index}; "
                    "list each instance once"
                )
        checked.append(item)
    if not checked:
        raise ValueError(f"{operation}() needs at least one item")
    return checked


def hooked_items(items: list[BulkItem]) -> list[tuple[HookKind, Model]]:
    """``(kind, instance)`` of the items that run an instance's hooks, in list order."""
    hooked: list[tuple[HookKind, Model]] = []
    for item in items:
        kind, instance = item.hook_kind, item.instance
        if kind is not None and instance is not None:
            hooked.append((kind, instance))
    return hooked


def check_ordered(ordered: Any, operation: str) -> bool:
    """``ordered=`` is a bool."""
    if isinstance(ordered, bool):
        return ordered
    raise TypeError(f"{operation}(): ordered must be True or False, got {ordered!r:.80}")
