"""``Field()`` and ``Reference()``: pydantic fields carrying the ODM's options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import pydantic
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["BackReference", "Field", "ODMFieldOptions", "OnDelete", "Reference", "odm_options"]

#: What deleting a referenced document does to the documents referencing it:
#: ``"leave"`` nothing (their reference dangles), ``"deny"`` refuse the delete,
#: ``"cascade"`` delete them too (in one transaction).
OnDelete = Literal["leave", "deny", "cascade"]
_ON_DELETE: tuple[str, ...] = get_args(OnDelete)


@dataclass(frozen=True)
class ODMFieldOptions:
    """The ODM part of a field, kept in the pydantic ``FieldInfo.metadata``.

    pydantic ignores metadata it does not know, so this marker never changes validation.
    """

    key_name: str | None = None
    primary_field: bool = False
    index: bool = False
    unique: bool = False
    reference: bool = False
    #: a reference loaded only when asked (``engine.fetch``), not by finds
    lazy: bool = False
    #: a back-reference: the python path of the reference field, in the annotation's
    #: model, that points at this model (dotted through embedded models)
    back_reference: str | None = None
    #: what deleting the referenced document does to the documents holding this reference
    on_delete: OnDelete = "leave"


# ODMantic's (pydantic v1 era) spellings of a few constraints.
_RENAMED = {"regex": "pattern", "min_items": "min_length", "max_items": "max_length"}


def Field(
    default: Any = PydanticUndefined,
    *,
    default_factory: Callable[..., Any] | None = None,
    alias: str | None = None,
    key_name: str | None = None,
    primary_field: bool = False,
    index: bool = False,
    unique: bool = False,
    **kwargs: Any,
) -> Any:
    """A pydantic ``Field`` plus the ODM options.

    ``key_name``: the key the field is stored under (default: the field name; a primary
    field is always stored as ``_id``). ``primary_field``: this field is the primary key
    instead of the automatic ``id``. ``index`` / ``unique``: create a (unique) single-field
    index in ``engine.configure_database``. ``default``, ``default_factory``, ``alias`` and
    every other keyword go to ``pydantic.Field``.

    Type checkers see a default only when it is passed by name: write
    ``Field(default=0, ge=0)`` rather than ``Field(0, ge=0)`` (both work at run time).
    """
    if default_factory is not None:
        kwargs["default_factory"] = default_factory
    if alias is not None:
        kwargs["alias"] = alias
    for old, new in _RENAMED.items():
        if old in kwargs:
            kwargs.setdefault(new, kwargs.pop(old))
    if "const" in kwargs:
        raise TypeError("Field(const=...) is not supported; annotate the field with Literal[...]")
    info: FieldInfo = pydantic.Field(default, **kwargs)
    if key_name is not None or primary_field or index or unique:
        info.metadata.append(
            ODMFieldOptions(
                key_name=key_name, primary_field=primary_field, index=index, unique=unique
            )
        )
    return info


def Reference(
    *,
    key_name: str | None = None,
    default: Any = PydanticUndefined,
    default_factory: Any = None,
    lazy: bool = False,
    on_delete: OnDelete = "leave",
) -> Any:
    """Declare a reference to another ``Model``: ``publisher: Publisher = Reference()``.

    The document stores the referenced primary key under ``key_name`` (default: the
    field name); finds load the referenced instance with a ``$lookup``. The annotation
    may also be ``Publisher | None`` (stored null; a missing target loads as ``None``),
    ``list[Author]`` (stored as the list of keys, loaded in order) or
    ``list[Author | None]``. ``default`` / ``default_factory`` as in ``Field``
    (``Reference(default=None)``, ``Reference(default_factory=list)``).

    ``lazy=True``: finds leave the reference unloaded (a :class:`~anyodm.model.lazy.NotLoaded`
    placeholder holding the key, or a list of them) until ``engine.fetch(instance,
    "field")`` loads it; references through lazy fields may form cycles.

    ``on_delete``: what deleting a referenced document (``engine.delete(target)``,
    ``engine.remove(Target, ...)``) does to the documents holding this reference:
    ``"leave"`` (default) nothing, their reference dangles; ``"deny"`` the delete is
    refused with :class:`~anyodm.errors.DeleteDeniedError` while one of them exists;
    ``"cascade"`` they are deleted too, following their own rules, all in one
    transaction.
    """
    if on_delete not in _ON_DELETE:
        raise TypeError(
            f"Reference(on_delete={on_delete!r}): expected one of "
            f"{', '.join(repr(rule) for rule in _ON_DELETE)}"
        )
    info: FieldInfo = (
        pydantic.Field(default_factory=default_factory)
        if default_factory is not None
        else pydantic.Field(default)
    )
    info.metadata.append(
        ODMFieldOptions(key_name=key_name, reference=True, lazy=lazy, on_delete=on_delete)
    )
    return info


def BackReference(field: str) -> Any:
    """Declare a read-only field loading the documents that reference this one:
    ``books: list[Book] = BackReference("author")`` holds the ``Book`` documents whose
    reference field ``author`` (a single reference or a list of references) points at
    this instance. A reference inside embedded models is named by its dotted python
    path: ``BackReference("meta.author")``, ``BackReference("chapters.reviewers")``
    (through lists of embedded models too).

    Loaded by finds with one ``$lookup`` on that foreign key (ordered by ``_id``), never
    stored, never saved through this instance; empty on a fresh instance; where a find
    did not load it (an instance loaded as the target of another reference, a find with
    ``references="keys"``) an empty ``BackReferencesNotLoaded`` list, which
    ``engine.fetch(instance, field)`` loads.
    """
    if not isinstance(field, str) or not field or not all(field.split(".")):
        raise TypeError(
            "BackReference() expects the name of a reference field (dotted through "
            f"embedded models: 'meta.author'), not {field!r}"
        )
    info = cast(FieldInfo, pydantic.Field(default_factory=list, exclude=True))
    info.metadata.append(ODMFieldOptions(back_reference=field))
    return info


def odm_options(info: FieldInfo) -> ODMFieldOptions | None:
    """The ODM options attached to a pydantic field, if any."""
    for item in info.metadata:
        if isinstance(item, ODMFieldOptions):
            return item
    return None
