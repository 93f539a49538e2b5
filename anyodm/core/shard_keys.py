"""Shard-key-aware writes: every write of one instance names where its document lives.

For a model with ``model_config["shard_key"]``, the filter of each save (update,
replacement, upsert, revision-checked write) and delete of one instance holds the full
shard key, stored key names and values as stored, so that ``mongos`` sends it to one
shard (an upsert needs it). The values are those of the document the instance was
loaded as or last saved as (its saved state: where the document is), or the instance's
own for a document not known to be stored.

Changing a shard key value of a stored document moves it to another shard, which
MongoDB does only inside a transaction (or a retryable write): a save that would change
one outside a transaction is refused before anything is sent; inside one, the filter
holds the old values and the update the new ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bson.codec_options import CodecOptions
from pymongo.client_session import ClientSession

from anyodm.errors import InvalidOperationError
from anyodm.model.tracking import SavedState, StoredDocument, stored_values

if TYPE_CHECKING:
    from anyodm.model import Model
    from anyodm.model.shard_key import ShardKey

__all__ = ["shard_key_of", "where_instance_lives", "where_saved"]


def shard_key_of(model: type[Model]) -> ShardKey | None:
    """The model's declared shard key, or None."""
    shard_key: ShardKey | None = model.__anyodm__.shard_key
    return shard_key


def where_instance_lives(
    instance: Model,
    shard_key: ShardKey,
    state: SavedState,
    doc: Mapping[str, Any] | None,
    codec_options: CodecOptions[Any],
) -> dict[str, Any]:
    """The shard key part of a write's filter: the values of the stored document
    ``state`` (where the document is), or, for a document not known to be stored, those
    of ``doc`` (the instance's dumped document; dumped here if None)."""
    if isinstance(state, StoredDocument):
        return stored_values(state, shard_key.keys, codec_options)
    if doc is None:
        doc = instance.model_dump_doc()
    return {key: doc.get(key) for key in shard_key.keys}


def where_saved(
    instance: Model,
    shard_key: ShardKey,
    state: StoredDocument,
    changes: Mapping[str, Any],
    session: ClientSession | None,
    codec_options: CodecOptions[Any],
) -> dict[str, Any]:
    """The shard key part of the filter of an update of ``instance``'s stored document
    (``state``); ``InvalidOperationError`` naming the model and the field, before
    anything is sent, if ``changes`` change a shard key value outside a transaction."""
    changed = [
        field for field, key in zip(shard_key.fields, shard_key.keys, strict=True) if key in changes
    ]
    if changed and (session is None or not session.in_transaction):
        model = type(instance).__name__
        raise InvalidOperationError(
            f"{model}.{changed[0]}: the save changes a shard key value of a stored "
            f"{model} (primary key {instance.__anyodm_pk_value__!r}), which moves its "
            "document to another shard; MongoDB does that only inside a transaction: save "
            "it in engine.transaction() (nothing was sent)"
        )
    return stored_values(state, shard_key.keys, codec_options)
