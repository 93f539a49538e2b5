"""``Model`` and ``EmbeddedModel``: pydantic models mapped to MongoDB documents."""

from __future__ import annotations

import collections.abc
import difflib
import functools
import sys
import types
import typing
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, NamedTuple, Union, cast, get_args, get_origin

import bson
from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    PydanticUserError,
    TypeAdapter,
    ValidationError,
)
from pydantic.fields import FieldInfo
from pydantic_core import CoreSchema, PydanticUndefined
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern
from typing_extensions import Self, dataclass_transform

from anyodm.errors import DocumentParsingError
from anyodm.model.bson_types import BSON_SUBSTITUTES, ObjectId
from anyodm.model.concerns import CONCERN_NAMES, Concerns, ReadPreferenceMode, check_concerns
from anyodm.model.fields import Field, ODMFieldOptions, Reference, odm_options
from anyodm.model.hooks import NO_HOOKS, ModelHooks, collect_hooks
from anyodm.model.info import REVISION_KEY, Family, ModelInfo, ShapeInfo
from anyodm.model.kinds import TimeSeries, View, resolve_kind
from anyodm.model.naming import collection_name
from anyodm.model.query import FieldProxy
from anyodm.model.reference_paths import Each
from anyodm.model.reference_shapes import (
    MISSING_TARGET,
    BackReferenceShape,
    ReferenceShape,
    back_reference_shape,
    check_back_reference_annotation,
    hashable_key,
    is_missing_target,
    missing_target,
    reference_shape,
    unresolved,
)
from anyodm.model.schema import adapt_own_schema
from anyodm.model.shard_key import checked_shard_key
from anyodm.model.storable import field_type_problem
from anyodm.model.tracking import MAYBE_STORED, SavedState, StoredDocument

__all__ = [
    "BackReferenceShape",
    "EmbeddedModel",
    "Model",
    "ODMConfigDict",
    "back_reference_shape",
    "ReferenceShape",
    "reference_shape",
    "resolve_reference",
]

if typing.TYPE_CHECKING:  # the class itself lives in a private module of pydantic
    from pydantic._internal._model_construction import ModelMetaclass
else:
    ModelMetaclass = type(BaseModel)

_STATE = "__anyodm_state__"


class ODMConfigDict(ConfigDict, total=False):
    """pydantic's ``ConfigDict`` plus the ODM keys of ``model_config``."""

    #: the collection name (default: snake_case of the class name without ``Model``)
    collection: str
    #: ``Index`` objects (or key specs, or ``pymongo.IndexModel``), or a callable returning them
    indexes: Any
    #: fill fields missing from a stored document with their ``default_factory``
    parse_doc_with_default_factories: bool
    #: keep a revision in each document; a save/delete of a stale instance is refused
    optimistic_concurrency: bool
    #: this model and its subclasses share its collection; each document's class is
    #: stored under "_t" (on the base model of a family)
    polymorphic: bool
    #: the value stored under "_t" for this class of a polymorphic family (default:
    #: the class name)
    discriminator: str
    #: validate the instance again (pydantic) before each save writes it
    validate_on_save: bool
    #: the model's read concern (``pymongo.read_concern.ReadConcern``), over the engine's
    read_concern: ReadConcern
    #: the model's write concern (``pymongo.WriteConcern``), over the engine's
    write_concern: WriteConcern
    #: the model's read preference (``pymongo.ReadPreference.SECONDARY``...)
    read_preference: ReadPreferenceMode
    #: the fields of the collection's shard key (python names, in order): every write
    #: of one instance filters on their stored values
    shard_key: tuple[str, ...]
    #: the collection is a time-series collection (``anyodm.TimeSeries``)
    timeseries: TimeSeries
    #: the model is a read-only view of another model's collection (``anyodm.View``)
    view: View


_ODM_KEYS = frozenset(
    {
        "collection",
        "indexes",
        "parse_doc_with_default_factories",
        "optimistic_concurrency",
        "polymorphic",
        "discriminator",
        "validate_on_save",
        *CONCERN_NAMES,
        "shard_key",
        "timeseries",
        "view",
    }
)
_EMBEDDED_ODM_KEYS = frozenset({"parse_doc_with_default_factories"})
_KNOWN_KEYS = frozenset(ConfigDict.__annotations__) | _ODM_KEYS


# ------------------------------------------------------------------ class-creation checks


def _fail(cls_name: str, field: str | None, message: str) -> TypeError:
    where = f"{cls_name}.{field}" if field else cls_name
    return TypeError(f"{where}: {message}")


def _check_config(cls_name: str, config: Mapping[str, Any], embedded: bool) -> None:
    for key in config:
        if key not in _KNOWN_KEYS:
            raise _fail(cls_name, None, f"unknown model_config key {key!r}")
        if embedded and key in _ODM_KEYS - _EMBEDDED_ODM_KEYS:
            raise _fail(
                cls_name, None, f"model_config[{key!r}] is only for Model, not EmbeddedModel"
            )
    if "collection" in config:
        _check_collection_name(cls_name, config["collection"])
    for key, allowed in _ENFORCED_CONFIG.items():
        if key in config and config[key] != allowed:
            raise _fail(
                cls_name,
                None,
                f"model_config[{key!r}] = {config[key]!r} cannot work for a document model: "
                f"anyodm needs {allowed!r} ({_ENFORCED_WHY[key]})",
            )


#: pydantic options whose other values break what a document model relies on
_ENFORCED_CONFIG: dict[str, Any] = {"validate_assignment": True, "revalidate_instances": "never"}
_ENFORCED_WHY = {
    "validate_assignment": "an assigned value is validated as the field's type before it is saved",
    "revalidate_instances": "a referenced or embedded instance must stay the instance "
    "given, so that saving it and tracking its changes follow it",
}


def _check_collection_name(cls_name: str, name: Any) -> None:
    if not isinstance(name, str) or not name or "$" in name or "\0" in name:
        raise _fail(cls_name, None, f"invalid collection name {name!r}")
    if name.startswith("system."):
        raise _fail(
            cls_name,
            None,
            f"invalid collection name {name!r}: names starting with 'system.' are "
            "reserved by MongoDB",
        )


def _check_key_name(cls_name: str, field: str, key: Any) -> None:
    if not isinstance(key, str) or not key:
        raise _fail(cls_name, field, f"key_name must be a non-empty string, not {key!r}")
    if key.startswith("$"):
        raise _fail(cls_name, field, f"key_name {key!r} must not start with '$'")
    if "." in key or "\0" in key:
        raise _fail(cls_name, field, f"key_name {key!r} must not contain '.' or NUL")


_BSON_NAMES = ("ObjectId", "Decimal128", "Int64", "Binary", "Regex")


def _evaluated(annotation: str, namespace: Mapping[str, Any]) -> Any:
    """A string annotation that may name a ``bson`` class, evaluated if possible."""
    if not any(name in annotation for name in _BSON_NAMES):
        return annotation
    module = sys.modules.get(namespace.get("__module__", ""))
    scope = {**(vars(module) if module is not None else {}), **namespace}
    try:
        value = eval(annotation, scope)
    except Exception:  # forward references: pydantic resolves them later
        return annotation
    substituted = _substitute(value)
    return annotation if substituted is value else substituted


def _substitute(annotation: Any) -> Any:
    """Replace ``bson`` classes in an annotation by their validating counterparts."""
    if isinstance(annotation, type):
        return BSON_SUBSTITUTES.get(annotation, annotation)
    args = get_args(annotation)
    if not args:
        return annotation
    new_args = tuple(_substitute(arg) for arg in args)
    if new_args == args:
        return annotation
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        params = (new_args[0], *annotation.__metadata__)
        return typing.Annotated[params]
    if origin in (Union, types.UnionType):
        return Union[new_args]  # noqa: UP007 - built at runtime
    try:
        return annotation.copy_with(new_args)
    except AttributeError:
        return origin[new_args]


def _model_types_in(annotation: Any) -> Iterable[type]:
    """Every ``Model`` subclass appearing anywhere in an annotation."""
    if isinstance(annotation, type):
        if issubclass(annotation, Model):
            yield annotation
        return
    for arg in get_args(annotation):
        yield from _model_types_in(arg)


def resolve_reference(model: type[Any], name: str) -> type[Model]:
    """The ``Model`` a reference field points to; ``TypeError`` naming the field if the
    annotation is not one of the shapes :func:`reference_shape` knows."""
    return reference_shape(model, name).target


def _build_info(
    cls: type[Any], own_config: Mapping[str, Any], namespace: Mapping[str, Any], embedded: bool
) -> ShapeInfo:
    name = cls.__name__
    fields: dict[str, FieldInfo] = cls.__pydantic_fields__
    options = {field: odm_options(info) or ODMFieldOptions() for field, info in fields.items()}
    primaries = [field for field, opts in options.items() if opts.primary_field]
    if embedded and primaries:
        raise _fail(name, primaries[0], "an EmbeddedModel has no primary field")
    if len(primaries) > 1:
        raise _fail(name, None, f"more than one primary field: {', '.join(primaries)}")
    primary = primaries[0] if primaries else ("" if embedded else "id")
    if not embedded and primary not in fields:
        raise _fail(name, None, "no primary field")
    if primary and (container := _array_container(fields[primary].annotation)) is not None:
        raise _fail(
            name,
            primary,
            f"a primary field cannot be a {container} (MongoDB refuses an array as '_id'); "
            "use an EmbeddedModel, a str or another single value",
        )

    key_names: dict[str, str] = {}
    seen: dict[str, str] = {}
    references: list[str] = []
    back_references: list[str] = []
    for field, opts in options.items():
        if field == primary:
            if opts.key_name not in (None, "_id"):
                raise _fail(name, field, "a primary field is always stored as '_id'")
            key = "_id"
        else:
            key = field if opts.key_name is None else opts.key_name
            _check_key_name(name, field, key)
            if key == "_id":
                raise _fail(name, field, "only the primary field can be stored as '_id'")
        if key in seen:
            raise _fail(name, field, f"stored key {key!r} is already used by {seen[key]!r}")
        seen[key] = field
        key_names[field] = key

        annotation = fields[field].annotation
        if opts.back_reference is not None:
            check_back_reference_annotation(cls, field, annotation)
            back_references.append(field)
        elif opts.reference:
            if embedded and opts.lazy:
                raise _fail(
                    name,
                    field,
                    "a lazy reference (Reference(lazy=True)) is supported as a top-level "
                    "field of a Model only; use Reference() here (a find with "
                    "references='keys' leaves it unloaded, engine.fetch loads it)",
                )
            if not unresolved(annotation):
                reference_shape(cls, field)  # raises the TypeError naming the field
            references.append(field)
        elif (found := next(iter(_model_types_in(annotation)), None)) is not None:
            raise _fail(
                name,
                field,
                f"{found.__name__} is a Model: declare the field with Reference() "
                "(list[Model] too) or use an EmbeddedModel",
            )
        elif (problem := field_type_problem(cls, field, fields[field])) is not None:
            raise _fail(name, field, problem)
        else:
            _check_default(cls, field, fields[field])

    parse_factories = bool(
        own_config.get(
            "parse_doc_with_default_factories",
            _inherited(cls, "parse_doc_with_default_factories", False),
        )
    )
    if embedded:
        if back_references:
            raise _fail(name, back_references[0], "back-references are for Model fields only")
        return ShapeInfo(cls, key_names, tuple(references), parse_factories)
    collection = own_config.get("collection") or namespace.get("__collection__")
    if collection:
        _check_collection_name(name, collection)
    family, discriminator = _family_of(cls, own_config)
    if family is not None and family.root is not cls:
        root_collection = family.root.__anyodm__.collection
        if collection and collection != root_collection:
            raise _fail(
                name,
                None,
                f"a subclass of the polymorphic {family.root.__name__} is stored in its "
                f"collection {root_collection!r}, not {collection!r}",
            )
        collection = root_collection
    if family is not None:
        if family.key in seen:
            raise _fail(
                name, seen[family.key], f"stored key {family.key!r} holds the discriminator"
            )
        family.register(cls, cast(str, discriminator))
    revisions = bool(
        own_config.get("optimistic_concurrency", _inherited(cls, "optimistic_concurrency", False))
    )
    if revisions and REVISION_KEY in seen:
        raise _fail(
            name,
            seen[REVISION_KEY],
            f"stored key {REVISION_KEY!r} holds the revision of optimistic concurrency",
        )
    shard_key = checked_shard_key(
        name,
        own_config.get("shard_key"),
        inherited=_inherited(cls, "shard_key", None),
        family_root=None if family is None or family.root is cls else family.root.__name__,
        key_names=key_names,
        back_references=tuple(back_references),
        array_kind=lambda field: _array_container(fields[field].annotation),
    )
    collection = collection or collection_name(name)
    indexed = next((f for f, opts in options.items() if opts.index or opts.unique), None)
    if family is not None and family.root is not cls:
        if "timeseries" in own_config or "view" in own_config:
            raise _fail(
                name,
                None,
                f"a subclass of the polymorphic {family.root.__name__} shares its "
                "collection, and its kind",
            )
        kind = family.root.__anyodm__.kind
    else:
        kind = resolve_kind(name, own_config, fields, key_names, primary, collection, indexed)
    return ModelInfo(
        cls,
        kind=kind,
        collection=collection,
        primary_field=primary,
        key_names=key_names,
        reference_names=tuple(references),
        parse_doc_with_default_factories=parse_factories,
        index_spec=own_config.get("indexes"),
        optimistic_concurrency=revisions,
        family=family,
        discriminator=discriminator,
        back_reference_names=tuple(back_references),
        concerns=_model_concerns(cls, name, own_config),
        shard_key=shard_key,
    )


def _model_concerns(cls: type[Any], name: str, own_config: Mapping[str, Any]) -> Concerns | None:
    """The model's read/write concern and read preference (its own, else its base's)."""
    inherited: Concerns | None = _inherited(cls, "concerns", None)
    given = {key: own_config[key] for key in CONCERN_NAMES if key in own_config}
    if not given:
        return inherited
    if inherited is not None:
        given = {**inherited.given(), **given}
    return check_concerns(f"{name}: model_config", **given) or None


#: the public methods of anyodm's models (a field may not hide one)
_RESERVED_NAMES = frozenset(
    {"model_dump_doc", "model_update", "model_validate_doc", "doc", "parse_doc", "update"}
)

_ARRAYS: dict[Any, str] = {
    list: "list",
    set: "set",
    frozenset: "frozenset",
    tuple: "tuple",
    collections.abc.Sequence: "sequence",
    collections.abc.MutableSequence: "sequence",
    collections.abc.Set: "set",
    collections.abc.MutableSet: "set",
}


def _array_container(annotation: Any) -> str | None:
    """``"list"`` (``"set"``, ``"tuple"``...) when an annotation is an array, optional or not."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _array_container(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            if (found := _array_container(arg)) is not None:
                return found
        return None
    return _ARRAYS.get(origin if origin is not None else annotation)


def _check_default(cls: type[Any], field: str, info: FieldInfo) -> None:
    """A plain default must validate as its field's type (``TypeError`` naming both)."""
    default = info.default
    annotation = info.annotation
    if default is PydanticUndefined or annotation is None:
        return
    if not info.metadata and (
        (type(default) is annotation and annotation in (str, int, float, bool))
        or (default is None and type(None) in get_args(annotation))
    ):
        return  # the common cases, without building a validator
    try:
        params = (annotation, *info.metadata)
        checked: Any = typing.Annotated[params] if info.metadata else annotation
        adapter: TypeAdapter[Any] = TypeAdapter(checked)
        adapter.validate_python(default)
    except PydanticUserError:  # not fully defined yet (forward references): not checked
        return
    except ValidationError as exc:
        first = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        raise _fail(
            cls.__name__,
            field,
            f"the default {default!r} is not a valid {_type_name(info.annotation)} ({first})",
        ) from None


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else repr(annotation)


def _family_of(cls: type[Any], own_config: Mapping[str, Any]) -> tuple[Family | None, str | None]:
    """The polymorphic family ``cls`` founds or joins, and its discriminator (checked)."""
    family = _inherited(cls, "family", None)
    value = own_config.get("discriminator")
    if family is None:
        if not own_config.get("polymorphic"):
            if value is not None:
                raise _fail(
                    cls.__name__,
                    None,
                    'model_config["discriminator"] needs a polymorphic base model '
                    '(model_config["polymorphic"] = True)',
                )
            return None, None
        family = Family(cls)
    if value is None:
        value = cls.__name__
    if not isinstance(value, str) or not value:
        raise _fail(cls.__name__, None, f"invalid discriminator {value!r}")
    return family, value


def _inherited(cls: type[Any], attribute: str, default: Any) -> Any:
    for base in cls.__mro__[1:]:
        info = base.__dict__.get("__anyodm__")
        if isinstance(info, ShapeInfo):
            return getattr(info, attribute)
    return default


def _field_proxy_or_error(cls: Any, name: str) -> Any:
    """``Book.title`` (a field declared without a class value): its query field proxy;
    anything else missing: ``AttributeError`` naming the model and the closest field."""
    fields = cls.__dict__.get("__pydantic_fields__")
    proxies = cls.__dict__.get("__anyodm_proxies__")
    if fields is not None and proxies is not None and name in fields:
        proxy = proxies.get(name)
        if proxy is None:
            proxy = proxies[name] = FieldProxy.for_field(cls, name)
        return proxy
    parent = getattr(ModelMetaclass, "__getattr__", None)
    if parent is not None:
        try:
            return parent(cls, name)
        except AttributeError:
            pass
    if name.startswith("_") or fields is None:  # probes by pydantic, copy, pickle...
        raise AttributeError(name)
    raise AttributeError(_no_field_message(cls, name, fields), name=name, obj=cls)


def _no_field_message(cls: type[Any], name: str, fields: Mapping[str, Any]) -> str:
    """``Person.nmae``: name the model, and its closest field if one is close."""
    close = difflib.get_close_matches(name, list(fields), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(fields) if len(fields) <= 12 else ", ".join(list(fields)[:12]) + ", ..."
    return f"{cls.__name__} has no attribute or field {name!r} (its fields: {listed}){hint}"


# ------------------------------------------------------------------ the metaclass


@dataclass_transform(kw_only_default=True, field_specifiers=(Field, Reference))
class ODMModelMetaclass(ModelMetaclass):
    """Builds ``__anyodm__`` and makes ``Book.title`` a query field proxy."""

    def __new__(
        mcs,
        cls_name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> type:
        kind = namespace.pop("__anyodm_kind__", None)
        if kind is not None:  # Model / EmbeddedModel themselves
            namespace["__anyodm_kind__"] = kind
            return super().__new__(mcs, cls_name, bases, namespace, **kwargs)
        embedded = not any(isinstance(b, ODMModelMetaclass) and issubclass(b, Model) for b in bases)
        own_config: Mapping[str, Any] = namespace.get("model_config") or {}
        _check_config(cls_name, own_config, embedded)

        annotations: dict[str, Any] = namespace.setdefault("__annotations__", {})
        for field in annotations:
            if field in _RESERVED_NAMES:
                raise _fail(
                    cls_name,
                    field,
                    f"{field!r} is the name of a method of anyodm models; a field of that "
                    "name would hide it (rename the field, and keep the stored name with "
                    f"Field(key_name={field!r}))",
                )
        for field, annotation in list(annotations.items()):
            if isinstance(annotation, str):
                annotations[field] = _evaluated(annotation, namespace)
            else:
                annotations[field] = _substitute(annotation)
        if not embedded and not _declares_primary(bases, namespace) and "id" not in annotations:
            namespace["__annotations__"] = {"id": ObjectId, **annotations}
            namespace["id"] = Field(default_factory=ObjectId)

        if kwargs.pop("__pydantic_reset_parent_namespace__", True):
            # pydantic would look one frame too high (this one): give it the class's own
            namespace["__pydantic_parent_namespace__"] = _defining_namespace()
        cls = super().__new__(
            mcs, cls_name, bases, namespace, __pydantic_reset_parent_namespace__=False, **kwargs
        )
        cls.__anyodm__ = _build_info(cls, own_config, namespace, embedded)  # type: ignore[attr-defined]
        cls.__anyodm_hooks__ = collect_hooks(cls, embedded=embedded)  # type: ignore[attr-defined]
        cls.__anyodm_proxies__ = {}  # type: ignore[attr-defined]
        return cls

    @property
    def __pydantic_model__(cls) -> type[Any]:
        """ODMantic's FastAPI-facing pydantic model: an anyodm model is one already."""
        return cls

    if not typing.TYPE_CHECKING:  # checkers see the declared fields (and flag a typo)
        __getattr__ = _field_proxy_or_error


def _defining_namespace() -> dict[str, Any] | None:
    """The names a class body defined inside a function can see (for forward references).

    ``None`` at module level (pydantic then uses the module's globals). Only classes,
    modules and typing constructs are kept, so the namespace holds no other objects alive.
    """
    frame = sys._getframe(2)  # 0: here, 1: the metaclass, 2: where the class statement is
    if frame.f_back is None or frame.f_code.co_name == "<module>":
        return None
    return {
        name: value
        for name, value in frame.f_locals.items()
        if isinstance(value, (type, types.ModuleType))
        or type(value).__module__ in ("typing", "typing_extensions", "types")
    }


def _declares_primary(bases: tuple[type[Any], ...], namespace: Mapping[str, Any]) -> bool:
    for value in namespace.values():
        if isinstance(value, FieldInfo) and (opts := odm_options(value)) and opts.primary_field:
            return True
    for base in bases:
        info = getattr(base, "__anyodm__", None)
        if isinstance(info, ModelInfo):
            return True
    return False


# ------------------------------------------------------------------ the base classes


class _DocumentBase(BaseModel, metaclass=ODMModelMetaclass):
    """What ``Model`` and ``EmbeddedModel`` share: document parsing and dumping."""

    __anyodm_kind__ = "base"
    __slots__ = ("__anyodm_state__",)
    model_config: ClassVar[ODMConfigDict] = ODMConfigDict(  # pyright: ignore[reportIncompatibleVariableOverride]
        validate_assignment=True
    )
    __anyodm__: ClassVar[ShapeInfo]
    #: the class's event hooks (``anyodm.model.hooks``), collected when it is made
    __anyodm_hooks__: ClassVar[ModelHooks] = NO_HOOKS

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler, /
    ) -> CoreSchema:
        schema = handler(source)
        if source is cls:
            schema = cast(CoreSchema, adapt_own_schema(cast(dict[str, Any], schema), cls))
        return schema

    @classmethod
    def model_validate_doc(cls, raw_doc: Mapping[str, Any]) -> Self:
        """Build an instance from a stored document (stored key names, looked-up references).

        Raises ``DocumentParsingError`` naming every failing field path.
        """
        return cls.__anyodm_load__(raw_doc, None)

    @classmethod
    def __anyodm_load__(cls, raw_doc: Mapping[str, Any], raw: bytes | memoryview | None) -> Self:
        """:meth:`model_validate_doc` of a document read from the server, whose BSON
        bytes (``raw``, when known) become the instance's saved state as they are."""
        info = cls.__anyodm__
        family = getattr(info, "family", None)
        if family is not None:
            own = _class_of_document(cls, family, raw_doc)
            if own is not cls:
                return cast(Self, own.__anyodm_load__(raw_doc, raw))
        validator = info.doc_validator
        if validator is None:
            info.build()
            validator = info.doc_validator
            assert validator is not None
        if info.client_ordered_lists:
            raw_doc = _lists_in_order(raw_doc, info.client_ordered_lists)
        values = raw_doc
        for path in info.reference_paths:
            if path.optional:  # a missing target's stand-in is None to the model
                values = _missing_as_none(values, path.steps)
        try:
            instance: Self = validator.validate_python(values, by_alias=True, by_name=False)
        except ValidationError as exc:
            raise info.parsing_error(exc, values) from exc
        back_references = getattr(info, "back_reference_names", ())
        if info.reference_paths or back_references:
            source = None if raw is None else _Source(bytes(raw), cls)
            _mark_loaded_references(instance, raw_doc, source, ())
            for name in back_references:
                key = info.key_names[name]
                loaded = raw_doc.get(key)
                if isinstance(loaded, list):
                    for index, (item, item_doc) in enumerate(
                        zip(instance.__dict__[name], loaded, strict=False)
                    ):
                        _mark_loaded_references(item, item_doc, source, (key, index))
        elif cls.__anyodm_kind__ == "document":
            state = StoredDocument(bytes(raw)) if raw is not None else _stored_form(raw_doc)
            object.__setattr__(instance, _STATE, state)
        return instance

    def model_dump_doc(
        self,
        *,
        include: Any = None,
        exclude: Any = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
    ) -> dict[str, Any]:
        """The document to store: stored key names, ``_id``, BSON-ready values.

        ``include`` / ``exclude`` name python fields, as in ``model_dump``.
        """
        info = type(self).__anyodm__
        serializer = info.doc_serializer
        if serializer is None:
            info.build()
            serializer = info.doc_serializer
            assert serializer is not None
        doc: dict[str, Any] = serializer.to_python(
            self,
            by_alias=True,
            include=include,
            exclude=exclude,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
        )
        discriminator = getattr(info, "discriminator", None)
        if discriminator is not None:
            doc[cast(ModelInfo, info).family.key] = discriminator  # type: ignore[union-attr]
        return doc

    def model_update(
        self,
        obj: BaseModel | Mapping[str, Any],
        *,
        include: Any = None,
        exclude: Any = None,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
    ) -> Self:
        """Update fields from a pydantic object or a dict of field values; returns ``self``.

        The new values are validated together (model validators included) before
        anything changes; keys or fields of ``obj`` that this model lacks are ignored
        (as ODMantic does, so ``item.model_update(request.model_dump())`` works). A
        different primary key in ``obj`` raises ``ValueError``: it is never changed.
        """
        fields = type(self).__pydantic_fields__
        if isinstance(obj, BaseModel):
            dumped = obj.model_dump(
                include=include,
                exclude=exclude,
                exclude_unset=exclude_unset,
                exclude_defaults=exclude_defaults,
                exclude_none=exclude_none,
            )
            values = {key: getattr(obj, key) for key in dumped if key in fields}
        else:
            values = {
                key: value
                for key, value in obj.items()
                if key in fields
                and (include is None or key in include)
                and (exclude is None or key not in exclude)
                and not (exclude_none and value is None)
            }
        primary = getattr(type(self).__anyodm__, "primary_field", None)
        if primary in values and values[primary] != self.__dict__[primary]:
            raise ValueError(
                f"{type(self).__name__}.model_update: the primary key {primary!r} cannot be "
                "updated (use model_copy(update=...) to make a new document)"
            )
        if not values:
            return self
        checked = type(self).model_validate({**self.__dict__, **values})
        object.__setattr__(self, "__dict__", checked.__dict__)
        self.__pydantic_fields_set__.update(values)
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (deep if asked) with ``update`` applied *and validated*.

        The copy keeps the original's persistence state: saving it writes to the same
        document unless its primary key was changed through ``update``.
        """
        copied = super().model_copy(deep=deep)
        state = getattr(self, _STATE, None)
        primary: str = getattr(type(self).__anyodm__, "primary_field", "")
        if state is not None and not (
            update and primary in update and update[primary] != self.__dict__[primary]
        ):  # the same document (a copy under another key is a new one)
            object.__setattr__(copied, _STATE, state)
        if update:
            fields = type(self).__pydantic_fields__
            unknown = [key for key in update if key not in fields]
            if unknown:
                names = ", ".join(map(str, unknown))
                raise ValueError(f"{type(self).__name__}.model_copy: unknown field(s) {names}")
            checked = type(self).model_validate({**copied.__dict__, **update})
            object.__setattr__(copied, "__dict__", checked.__dict__)
            copied.__pydantic_fields_set__.update(update)
        return copied

    # ODMantic's pre-1.0 spellings, kept with a DeprecationWarning
    def doc(self, include: Any = None) -> dict[str, Any]:
        """Deprecated alias of ``model_dump_doc``."""
        _deprecated(type(self), "doc()", "model_dump_doc()")
        return self.model_dump_doc(include=include)

    @classmethod
    def parse_doc(cls, raw_doc: Mapping[str, Any]) -> Self:
        """Deprecated alias of ``model_validate_doc``."""
        _deprecated(cls, "parse_doc()", "model_validate_doc()")
        return cls.model_validate_doc(raw_doc)

    def update(
        self,
        patch_object: BaseModel | Mapping[str, Any],
        *,
        include: Any = None,
        exclude: Any = None,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
    ) -> Self:
        """Deprecated alias of ``model_update``."""
        _deprecated(type(self), "update()", "model_update()")
        return self.model_update(
            patch_object,
            include=include,
            exclude=exclude,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
        )


def _lists_in_order(
    raw_doc: Mapping[str, Any], lists: tuple[tuple[str, str, bool], ...]
) -> Mapping[str, Any]:
    """The document with each top-level list of references whose documents were looked up
    into a temporary field replaced by those documents, in the stored order (a missing
    one: its key, or None where items are optional)."""
    if not any(found in raw_doc for _, found, _ in lists):
        return raw_doc
    doc = dict(raw_doc)
    for key, found, optional in lists:
        if found not in doc:
            continue
        by_id = {hashable_key(item.get("_id")): item for item in doc.pop(found)}
        keys = doc.get(key)
        if isinstance(keys, list):
            doc[key] = [
                by_id.get(hashable_key(k), missing_target(k) if optional else k)
                if k is not None
                else None
                for k in keys
            ]
    return doc


def _class_of_document(cls: type[Any], family: Family, raw_doc: Mapping[str, Any]) -> type[Any]:
    """The class of a polymorphic family a stored document belongs to (the family's base
    for a document without a discriminator); ``DocumentParsingError`` if it is unknown
    or not ``cls`` or one of its subclasses."""
    value = raw_doc.get(family.key) if isinstance(raw_doc, Mapping) else None
    if value is None:
        own: type[Any] | None = family.root
    else:
        own = family.classes.get(value) if isinstance(value, str) else None
    doc_id = raw_doc.get("_id") if isinstance(raw_doc, Mapping) else None
    if own is None:
        known = ", ".join(sorted(family.classes))
        raise DocumentParsingError(
            cls,
            [(family.key, f"unknown discriminator {value!r} (known: {known})")],
            doc_id,
        )
    if not issubclass(own, cls):
        raise DocumentParsingError(
            cls,
            [(family.key, f"the document is a {own.__name__}, not a {cls.__name__}")],
            doc_id,
        )
    return own


def _deprecated(cls: type[Any], old: str, new: str) -> None:
    warnings.warn(
        f"{cls.__name__}.{old} is deprecated (an ODMantic spelling); use {new}",
        DeprecationWarning,
        stacklevel=3,
    )


def _stored_form(doc: Mapping[str, Any]) -> SavedState:
    """The saved state of a document given as a mapping (encoded once; unknown if it
    is not a document BSON can encode)."""
    try:
        return StoredDocument.of(doc)
    except Exception:
        return MAYBE_STORED


class _Source(NamedTuple):
    """The bytes a loaded document came in (its looked-up references inside), and the
    class that parsed it (which ordered its top-level lists of references)."""

    raw: bytes
    model: type[Any]

    def stored_at(
        self, location: tuple[str | int, ...], model: type[Any], doc: dict[str, Any]
    ) -> Mapping[str, Any]:
        """The stored form of the document at ``location`` in ``doc`` (a fresh decoded
        copy of :attr:`raw`)."""
        lists = self.model.__anyodm__.client_ordered_lists
        part: Any = _lists_in_order(doc, lists) if lists else doc
        for step in location:
            part = part[step]
        return _baseline(model, part)


def _mark_loaded_references(
    instance: Any,
    raw_doc: Mapping[str, Any],
    source: _Source | None,
    location: tuple[str | int, ...],
) -> None:
    """``instance`` and the referenced instances loaded with it by ``$lookup`` count as
    persisted, each with its part of the document (as stored) as its saved state:
    derived from ``source``'s bytes when a save needs it, else encoded now."""
    for path in type(instance).__anyodm__.reference_paths:
        for target, sub_doc, where in _pairs(instance, raw_doc, path.steps, location):
            if isinstance(sub_doc, Mapping) and isinstance(target, Model):
                _mark_loaded_references(target, sub_doc, source, where)
    if type(instance).__anyodm_kind__ == "document":
        model = type(instance)
        if source is None:
            state = _stored_form(_baseline(model, raw_doc))
        else:
            state = StoredDocument.derived(
                source.raw, functools.partial(source.stored_at, location, model)
            )
        object.__setattr__(instance, _STATE, state)


def _pairs(
    value: Any, doc: Any, steps: tuple[Any, ...], location: tuple[str | int, ...]
) -> Iterable[tuple[Any, Any, tuple[str | int, ...]]]:
    """The (python value, stored value, where) triples found by following ``steps`` in
    both (``where``: the keys and indexes from the document's root)."""
    if not steps:
        yield value, doc, location
        return
    step, rest = steps[0], steps[1:]
    if isinstance(step, Each):
        if isinstance(value, (list, tuple)) and isinstance(doc, list):
            for index, (item, item_doc) in enumerate(zip(value, doc, strict=False)):
                yield from _pairs(item, item_doc, rest, (*location, index))
        return
    if value is not None and isinstance(doc, Mapping):
        yield from _pairs(
            value.__dict__.get(step.name), doc.get(step.key), rest, (*location, step.key)
        )


def _baseline(model: type[Any], raw_doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The document as stored: the looked-up documents of references (in the document
    or its embedded models) replaced by their ids, loaded back-references left out."""
    info = model.__anyodm__
    doc = dict(raw_doc)
    for path in info.reference_paths:
        key = path.steps[0].key
        if key in doc:
            doc[key] = _ids_in_place(doc[key], path.steps[1:])
    for name in getattr(info, "back_reference_names", ()):
        doc.pop(info.key_names[name], None)
    return doc


def _missing_as_none(doc: Any, steps: tuple[Any, ...]) -> Any:
    """``doc`` with the missing targets' stand-ins at the end of ``steps`` replaced by
    ``None`` (``doc`` itself, not a copy, where there is none)."""
    if not steps:
        return None if is_missing_target(doc) else doc
    step, rest = steps[0], steps[1:]
    if isinstance(step, Each):
        if not isinstance(doc, list):
            return doc
        items = [_missing_as_none(item, rest) for item in doc]
        return doc if all(a is b for a, b in zip(items, doc, strict=True)) else items
    if not isinstance(doc, Mapping) or step.key not in doc:
        return doc
    old = doc[step.key]
    new = _missing_as_none(old, rest)
    return doc if new is old else {**doc, step.key: new}


def _ids_in_place(doc: Any, steps: tuple[Any, ...]) -> Any:
    if not steps:  # a looked-up document, a missing target's stand-in, a key, or None
        if isinstance(doc, Mapping):
            return doc[MISSING_TARGET] if MISSING_TARGET in doc else doc.get("_id")
        return doc
    step, rest = steps[0], steps[1:]
    if isinstance(step, Each):
        return [_ids_in_place(item, rest) for item in doc] if isinstance(doc, list) else doc
    if not isinstance(doc, Mapping) or step.key not in doc:
        return doc
    return {**doc, step.key: _ids_in_place(doc[step.key], rest)}


class EmbeddedModel(_DocumentBase):
    """A document nested in another: no primary key, no collection.

    Usable directly, in ``list``/``tuple``/``set``/``dict[str, ...]`` and as ``X | None``.
    """

    __anyodm_kind__ = "embedded"


class Model(_DocumentBase):
    """A document of a collection.

    The primary key is ``id: ObjectId`` stored as ``_id`` unless one field is declared
    with ``Field(primary_field=True)``.
    """

    __anyodm_kind__ = "document"
    __anyodm__: ClassVar[ModelInfo]  # pyright: ignore[reportIncompatibleVariableOverride]
    if typing.TYPE_CHECKING:
        #: The automatic primary key, as type checkers see it: optional in the
        #: constructor (a fresh ObjectId). A model whose primary field has another name
        #: has no ``id`` at run time; a checker cannot tell (see docs/typing.md).
        id: ObjectId = Field(default_factory=ObjectId)

    @classmethod
    def __anyodm_load_keys__(
        cls, raw_doc: Mapping[str, Any], raw: bytes | memoryview | None
    ) -> Self:
        """:meth:`__anyodm_load__` for a find with ``references="keys"``: every reference
        (in embedded models too) holds ``NotLoaded`` placeholders of its stored keys,
        back-references are :class:`~anyodm.model.lazy.BackReferencesNotLoaded`; the
        document (``raw`` when known) is the instance's saved state as it is."""
        info = cls.__anyodm__
        family = info.family
        if family is not None:
            own = _class_of_document(cls, family, raw_doc)
            if own is not cls:
                return cast(Self, own.__anyodm_load_keys__(raw_doc, raw))
        validator = info.keys_validator or info.build_keys_validator()
        try:
            instance: Self = validator.validate_python(raw_doc, by_alias=True, by_name=False)
        except ValidationError as exc:
            raise info.parsing_error(exc, raw_doc, loaded_references=False) from exc
        state = StoredDocument(bytes(raw)) if raw is not None else _stored_form(raw_doc)
        object.__setattr__(instance, _STATE, state)
        return instance

    def __setattr__(self, name: str, value: Any) -> None:
        if name == type(self).__anyodm__.primary_field and getattr(self, _STATE, None) is not None:
            raise NotImplementedError(
                f"{type(self).__name__}.{name}: the primary key of a saved or loaded instance "
                "cannot be reassigned (saving would write a second document); use "
                f"model_copy(update={{{name!r}: ...}}) for a new document"
            )
        super().__setattr__(name, value)

    @property
    def __anyodm_pk_value__(self) -> Any:
        """The primary key value."""
        return self.__dict__[type(self).__anyodm__.primary_field]

    @property
    def __anyodm_stored_pk__(self) -> Any:
        """The primary key as stored in ``_id`` (BSON-ready: an embedded document, a
        Decimal128, a UUID binary, an enum's value...)."""
        primary = type(self).__anyodm__.primary_field
        value = self.__dict__[primary]
        if type(value) in _STORED_AS_IS:
            return value
        return self.model_dump_doc(include={primary})["_id"]


#: primary key types stored exactly as they are (the common case, no serializer call)
_STORED_AS_IS = frozenset({bson.ObjectId, ObjectId, str, int})
