"""Where a model's references are: its own reference fields and those of its embedded
models (directly, optional, or in lists/tuples/sets of them, at any depth).

A :class:`ReferencePath` is a list of steps from the document's root to a reference
field: ``Field`` steps (python name and stored key) and ``Each`` steps (every item of an
array). Used to build the ``$lookup`` stages that load references, to find the
referenced instances a save has to write, and to mark looked-up instances as persisted.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, Union, get_args, get_origin
from weakref import WeakKeyDictionary

from anyodm.errors import InvalidValueError
from anyodm.model.class_kinds import is_embedded_class
from anyodm.model.lazy import NotLoaded

if typing.TYPE_CHECKING:
    from anyodm.model.reference_shapes import BackReferenceShape

__all__ = [
    "Each",
    "FieldStep",
    "LoadedBackReference",
    "LoadedPath",
    "ReferencePath",
    "compute_reference_paths",
    "direct_references",
    "linked_instances",
    "loaded_back_references",
    "loaded_paths",
    "model_depth",
    "reference_paths",
    "referenced_instances",
]


class FieldStep(NamedTuple):
    """A field of a (embedded) model: its python name and its stored key."""

    name: str
    key: str


class Each(NamedTuple):
    """Every item of an array."""


Step = FieldStep | Each


class ReferencePath(NamedTuple):
    """The steps to a reference (the field's own step last, then ``Each`` for a list of
    references), the model it points to, and whether a reference may be ``None``."""

    steps: tuple[Step, ...]
    target: type[Any]
    optional: bool = False
    #: loaded only when asked (never by finds' lookups)
    lazy: bool = False
    #: ``Reference(on_delete=...)`` of the reference field
    on_delete: str = "leave"

    @property
    def many(self) -> bool:
        """A list of references (the last step is ``Each``)."""
        return isinstance(self.steps[-1], Each)

    @property
    def dotted(self) -> str:
        """The stored path as MongoDB writes it (``"lines.product"``)."""
        return ".".join(step.key for step in self.steps if isinstance(step, FieldStep))


def _unwrap_optional(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap_optional(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [
            alt
            for arg in get_args(annotation)
            if arg is not type(None)
            for alt in _unwrap_optional(arg)
        ]
    return [annotation]


_ARRAYS = (list, tuple, set, frozenset)
_depth_cache: WeakKeyDictionary[type, int] = WeakKeyDictionary()


def _embedded_shapes(owner: type[Any], name: str, annotation: Any) -> Iterator[tuple[bool, Any]]:
    """``(in_array, embedded_class)`` for each embedded model a field can hold."""
    for alt in _unwrap_optional(annotation):
        if is_embedded_class(alt):
            yield False, alt
            continue
        origin = get_origin(alt)
        args = [a for a in get_args(alt) if a is not Ellipsis]
        if origin in _ARRAYS:
            for arg in args:
                for item in _unwrap_optional(arg):
                    if is_embedded_class(item):
                        yield True, item
        elif isinstance(origin, type) and issubclass(origin, Mapping):
            for arg in args[1:]:
                for item in _unwrap_optional(arg):
                    if is_embedded_class(item) and reference_paths(item):
                        raise TypeError(
                            f"{owner.__name__}.{name}: {item.__name__} holds references, "
                            "which are not supported inside dict values (use a list)"
                        )


def reference_paths(cls: type[Any]) -> tuple[ReferencePath, ...]:
    """Every reference reachable in a (embedded) model's documents (cached per class)."""
    paths: tuple[ReferencePath, ...] = cls.__anyodm__.reference_paths
    return paths


def compute_reference_paths(cls: type[Any]) -> tuple[ReferencePath, ...]:
    """What :func:`reference_paths` returns, computed (``ShapeInfo`` caches it)."""
    if not cls.__pydantic_complete__:  # resolve forward references first, if they can be
        cls.model_rebuild(raise_errors=False)
    info = cls.__anyodm__
    paths: list[ReferencePath] = []
    for name, shape in info.reference_shapes.items():
        steps: tuple[Step, ...] = (FieldStep(name, info.key_names[name]),)
        if shape.many:
            steps = (*steps, Each())
        paths.append(
            ReferencePath(steps, shape.target, shape.optional, shape.lazy, shape.on_delete)
        )
    for name, field in cls.__pydantic_fields__.items():
        if name in info.reference_names:
            continue
        for in_array, embedded in _embedded_shapes(cls, name, field.annotation):
            head: tuple[Step, ...] = (FieldStep(name, info.key_names[name]),)
            if in_array:
                head = (*head, Each())
            paths.extend(
                ReferencePath(
                    (*head, *sub.steps), sub.target, sub.optional, sub.lazy, sub.on_delete
                )
                for sub in reference_paths(embedded)
            )
    return tuple(paths)


class LoadedPath(NamedTuple):
    """An eager reference a find loads, and the discriminators of the documents it is
    in (None: every document)."""

    path: ReferencePath
    only: tuple[str, ...] | None = None


_loaded_cache: WeakKeyDictionary[type, tuple[int, Any]] = WeakKeyDictionary()
_loaded_back_cache: WeakKeyDictionary[type, tuple[int, Any]] = WeakKeyDictionary()


def _family_size(cls: type[Any]) -> int:
    family = getattr(cls.__anyodm__, "family", None)
    return 0 if family is None else len(family.classes)


def loaded_paths(cls: type[Any]) -> list[LoadedPath]:
    """The eager references finds of ``cls`` load: its own, and for a polymorphic model
    those only some of its subclasses have (loaded in their documents only, as the
    subclasses' discriminators say). ``TypeError`` naming both classes if two of them
    keep different references under one stored key. Cached until the family grows."""
    version = _family_size(cls)
    cached = _loaded_cache.get(cls)
    if cached is None or cached[0] != version:
        cached = _loaded_cache[cls] = (version, _loaded_paths(cls))
    paths: list[LoadedPath] = cached[1]
    return paths


def _loaded_paths(cls: type[Any]) -> list[LoadedPath]:
    own = [LoadedPath(path) for path in reference_paths(cls) if not path.lazy]
    family = getattr(cls.__anyodm__, "family", None)
    if family is None:
        return own
    taken = {loaded.path.dotted for loaded in own}
    extra: dict[str, tuple[ReferencePath, type[Any], list[str]]] = {}
    for member in family.members_of(cls):
        if member is cls:
            continue
        for path in reference_paths(member):
            key = path.dotted
            if path.lazy or key in taken:
                continue
            first = extra.setdefault(key, (path, member, []))
            if first[0] != path:
                raise TypeError(
                    f"{first[1].__name__}.{key} and {member.__name__}.{key}: classes of the "
                    f"{family.root.__name__} family keep different references under one "
                    f"key, which finds of {cls.__name__} cannot load"
                )
            first[2].append(member.__anyodm__.discriminator)
    return [*own, *(LoadedPath(path, tuple(only)) for path, _, only in extra.values())]


class LoadedBackReference(NamedTuple):
    """A back-reference a find loads: its field's name and stored key, what it loads,
    and the discriminators of the documents it is in (None: every document)."""

    name: str
    key: str
    shape: BackReferenceShape
    only: tuple[str, ...] | None = None


def loaded_back_references(cls: type[Any]) -> list[LoadedBackReference]:
    """The back-references finds of ``cls`` load: its own, and for a polymorphic model
    those only some of its subclasses have (in their documents only). ``TypeError``
    naming both classes if two of them load different documents under one key. Cached
    until the family grows."""
    version = _family_size(cls)
    cached = _loaded_back_cache.get(cls)
    if cached is None or cached[0] != version:
        cached = _loaded_back_cache[cls] = (version, _loaded_back_references(cls))
    loaded: list[LoadedBackReference] = cached[1]
    return loaded


def _loaded_back_references(cls: type[Any]) -> list[LoadedBackReference]:
    info = cls.__anyodm__
    own = [
        LoadedBackReference(name, info.key_names[name], shape)
        for name, shape in getattr(info, "back_references", {}).items()
    ]
    family = getattr(info, "family", None)
    if family is None:
        return own
    taken = {loaded.key for loaded in own}
    extra: dict[str, tuple[str, BackReferenceShape, type[Any], list[str]]] = {}
    for member in family.members_of(cls):
        if member is cls:
            continue
        member_info = member.__anyodm__
        for name, shape in member_info.back_references.items():
            key = member_info.key_names[name]
            if key in taken:
                continue
            first = extra.setdefault(key, (name, shape, member, []))
            if first[1] != shape:
                raise TypeError(
                    f"{first[2].__name__}.{first[0]} and {member.__name__}.{name}: classes of "
                    f"the {family.root.__name__} family keep different back-references "
                    f"under one key, which finds of {cls.__name__} cannot load"
                )
            first[3].append(member_info.discriminator)
    return [
        *own,
        *(
            LoadedBackReference(name, key, shape, tuple(only))
            for key, (name, shape, _, only) in extra.items()
        ),
    ]


class _BadItem(Exception):
    """A value on a reference path that is not what the path's field holds."""

    def __init__(self, where: tuple[str, ...], value: Any, expected: str) -> None:
        super().__init__()
        self.where = where
        self.value = value
        self.expected = expected


def _values_at(
    value: Any, steps: tuple[Step, ...], target: type[Any], where: tuple[str, ...] = ()
) -> Iterator[Any]:
    """The values found by following ``steps`` from a python object; :class:`_BadItem`
    (with the path to it) for a value that is not what its field holds: not an embedded
    model on the way, not a ``target`` instance (nor ``None``/``NotLoaded``) at the end
    (a list mutation, ``book.authors.append(...)``, is not validated by pydantic)."""
    if not steps:
        if value is not None and not isinstance(value, (target, NotLoaded)):
            raise _BadItem(where, value, f"an instance of {target.__name__}")
        yield value
        return
    step, rest = steps[0], steps[1:]
    if isinstance(step, Each):
        if isinstance(value, (list, tuple, set, frozenset)):
            for index, item in enumerate(value):
                yield from _values_at(item, rest, target, (*where, str(index)))
        return
    if value is None:
        return
    if not isinstance(getattr(value, "__dict__", None), dict) or step.name not in getattr(
        type(value), "model_fields", ()
    ):
        raise _BadItem(where, value, f"a model with the field {step.name!r}")
    found = value.__dict__.get(step.name)
    if found is not None:
        yield from _values_at(found, rest, target, (*where, step.name))


def direct_references(instance: Any) -> Iterator[Any]:
    """The instances ``instance`` references, in its fields and its embedded models.

    ``InvalidValueError`` naming the model, the field path and the bad item if one of
    them holds something else than the field's model (raised before anything is sent).
    """
    model = type(instance)
    for path in reference_paths(model):
        try:
            values = list(_values_at(instance, path.steps, path.target))
        except _BadItem as bad:
            field = ".".join((model.__name__, *bad.where))
            raise InvalidValueError(
                model,
                field,
                f"holds {bad.value!r:.80} (of type {type(bad.value).__name__}) instead of "
                f"{bad.expected}",
            ) from None
        for value in values:
            if value is not None and not isinstance(value, NotLoaded):
                yield value


def referenced_instances(roots: list[Any]) -> list[Any]:
    """Every instance reachable from ``roots`` through references, each once, the roots
    excluded, children before the instances that reference them."""
    seen = {id(root) for root in roots}
    found: list[Any] = []

    def visit(instance: Any) -> None:
        for ref in direct_references(instance):
            if id(ref) not in seen:
                seen.add(id(ref))
                visit(ref)
                found.append(ref)

    for root in roots:
        visit(root)
    return found


def _back_referenced(instance: Any) -> Iterator[Any]:
    """The instances loaded into the back-reference fields of ``instance``."""
    for name in getattr(type(instance).__anyodm__, "back_reference_names", ()):
        value = instance.__dict__.get(name)
        if isinstance(value, list):
            yield from (item for item in value if item is not None)


def linked_instances(roots: list[Any]) -> list[Any]:
    """Every instance reachable from ``roots`` through references and loaded
    back-references (what a load put in place), each once, the roots excluded."""
    seen = {id(root) for root in roots}
    found: list[Any] = []
    stack = list(roots)
    while stack:
        instance = stack.pop()
        for linked in (*direct_references(instance), *_back_referenced(instance)):
            if id(linked) not in seen and not isinstance(linked, NotLoaded):
                seen.add(id(linked))
                found.append(linked)
                stack.append(linked)
    return found


def model_depth(cls: type[Any], _visiting: frozenset[type[Any]] = frozenset()) -> int:
    """0 for a model referencing nothing, else 1 + the deepest model it references
    (a cycle of models, which finds refuse, counts as ending where it closes)."""
    cached = _depth_cache.get(cls)
    if cached is None:
        visiting = _visiting | {cls}
        depths = [
            model_depth(path.target, visiting)
            for path in reference_paths(cls)
            if path.target not in visiting
        ]
        cached = 1 + max(depths) if depths else 0
        if not _visiting:
            _depth_cache[cls] = cached
    return cached
