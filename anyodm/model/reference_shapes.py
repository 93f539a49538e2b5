"""The shapes a reference field may have (``M``, ``M | None``, ``list[M]``,
``list[M | None]``, lazy or not) and what a back-reference field loads, read from the
annotations (on first use: forward references must be resolved by then)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin

from anyodm.model.class_kinds import is_document_class
from anyodm.model.fields import odm_options
from anyodm.model.reference_paths import FieldStep, ReferencePath, reference_paths

if TYPE_CHECKING:
    from anyodm.model.fields import OnDelete
    from anyodm.model.model import Model

__all__ = [
    "MISSING_TARGET",
    "BackReferenceShape",
    "ReferenceShape",
    "back_reference_shape",
    "hashable_key",
    "is_missing_target",
    "missing_target",
    "reference_shape",
    "unresolved",
]


def _fail(cls_name: str, field: str, message: str) -> TypeError:
    return TypeError(f"{cls_name}.{field}: {message}")


class ReferenceShape(typing.NamedTuple):
    """How a reference field holds its referenced model.

    ``many``: a list of references; ``optional``: a reference (or a list item) may be
    ``None`` (stored null; a missing target is loaded as ``None`` too).
    """

    target: type[Model]
    many: bool
    optional: bool
    lazy: bool = False
    #: ``Reference(on_delete=...)``: what deleting the target does to the holder
    on_delete: OnDelete = "leave"


def _optional_parts(annotation: Any) -> tuple[list[Any], bool]:
    """The alternatives of an annotation other than ``None``, and whether ``None`` is one."""
    if get_origin(annotation) is typing.Annotated:
        return _optional_parts(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        args = get_args(annotation)
        return [arg for arg in args if arg is not type(None)], type(None) in args
    return [annotation], False


def _is_model_class(annotation: Any) -> bool:
    return is_document_class(annotation)


def _annotation(model: type[Any], name: str) -> Any:
    """A field's annotation, its forward references resolved if they can be by now
    (pydantic resolves them on first validation, which a find may precede)."""
    annotation = model.model_fields[name].annotation
    if unresolved(annotation) and not model.__pydantic_complete__:
        model.model_rebuild(raise_errors=False)
        annotation = model.model_fields[name].annotation
    return annotation


def reference_shape(model: type[Any], name: str) -> ReferenceShape:
    """What a reference field points to: ``M``, ``M | None``, ``list[M]`` or
    ``list[M | None]``; ``TypeError`` naming the field for anything else."""
    annotation = _annotation(model, name)
    options = odm_options(model.model_fields[name])
    lazy = options is not None and options.lazy
    on_delete: OnDelete = "leave" if options is None else options.on_delete
    parts, optional = _optional_parts(annotation)
    if len(parts) == 1:
        only = parts[0]
        if _is_model_class(only):
            return ReferenceShape(only, False, optional, lazy, on_delete)
        if get_origin(only) is list and not optional:
            items, items_optional = _optional_parts(get_args(only)[0])
            if len(items) == 1 and _is_model_class(items[0]):
                return ReferenceShape(items[0], True, items_optional, lazy, on_delete)
            parts = items
    for part in parts:
        if isinstance(part, (str, typing.ForwardRef)):
            raise _fail(
                model.__name__, name, "the referenced model is not defined yet (forward reference)"
            )
        if isinstance(part, typing.TypeVar):
            raise _fail(
                model.__name__,
                name,
                f"the reference's model is the type variable {part}: use a parametrized "
                f"class ({model.__name__}[SomeModel])",
            )
    raise _fail(
        model.__name__,
        name,
        f"Reference() needs a Model subclass, Model | None, list[Model] or "
        f"list[Model | None] annotation, not {annotation!r}",
    )


class BackReferenceShape(typing.NamedTuple):
    """A back-reference field: the model whose documents reference this one, the python
    path of its reference field (``"author"``, or ``"meta.author"`` through embedded
    models), that path's stored form, and the steps to it (arrays included)."""

    source: type[Model]
    field: str
    key: str
    path: ReferencePath


def back_reference_shape(model: type[Any], name: str) -> BackReferenceShape:
    """What a ``BackReference`` field loads; ``TypeError`` naming the field if its
    annotation is not ``list[M]`` or ``M`` has no reference at that path to ``model``."""
    annotation = _annotation(model, name)
    options = odm_options(model.model_fields[name])
    assert options is not None
    assert options.back_reference is not None
    field = options.back_reference
    source = get_args(annotation)[0] if get_origin(annotation) is list else None
    if not _is_model_class(source):
        raise _fail(
            model.__name__,
            name,
            f"BackReference() needs a list[Model] annotation, not {annotation!r}",
        )
    assert source is not None
    names = tuple(field.split("."))
    other_target: type[Any] | None = None
    for path in reference_paths(source):
        steps = tuple(step.name for step in path.steps if isinstance(step, FieldStep))
        if steps == names:
            if issubclass(model, path.target):
                return BackReferenceShape(source, field, path.dotted, path)
            other_target = path.target
    if (missing := _missing_field(source, names)) is not None:
        raise _fail(model.__name__, name, f"BackReference({field!r}): {missing}")
    if other_target is not None:
        raise _fail(
            model.__name__,
            name,
            f"BackReference({field!r}): {source.__name__}.{field} is a reference to "
            f"{other_target.__name__}, not to {model.__name__}",
        )
    raise _fail(
        model.__name__,
        name,
        f"BackReference({field!r}): {source.__name__}.{field} is not a reference field "
        f"(declare it with Reference() to {model.__name__})",
    )


def _missing_field(source: type[Any], names: tuple[str, ...]) -> str | None:
    """What is missing on the way along ``names`` through ``source``'s fields, or None."""
    fields = source.model_fields
    if names[0] not in fields:
        close = difflib.get_close_matches(names[0], list(fields), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{source.__name__} has no field {names[0]!r}{hint}"
    proxy = getattr(source, names[0])
    for part in names[1:]:
        try:
            proxy = getattr(proxy, part)
        except AttributeError as exc:
            return str(exc) if "has no sub-field" in str(exc) else None
    return None


def check_back_reference_annotation(model: type[Any], name: str, annotation: Any) -> None:
    """At class creation: a ``BackReference`` field is a ``list`` of a model."""
    if get_origin(annotation) is list or isinstance(annotation, (str, typing.ForwardRef)):
        return
    raise _fail(
        model.__name__,
        name,
        f"BackReference() needs a list[Model] annotation, not {annotation!r}",
    )


def unresolved(annotation: Any) -> bool:
    """An annotation naming something not defined yet (pydantic resolves it later)."""
    if isinstance(annotation, (str, typing.ForwardRef, typing.TypeVar)):
        return True
    return any(unresolved(arg) for arg in get_args(annotation))


def hashable_key(key: Any) -> Any:
    """A stored reference key as a dict key (keys of any BSON type: a document or an
    array key is compared by its ``repr``)."""
    return repr(key) if isinstance(key, (dict, list)) else key


#: what stands in place of an optional reference whose target is missing: its stored key
#: under this name (parsed as ``None``; the saved state keeps the key, so that assigning
#: ``None`` and saving clears it)
MISSING_TARGET = "__anyodm_missing__"


def missing_target(key: Any) -> Any:
    """The stand-in of an optional reference whose target is missing (``None`` for no key)."""
    return None if key is None else {MISSING_TARGET: key}


def is_missing_target(value: Any) -> bool:
    """Whether ``value`` is :func:`missing_target`'s stand-in."""
    return isinstance(value, Mapping) and MISSING_TARGET in value
