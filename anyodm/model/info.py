"""``ModelInfo``: what the metaclass learns about a model class, used by the engine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError
from pydantic_core import CoreSchema, SchemaSerializer, SchemaValidator

from anyodm.errors import DocumentParsingError
from anyodm.model.index import model_indexes
from anyodm.model.reference_paths import (
    Each,
    ReferencePath,
    compute_reference_paths,
    reference_paths,
)
from anyodm.model.reference_shapes import (
    BackReferenceShape,
    ReferenceShape,
    back_reference_shape,
    reference_shape,
)
from anyodm.model.references import found_key, is_top_level_list
from anyodm.model.registry import note_delete_rules, register_model
from anyodm.model.schema import doc_serializer_schema, doc_validator_schema

if TYPE_CHECKING:
    from pymongo import IndexModel

    from anyodm.model.concerns import Concerns
    from anyodm.model.kinds import CollectionKind
    from anyodm.model.model import Model
    from anyodm.model.shard_key import ShardKey

__all__ = ["DISCRIMINATOR_KEY", "REVISION_KEY", "Family", "ModelInfo", "ShapeInfo"]

#: Where a model with ``optimistic_concurrency`` keeps each document's revision (an int
#: incremented by every write anyodm makes).
REVISION_KEY = "_rev"

#: Where the documents of a polymorphic family keep the discriminator of their class.
DISCRIMINATOR_KEY = "_t"


class Family:
    """A polymorphic base model and its subclasses, stored in one collection.

    ``classes`` maps each discriminator value to its class (registered at class creation).
    """

    def __init__(self, root: type[Any]) -> None:
        self.root = root
        self.key = DISCRIMINATOR_KEY
        self.classes: dict[str, type[Any]] = {}

    def register(self, cls: type[Any], value: str) -> None:
        """Add a class; ``TypeError`` naming both classes if its value is taken."""
        taken = self.classes.get(value)
        if taken is not None and taken.__qualname__ != cls.__qualname__:
            raise TypeError(
                f"{cls.__name__}: discriminator {value!r} is already used by "
                f"{taken.__name__} in the {self.root.__name__} family "
                '(set model_config["discriminator"] to another value)'
            )
        self.classes[value] = cls

    def values_of(self, cls: type[Any]) -> list[str]:
        """The discriminators of ``cls`` and of its subclasses."""
        return [value for value, member in self.classes.items() if issubclass(member, cls)]

    def members_of(self, cls: type[Any]) -> list[type[Any]]:
        """``cls`` and its subclasses in the family, base classes first."""
        members = [member for member in self.classes.values() if issubclass(member, cls)]
        return sorted(members, key=lambda member: len(member.__mro__))


def _is_key(value: Any) -> bool:
    """A stored primary key (not a document) where a looked-up document belongs."""
    return value is not None and not isinstance(value, Mapping)


def _target_at(model: type[Any], loc: tuple[Any, ...]) -> type[Any] | None:
    """The model the reference at ``loc`` (a validation error's location: stored keys
    and list positions) points to, through looked-up documents too; None if no
    reference is there."""
    for path in reference_paths(model):
        steps = path.steps
        if len(loc) < len(steps):
            continue
        if not all(
            isinstance(part, int) if isinstance(step, Each) else part == step.key
            for step, part in zip(steps, loc[: len(steps)], strict=True)
        ):
            continue
        rest = loc[len(steps) :]
        found = _target_at(path.target, rest) if rest else path.target
        if found is not None:
            return found
    return None


class ShapeInfo:
    """The stored shape of a model or embedded model."""

    def __init__(
        self,
        model: type[Any],
        key_names: dict[str, str],
        reference_names: tuple[str, ...],
        parse_doc_with_default_factories: bool,
    ) -> None:
        self.model = model
        #: python field name -> stored key
        self.key_names = key_names
        self.reference_names = reference_names
        self.parse_doc_with_default_factories = parse_doc_with_default_factories
        self.doc_validator: SchemaValidator | None = None
        self.doc_serializer: SchemaSerializer | None = None
        #: the document validator reading every reference as its key (``NotLoaded``)
        self.keys_validator: SchemaValidator | None = None
        note_delete_rules(model, reference_names)

    @cached_property
    def reference_keys(self) -> frozenset[str]:
        """The stored keys of the reference fields."""
        return frozenset(self.key_names[name] for name in self.reference_names)

    def build(self) -> None:
        """Compile the document validator and serializer (once, on first use)."""
        model = self.model
        if not model.__pydantic_complete__ and not model.model_rebuild():
            raise TypeError(
                f"{model.__name__} is not fully defined (unresolved forward references)"
            )
        schema = model.__pydantic_core_schema__
        self.doc_validator = SchemaValidator(cast(CoreSchema, doc_validator_schema(schema, model)))
        self.doc_serializer = SchemaSerializer(cast(CoreSchema, doc_serializer_schema(schema)))

    def build_keys_validator(self) -> SchemaValidator:
        """Compile :attr:`keys_validator` (once, on first use: finds with
        ``references="keys"``)."""
        if self.doc_validator is None:
            self.build()
        schema = doc_validator_schema(self.model.__pydantic_core_schema__, self.model, True)
        validator = SchemaValidator(cast(CoreSchema, schema))
        self.keys_validator = validator
        return validator

    def parsing_error(
        self, exc: ValidationError, doc: Mapping[str, Any], loaded_references: bool = True
    ) -> DocumentParsingError:
        """A ``DocumentParsingError`` naming every failing stored path (``loaded_references``
        False: the document holds the referenced keys, not looked-up documents)."""
        errors = self.described(exc.errors(include_url=False), loaded_references)
        doc_id = doc.get("_id") if isinstance(doc, Mapping) else None
        return DocumentParsingError(self.model, errors, doc_id)

    def described(
        self, errors: Iterable[Mapping[str, Any]], loaded_references: bool = True
    ) -> list[tuple[str, str]]:
        """``(stored path, message)`` of pydantic errors located in this model's
        documents (``loc``: stored keys and list positions), a missing reference target
        named as such."""
        described = []
        for err in errors:
            loc = tuple(err["loc"])
            path = ".".join(str(part) for part in loc)
            msg = err["msg"]
            if not loaded_references:
                pass
            elif err["type"] == "missing":
                target = _target_at(self.model, loc)
                if target is not None:
                    msg = f"referenced {target.__name__} document not found"
            elif err["type"] == "model_type" and _is_key(err.get("input")):
                # a list of references keeps the key of a missing target in its place
                target = _target_at(self.model, loc)
                what = target.__name__ if target is not None else "a"
                msg = f"referenced {what} document {err['input']!r} not found"
            described.append((path, msg))
        return described

    @cached_property
    def reference_shapes(self) -> dict[str, ReferenceShape]:
        """Reference field name -> its target, and whether it is a list / optional."""
        return {name: reference_shape(self.model, name) for name in self.reference_names}

    @cached_property
    def references(self) -> dict[str, type[Model]]:
        """Reference field name -> referenced model (resolved on first use)."""
        return {name: shape.target for name, shape in self.reference_shapes.items()}

    @cached_property
    def reference_paths(self) -> tuple[ReferencePath, ...]:
        """Every reference in the documents, embedded models' included (resolved on first use)."""
        return compute_reference_paths(self.model)

    @cached_property
    def client_ordered_lists(self) -> tuple[tuple[str, str, bool], ...]:
        """``(stored key, temporary key, optional items)`` of each top-level list of
        references a find looks up into a temporary field for parsing to order."""
        return tuple(
            (path.dotted, found_key(path.dotted), path.optional)
            for path in self.reference_paths
            if is_top_level_list(path) and not path.lazy
        )

    @cached_property
    def reference_targets(self) -> dict[str, type[Model]]:
        """Stored key -> referenced model."""
        return {self.key_names[name]: target for name, target in self.references.items()}


class ModelInfo(ShapeInfo):
    """``Model.__anyodm__``: the collection, keys, references and indexes of a model."""

    def __init__(
        self,
        model: type[Any],
        *,
        collection: str,
        primary_field: str,
        key_names: dict[str, str],
        reference_names: tuple[str, ...],
        parse_doc_with_default_factories: bool,
        index_spec: Any,
        optimistic_concurrency: bool = False,
        family: Family | None = None,
        discriminator: str | None = None,
        back_reference_names: tuple[str, ...] = (),
        concerns: Concerns | None = None,
        shard_key: ShardKey | None = None,
        kind: CollectionKind | None = None,
    ) -> None:
        super().__init__(model, key_names, reference_names, parse_doc_with_default_factories)
        #: ``model_config``'s read concern, write concern and read preference (None: none)
        self.concerns: Concerns | None = concerns
        #: a time-series collection or a view (``model_config``); None: a plain collection
        self.kind = kind
        #: the polymorphic family the model belongs to (None for an ordinary model)
        self.family = family
        #: the model's discriminator value in its family's documents
        self.discriminator = discriminator
        #: read-only fields loading the documents that reference this one
        self.back_reference_names = back_reference_names
        #: the stored key of the document's revision, or None without optimistic concurrency
        self.revision_key: str | None = REVISION_KEY if optimistic_concurrency else None
        self.optimistic_concurrency = optimistic_concurrency
        #: the fields of the collection's shard key and their stored keys (None: the
        #: model declares none)
        self.shard_key = shard_key
        #: the collection name
        self.collection = collection
        #: python name of the primary key field
        self.primary_field = primary_field
        self._index_spec = index_spec
        register_model(model)

    @cached_property
    def back_references(self) -> dict[str, BackReferenceShape]:
        """Back-reference field name -> the referencing model and its foreign key."""
        return {name: back_reference_shape(self.model, name) for name in self.back_reference_names}

    def family_filter(self) -> dict[str, Any] | None:
        """The filter keeping a subclass's finds to its own documents (and its
        subclasses'); None for an ordinary model or a family's base (every document)."""
        family = self.family
        if family is None or family.root is self.model:
            return None
        return {family.key: {"$in": family.values_of(self.model)}}

    def class_filter(self, with_children: bool = True) -> dict[str, Any] | None:
        """:meth:`family_filter`, or with ``with_children=False`` the filter matching
        only the documents of this very class (``{"_t": {"$in": ["Car"]}}``; a family's
        base also matches documents without a discriminator, stored before the model
        became polymorphic); None outside a family."""
        family = self.family
        if with_children or family is None:
            return self.family_filter()
        values: list[Any] = [self.discriminator]
        if family.root is self.model:
            values.append(None)
        return {family.key: {"$in": values}}

    @property
    def indexes(self) -> list[IndexModel]:
        """``Field(index=/unique=)`` indexes, then ``model_config["indexes"]`` (for a
        polymorphic subclass, its own, each limited to the documents of its class and
        subclasses: computed on each use, as the family may have grown)."""
        return model_indexes(self.model, self._index_spec)
