"""``fetch``: load a field's references on demand (lazy references, references a find
read as keys, references in embedded models, back-references, or a reload of any)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pymongo.client_session import ClientSession

from anyodm.core.gateway import DatabaseGateway
from anyodm.core.pending import note_loaded
from anyodm.errors import DocumentNotFoundError, InvalidFieldError, InvalidValueError
from anyodm.model.reference_paths import Each, FieldStep
from anyodm.model.reference_shapes import hashable_key
from anyodm.model.references import find_pipeline

if TYPE_CHECKING:
    from anyodm.model import Model
    from anyodm.model.reference_paths import ReferencePath

__all__ = ["check_fetch", "fetch"]


def _fetchable(model: type[Model]) -> list[str]:
    """The fields ``fetch`` loads: reference fields, back-references, and fields holding
    embedded models with references, in declaration order."""
    info = model.__anyodm__
    names = {
        path.steps[0].name for path in info.reference_paths if isinstance(path.steps[0], FieldStep)
    }
    names.update(info.back_reference_names)
    return [name for name in model.model_fields if name in names]


def check_fetch(instance: Model, field: Any) -> str:
    """The name of the field ``field`` (a name or a field proxy) of the instance's model
    if it holds references (or is a back-reference); ``InvalidFieldError`` otherwise
    (before anything is sent)."""
    model = type(instance)
    if not isinstance(field, str):
        field = getattr(field, "_name", field)  # a field proxy: Book.author
    fetchable = _fetchable(model)
    if not isinstance(field, str) or field not in fetchable:
        raise InvalidFieldError(
            model,
            f"{model.__name__}.{field}",
            f"fetch(): not a reference, a back-reference or a field of embedded models "
            f"holding references (those of {model.__name__}: {', '.join(fetchable) or 'none'})",
        )
    return field


def _key_of(value: Any) -> Any:
    return None if value is None else value.__anyodm_stored_pk__


class _Slot:
    """A reference field of one (embedded) model instance on a reference path: where the
    loaded value goes."""

    __slots__ = ("keys", "many", "name", "owner")

    def __init__(self, owner: Any, name: str, many: bool) -> None:
        self.owner = owner
        self.name = name
        current = owner.__dict__.get(name)
        self.many = many and isinstance(current, list)
        values = current if self.many else [current]
        self.keys: list[Any] = [_key_of(value) for value in values]


def _owners(value: Any, steps: tuple[Any, ...], where: tuple[str, ...]) -> Iterator[Any]:
    """The (embedded) model instances reached by following ``steps`` from ``value``;
    ``_NotAModel`` for a value on the way that is not a model (a list mutated by hand)."""
    if value is None:
        return
    if not steps:
        if not isinstance(getattr(value, "__dict__", None), dict):
            raise _NotAModel(where, value)
        yield value
        return
    step, rest = steps[0], steps[1:]
    if isinstance(step, Each):
        if isinstance(value, (list, tuple, set, frozenset)):
            for index, item in enumerate(value):
                yield from _owners(item, rest, (*where, str(index)))
        return
    if not isinstance(getattr(value, "__dict__", None), dict):
        raise _NotAModel(where, value)
    yield from _owners(value.__dict__.get(step.name), rest, (*where, step.name))


class _NotAModel(Exception):
    def __init__(self, where: tuple[str, ...], value: Any) -> None:
        super().__init__()
        self.where = where
        self.value = value


def _slots(instance: Model, path: ReferencePath) -> list[_Slot]:
    steps = path.steps[:-1] if path.many else path.steps
    last = steps[-1]
    assert isinstance(last, FieldStep)
    model = type(instance)
    try:
        owners = list(_owners(instance, steps[:-1], (model.__name__,)))
    except _NotAModel as bad:
        raise InvalidValueError(
            model,
            ".".join(bad.where),
            f"holds {bad.value!r:.80} (of type {type(bad.value).__name__}) instead of an "
            "embedded model: fetch() cannot load the references in it",
        ) from None
    return [_Slot(owner, last.name, path.many) for owner in owners]


def _load_targets(
    gateway: DatabaseGateway, target: type[Model], keys: list[Any], session: ClientSession | None
) -> dict[Any, Any]:
    """The ``target`` documents with these keys, loaded as a find would (their own
    references looked up), by key."""
    if not keys:
        return {}
    query = {"_id": {"$in": keys}}
    pipeline = find_pipeline(target, query, None, 0, None)
    collection = gateway.collection(target)
    if pipeline is None:
        docs = list(collection.find(query, session=session))
    else:
        with collection.aggregate(pipeline, session=session) as cursor:
            docs = list(cursor)
    loaded = {hashable_key(doc["_id"]): target.model_validate_doc(doc) for doc in docs}
    note_loaded(loaded.values(), session)
    return loaded


def fetch(
    gateway: DatabaseGateway, instance: Model, field: str, session: ClientSession | None
) -> Any:
    """Load what ``field`` refers to, put it in place and return the field's new value.

    A reference field, or a field of embedded models holding references (every
    reference in them): one round trip per reference path, the targets' own references
    loaded; a missing target raises ``DocumentNotFoundError`` naming its key (nothing is
    changed), unless the reference allows ``None``. The instance's saved state does not
    change (the stored keys are the same). A back-reference: the documents referring
    to the instance, in ``_id`` order, their references loaded.
    """
    field = check_fetch(instance, field)
    model = type(instance)
    if field in model.__anyodm__.back_reference_names:
        return _fetch_back_reference(gateway, instance, field, session)
    planned: list[tuple[_Slot, list[Any]]] = []
    for path in model.__anyodm__.reference_paths:
        if path.steps[0] != FieldStep(field, model.__anyodm__.key_names[field]):
            continue
        slots = _slots(instance, path)
        wanted = [key for slot in slots for key in slot.keys if key is not None]
        loaded = _load_targets(gateway, path.target, wanted, session)
        where = ".".join(step.name for step in path.steps if isinstance(step, FieldStep))
        for slot in slots:
            values = []
            for key in slot.keys:
                found = None if key is None else loaded.get(hashable_key(key))
                if found is None and key is not None and not path.optional:
                    raise DocumentNotFoundError(
                        instance,
                        f"{model.__name__}.{where}: referenced {path.target.__name__} "
                        f"document {key!r} not found",
                    )
                values.append(found)
            planned.append((slot, values))
    for slot, values in planned:
        vars(slot.owner)[slot.name] = values if slot.many else values[0]
    return instance.__dict__[field]


def _fetch_back_reference(
    gateway: DatabaseGateway, instance: Model, field: str, session: ClientSession | None
) -> list[Any]:
    shape = type(instance).__anyodm__.back_references[field]
    source = shape.source
    query: dict[str, Any] = {shape.key: instance.__anyodm_stored_pk__}
    family_filter = source.__anyodm__.family_filter()
    if family_filter is not None:
        query = {"$and": [family_filter, query]}
    sort = [("_id", 1)]
    pipeline = find_pipeline(source, query, sort, 0, None)
    collection = gateway.collection(source)
    if pipeline is None:
        docs = list(collection.find(query, sort=sort, session=session))
    else:
        with collection.aggregate(pipeline, session=session) as cursor:
            docs = list(cursor)
    found = [source.model_validate_doc(doc) for doc in docs]
    note_loaded(found, session)
    vars(instance)[field] = found
    return found
