"""What a migration is: a name, a collection, a forward step and an optional backward step.

Three kinds, one shape: each turns one batch of raw documents (read in ``_id`` order,
inside the batch's transaction) into writes on the same collection.

* :class:`ModelMigration`: an old and a new anyodm model and a function from one to the
  other (and back); each document is parsed with the old model, converted, and replaced
  by the new model's stored form.  Returning ``None`` deletes the document.
* :class:`UpdateMigration`: an update document (``{"$set": ...}``) or an aggregation
  pipeline (a list of stages), applied to the batch's documents.
* :class:`DocumentMigration`: a function from a raw document (a ``dict``) to the new raw
  document (or ``None`` to delete it).

Everything here is synchronous code over PyMongo: the engines run it (the async one in
worker threads), see :mod:`anyodm.migrations.steps`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pymongo import DeleteOne, ReplaceOne, UpdateOne

from anyodm.migrations.errors import MigrationError

if TYPE_CHECKING:
    from pymongo.client_session import ClientSession
    from pymongo.collection import Collection

    from anyodm.model import Model

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "Direction",
    "DocumentMigration",
    "Migration",
    "ModelMigration",
    "UpdateMigration",
]

#: Documents per batch (one transaction each) unless a migration says otherwise.
DEFAULT_BATCH_SIZE = 500

Direction = Literal["up", "down"]
Doc = dict[str, Any]
Convert = Callable[[Doc], "Doc | None"]


class Migration:
    """A migration of one collection; use one of the subclasses.

    ``name`` orders migrations (they run in ascending name order) and identifies them in
    the ``migrations`` collection; left out, it is the module's file name.  ``filter``
    selects the documents the forward step touches (all by default), ``backward_filter``
    those the backward step touches.  ``batch_size`` documents are migrated per
    transaction; ``single_transaction=True`` migrates the whole collection in one
    transaction instead (for collections small enough for one).
    """

    #: The collection the migration rewrites.
    collection: str

    def __init__(
        self,
        *,
        name: str | None,
        collection: str,
        filter: Mapping[str, Any] | None = None,
        backward_filter: Mapping[str, Any] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        single_transaction: bool = False,
        description: str = "",
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(f"a migration's name must be a non-empty string, got {name!r}")
        if not isinstance(collection, str) or not collection:
            raise ValueError(f"a migration's collection must be a non-empty string: {name!r}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self._name = name
        self.collection = collection
        self.filter: dict[str, Any] = dict(filter or {})
        self.backward_filter: dict[str, Any] = dict(backward_filter or {})
        self.batch_size = batch_size
        self.single_transaction = single_transaction
        self.description = description

    @property
    def name(self) -> str:
        """The migration's name (its module's file name when none was given)."""
        if self._name is None:
            raise MigrationError(
                "this migration has no name: give it name=..., or load it from its module "
                "(anyodm.migrations.load_migrations)"
            )
        return self._name

    def _set_default_name(self, name: str) -> None:
        if self._name is None:
            self._name = name

    @property
    def reversible(self) -> bool:
        """Whether the migration has a backward step."""
        raise NotImplementedError

    def filter_for(self, direction: Direction) -> dict[str, Any]:
        """The documents a step in ``direction`` reads."""
        return dict(self.filter if direction == "up" else self.backward_filter)

    def apply(
        self,
        direction: Direction,
        collection: Collection[Any],
        docs: Sequence[Doc],
        session: ClientSession | None,
    ) -> None:
        """Write the batch ``docs`` migrated in ``direction`` (in ``session``'s transaction)."""
        raise NotImplementedError

    def check(self, direction: Direction, doc: Doc) -> None:
        """Convert ``doc`` without writing anything (a dry run); raise if it cannot be."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r} on {self.collection!r}>"


class _ReplacingMigration(Migration):
    """A migration that computes each new document in Python and replaces the old one."""

    def _converter(self, direction: Direction) -> Convert:
        raise NotImplementedError

    def _convert(self, direction: Direction, doc: Doc) -> Doc | None:
        try:
            new = self._converter(direction)(doc)
        except MigrationError:
            raise
        except Exception as exc:
            raise MigrationError(
                f"migration {self._name!r} ({direction}) failed on document "
                f"_id={doc.get('_id')!r}: {type(exc).__name__}: {exc}"
            ) from exc
        if new is not None and new.get("_id", doc["_id"]) != doc["_id"]:
            raise MigrationError(
                f"migration {self._name!r} ({direction}) changed the _id of document "
                f"{doc['_id']!r} to {new['_id']!r}: a migration keeps each document's _id"
            )
        return new

    def apply(
        self,
        direction: Direction,
        collection: Collection[Any],
        docs: Sequence[Doc],
        session: ClientSession | None,
    ) -> None:
        writes: list[ReplaceOne[Any] | DeleteOne] = []
        for doc in docs:
            new = self._convert(direction, doc)
            if new is None:
                writes.append(DeleteOne({"_id": doc["_id"]}))
            else:
                new["_id"] = doc["_id"]
                writes.append(ReplaceOne({"_id": doc["_id"]}, new))
        if writes:
            collection.bulk_write(writes, ordered=True, session=session)

    def check(self, direction: Direction, doc: Doc) -> None:
        self._convert(direction, doc)


class ModelMigration(_ReplacingMigration):
    """Rewrite each document of ``old``'s collection from the ``old`` model to ``new``.

    ``forward(old_instance)`` returns a ``new`` instance (same primary key) or ``None``
    to delete the document; ``backward(new_instance)`` returns an ``old`` one.  Both
    models describe the documents as they are stored (the collection of ``old`` is the
    one migrated; ``new`` must use the same collection).
    """

    def __init__(
        self,
        old: type[Model],
        new: type[Model],
        forward: Callable[[Any], Model | None],
        backward: Callable[[Any], Model | None] | None = None,
        *,
        name: str | None = None,
        filter: Mapping[str, Any] | None = None,
        backward_filter: Mapping[str, Any] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        single_transaction: bool = False,
        description: str = "",
    ) -> None:
        from anyodm.core.arguments import check_model_class

        check_model_class(old, "ModelMigration")
        check_model_class(new, "ModelMigration")
        source, target = old.__anyodm__.collection, new.__anyodm__.collection
        if source != target:
            raise ValueError(
                f"ModelMigration {name!r}: {old.__name__} is stored in {source!r} but "
                f"{new.__name__} in {target!r}; give both models the same collection "
                'with model_config = {"collection": ...}'
            )
        super().__init__(
            name=name,
            collection=source,
            filter=filter,
            backward_filter=backward_filter,
            batch_size=batch_size,
            single_transaction=single_transaction,
            description=description,
        )
        self.old: type[Model] = old
        self.new: type[Model] = new
        self.forward: Callable[[Any], Model | None] = forward
        self.backward: Callable[[Any], Model | None] | None = backward

    @property
    def reversible(self) -> bool:
        return self.backward is not None

    def _converter(self, direction: Direction) -> Convert:
        source, target = (self.old, self.new) if direction == "up" else (self.new, self.old)
        step = self.forward if direction == "up" else self.backward
        if step is None:
            raise MigrationError(f"migration {self._name!r} has no backward step")

        def convert(doc: Doc) -> Doc | None:
            result = step(source.model_validate_doc(doc))
            if result is None:
                return None
            if not isinstance(result, target):
                raise TypeError(
                    f"{'forward' if direction == 'up' else 'backward'} returned a "
                    f"{type(result).__name__}, not a {target.__name__} (or None)"
                )
            return result.model_dump_doc()

        return convert


class DocumentMigration(_ReplacingMigration):
    """Rewrite each raw document with ``forward(doc) -> new doc`` (``None`` deletes it);
    ``backward`` undoes it.  The ``_id`` is kept."""

    def __init__(
        self,
        collection: str | type[Model],
        forward: Convert,
        backward: Convert | None = None,
        *,
        name: str | None = None,
        filter: Mapping[str, Any] | None = None,
        backward_filter: Mapping[str, Any] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        single_transaction: bool = False,
        description: str = "",
    ) -> None:
        super().__init__(
            name=name,
            collection=_collection_name(collection),
            filter=filter,
            backward_filter=backward_filter,
            batch_size=batch_size,
            single_transaction=single_transaction,
            description=description,
        )
        self.forward: Convert = forward
        self.backward: Convert | None = backward

    @property
    def reversible(self) -> bool:
        return self.backward is not None

    def _converter(self, direction: Direction) -> Convert:
        step = self.forward if direction == "up" else self.backward
        if step is None:
            raise MigrationError(f"migration {self._name!r} has no backward step")
        return step


Update = Mapping[str, Any] | Sequence[Mapping[str, Any]]


class UpdateMigration(Migration):
    """Apply ``forward`` to every document: an update document of ``$``-operators
    (``{"$rename": {"title": "name"}}``) or an aggregation pipeline (a list of stages,
    ``[{"$set": {"pages": {"$toInt": "$pages"}}}]``); ``backward`` undoes it."""

    def __init__(
        self,
        collection: str | type[Model],
        forward: Update,
        backward: Update | None = None,
        *,
        name: str | None = None,
        filter: Mapping[str, Any] | None = None,
        backward_filter: Mapping[str, Any] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        single_transaction: bool = False,
        description: str = "",
    ) -> None:
        super().__init__(
            name=name,
            collection=_collection_name(collection),
            filter=filter,
            backward_filter=backward_filter,
            batch_size=batch_size,
            single_transaction=single_transaction,
            description=description,
        )
        self.forward: Update = _check_update(forward, name, "forward")
        self.backward: Update | None = (
            None if backward is None else _check_update(backward, name, "backward")
        )

    @property
    def reversible(self) -> bool:
        return self.backward is not None

    def apply(
        self,
        direction: Direction,
        collection: Collection[Any],
        docs: Sequence[Doc],
        session: ClientSession | None,
    ) -> None:
        update = self.forward if direction == "up" else self.backward
        if update is None:
            raise MigrationError(f"migration {self._name!r} has no backward step")
        if docs:
            # One update per document, each found by its _id.
            writes = [UpdateOne({"_id": doc["_id"]}, update) for doc in docs]
            collection.bulk_write(writes, ordered=True, session=session)


def _check_update(update: Any, name: str | None, which: str) -> Any:
    if isinstance(update, Mapping):
        if not update or not all(isinstance(k, str) and k.startswith("$") for k in update):
            raise ValueError(
                f"UpdateMigration {name!r}: {which} must be an update of $-operators "
                f"or a pipeline (a list of stages), got {update!r}"
            )
        return dict(update)
    if isinstance(update, Sequence) and not isinstance(update, (str, bytes)):
        stages = list(update)
        if not stages or not all(isinstance(s, Mapping) and len(s) == 1 for s in stages):
            raise ValueError(
                f"UpdateMigration {name!r}: {which} pipeline must be a non-empty list of "
                f"stages (one-key dicts), got {update!r}"
            )
        return [dict(s) for s in stages]
    raise TypeError(
        f"UpdateMigration {name!r}: {which} must be a dict of $-operators or a list of "
        f"pipeline stages, got {type(update).__name__}"
    )


def _collection_name(collection: str | type[Model]) -> str:
    if isinstance(collection, str):
        return collection
    from anyodm.core.arguments import check_model_class

    return check_model_class(collection, "migration").__anyodm__.collection
