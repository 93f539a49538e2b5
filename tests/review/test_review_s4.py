"""Adversarial review (s4) of the saved state kept as BSON bytes (tracking.StoredDocument,
plan_save; operations._write_of/_Write/save_all/_write_grouped; pending's ledger).

The first part holds the findings (each failed on the reviewed code, and passes since
the fix; the last two pin the behaviour chosen for a design question the review raised).
The second part holds attacks that did not break it, kept as guards.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal
from typing import Any

import anyio
import bson
import pytest
from bson import SON, Int64
from bson.binary import Binary, UuidRepresentation
from bson.codec_options import CodecOptions
from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import AutoReconnect, OperationFailure

from anyodm import EmbeddedModel, Engine, Field, Model, Reference, SyncEngine, update
from anyodm.errors import DuplicateKeyError

# -- models ------------------------------------------------------------------------------


class Note(Model):
    title: str
    body: str = ""


class Account(Model):
    email: str = Field(unique=True)
    name: str = ""


class Device(Model):
    key: uuid.UUID = Field(primary_field=True, default_factory=uuid.uuid4)
    name: str
    room: str = ""


class LockedDevice(Model):
    model_config = {"optimistic_concurrency": True}  # noqa: RUF012
    key: uuid.UUID = Field(primary_field=True, default_factory=uuid.uuid4)
    name: str
    room: str = ""


class Ticket(Model):
    title: str
    owner: uuid.UUID
    labels: list[str] = []  # noqa: RUF012


class Loose(Model):
    model_config = {"extra": "allow"}  # noqa: RUF012
    name: str


class Task(Model):
    title: str
    status: str = "new"


class Editor(Model):
    name: str


class Book(Model):
    title: str
    editor: Editor | None = Reference(default=None)


class Point(EmbeddedModel):
    x: float
    tags: list[str] = []  # noqa: RUF012
    meta: dict[str, Any] = {}  # noqa: RUF012


class Deep(Model):
    name: str = "d"
    anything: Any = None
    nested: dict[str, Any] = {}  # noqa: RUF012
    points: list[Point] = []  # noqa: RUF012
    when: dt.datetime | None = None
    amount: Decimal | None = None
    big: Int64 | None = None
    flags: set[str] = set()  # noqa: RUF012
    pair: tuple[int, ...] = ()


def coll(engine: SyncEngine, model: type[Model]) -> Any:
    return engine.get_collection(model)


def stored(engine: SyncEngine, model: type[Model], key: Any) -> Any:
    return coll(engine, model).find_one({"_id": key})


# =========================================================================================
# Findings: each of these failed on the reviewed code
# =========================================================================================


def test_save_all_recreates_a_deleted_document_beside_a_matching_upsert(
    anyodm_sync_engine: SyncEngine,
) -> None:
    """A user save_all()s a loaded, edited note (deleted elsewhere meanwhile) together
    with a note saved under a chosen, existing key: the edited note is never stored again,
    yet anyodm remembers it as stored (its later saves send only diffs, or nothing)."""
    engine = anyodm_sync_engine
    a, b = engine.save_all([Note(title="a"), Note(title="b")])
    loaded = engine.find_one(Note, Note.id == a.id)
    assert loaded is not None
    coll(engine, Note).delete_one({"_id": a.id})
    loaded.title = "a edited"
    again = Note(id=b.id, title="b again")  # a chosen key: an upsert that matches
    engine.save_all([loaded, again])
    assert stored(engine, Note, b.id) == again.model_dump_doc()
    assert stored(engine, Note, a.id) == loaded.model_dump_doc()


def test_save_all_failing_on_a_duplicate_does_not_claim_a_deleted_document_stored(
    anyodm_sync_engine: SyncEngine,
) -> None:
    """save_all([edited (deleted elsewhere), clashing]) raises DuplicateKeyError; the user
    fixes the clash and calls save_all again: the edited document is never written back
    (it was recorded as saved though its update matched nothing)."""
    engine = anyodm_sync_engine
    engine.configure_database([Account])
    a = engine.save(Account(email="a@x"))
    engine.save(Account(email="taken@x"))
    loaded = engine.find_one(Account, Account.id == a.id)
    assert loaded is not None
    coll(engine, Account).delete_one({"_id": a.id})
    loaded.name = "edited"
    clash = Account(email="taken@x")
    with pytest.raises(DuplicateKeyError):
        engine.save_all([loaded, clash])
    clash.email = "free@x"
    engine.save_all([loaded, clash])
    assert stored(engine, Account, clash.id) == clash.model_dump_doc()
    assert stored(engine, Account, a.id) == loaded.model_dump_doc()


def test_uuid_primary_key_two_writers_both_survive(anyodm_sync_engine: SyncEngine) -> None:
    """Two users load one Device (UUID primary key) and each changes another field: the
    second save sends every field as an upsert (its dumped _id, a Binary, never compares
    equal to the decoded UUID), so the first user's change is overwritten."""
    engine = anyodm_sync_engine
    device = engine.save(Device(name="n", room="r"))
    first = engine.find_one(Device, Device.key == device.key)
    second = engine.find_one(Device, Device.key == device.key)
    assert first is not None
    assert second is not None
    first.name = "renamed"
    engine.save(first)
    second.room = "moved"
    engine.save(second)
    key = device.model_dump_doc()["_id"]
    assert stored(engine, Device, key) == {"_id": key, "name": "renamed", "room": "moved"}


def test_uuid_primary_key_revised_model_loaded_instance_can_be_saved(
    anyodm_sync_engine: SyncEngine,
) -> None:
    """With optimistic_concurrency and a UUID primary key, a user loads a device, renames
    it and saves: RevisionConflictError, though nobody else wrote (the save is planned as
    'another key', an unguarded upsert that meets the existing document)."""
    engine = anyodm_sync_engine
    device = engine.save(LockedDevice(name="n"))
    loaded = engine.find_one(LockedDevice, LockedDevice.key == device.key)
    assert loaded is not None
    loaded.name = "renamed"
    engine.save(loaded)
    key = device.model_dump_doc()["_id"]
    assert stored(engine, LockedDevice, key)["name"] == "renamed"


def test_uuid_primary_key_unchanged_instance_in_another_key_order_sends_nothing(
    anyodm_sync_engine: SyncEngine,
) -> None:
    """A Device document was written with its keys in another order (another program, or
    a field added later by a migration's $set). User A renames it; user B, who loaded it
    too and changed nothing, calls save_all on it: every stale field is sent again as an
    upsert, undoing A's rename (an unchanged instance must send nothing)."""
    engine = anyodm_sync_engine
    key = uuid.uuid4()
    stored_key = Binary.from_uuid(key)
    coll(engine, Device).insert_one({"_id": stored_key, "room": "r", "name": "n"})
    a = engine.find_one(Device, Device.key == key)
    b = engine.find_one(Device, Device.key == key)
    assert a is not None
    assert b is not None
    a.name = "renamed"
    engine.save(a)
    engine.save_all([b])
    assert stored(engine, Device, stored_key)["name"] == "renamed"


def test_uuid_field_is_not_rewritten_by_an_unrelated_save(anyodm_sync_engine: SyncEngine) -> None:
    """User A reassigns a ticket's owner (a UUID field); user B, who loaded it before,
    adds a label: B's save also $sets its stale owner (the dumped Binary and the decoded
    UUID never compare equal once another non-plain field changed): A's change is lost."""
    engine = anyodm_sync_engine
    old, new = uuid.uuid4(), uuid.uuid4()
    ticket = engine.save(Ticket(title="t", owner=old))
    a = engine.find_one(Ticket, Ticket.id == ticket.id)
    b = engine.find_one(Ticket, Ticket.id == ticket.id)
    assert a is not None
    assert b is not None
    a.owner = new
    engine.save(a)
    b.labels.append("bug")
    engine.save(b)
    found = engine.find_one(Ticket, Ticket.id == ticket.id)
    assert found is not None
    assert found.labels == ["bug"]
    assert found.owner == new


def test_tuple_field_is_not_rewritten_by_an_unrelated_save(anyodm_sync_engine: SyncEngine) -> None:
    """Same with a tuple field (dumped as a tuple, decoded as a list): user B changes
    ``nested``, and its save also sends its stale ``pair``, undoing user A's change."""
    engine = anyodm_sync_engine
    doc = engine.save(Deep(pair=(1, 2)))
    a = engine.find_one(Deep, Deep.id == doc.id)
    b = engine.find_one(Deep, Deep.id == doc.id)
    assert a is not None
    assert b is not None
    a.pair = (3, 4)
    engine.save(a)
    b.nested["k"] = 1
    engine.save(b)
    raw = stored(engine, Deep, doc.id)
    assert raw["nested"] == {"k": 1}
    assert raw["pair"] == [3, 4]


def test_save_all_of_two_copies_of_a_deleted_document_keeps_both_changes(
    anyodm_sync_engine: SyncEngine,
) -> None:
    """Two instances of one note each change another field; the note was deleted
    elsewhere; save_all([a, copy]) stores it again from ``a`` only: the copy's change is
    lost, yet the copy is remembered as stored with it (its next saves send nothing).
    (Two separate save() calls keep both.)"""
    engine = anyodm_sync_engine
    note = engine.save(Note(title="t", body="b"))
    a = engine.find_one(Note, Note.id == note.id)
    assert a is not None
    copy = a.model_copy(deep=True)
    coll(engine, Note).delete_one({"_id": note.id})
    a.title = "t2"
    copy.body = "b2"
    engine.save_all([a, copy])
    engine.save(copy)  # nothing more to send, says anyodm
    assert stored(engine, Note, note.id) == {"_id": note.id, "title": "t2", "body": "b2"}


def test_extra_field_removed_after_an_unknown_outcome_is_removed(
    anyodm_sync_engine: SyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user removes an extra field (extra="allow") and saves; the connection drops
    before the server gets the update (outcome unknown). The user saves again, it
    succeeds, but the removed field stays in the database: the 'whole document' upsert
    sent when nothing is known stored is a $set, which never unsets anything."""
    engine = anyodm_sync_engine
    loose = engine.save(Loose(name="l", legacy=1))  # type: ignore[call-arg]
    loaded = engine.find_one(Loose, Loose.id == loose.id)
    assert loaded is not None
    del loaded.legacy
    real = Collection.update_one
    calls = 0

    def dropped(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise AutoReconnect("connection closed")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "update_one", dropped)
    with pytest.raises(Exception):  # noqa: B017 - the connection failure, however wrapped
        engine.save(loaded)
    engine.save(loaded)
    assert stored(engine, Loose, loose.id) == loaded.model_dump_doc()


def test_extra_field_removed_from_a_before_image_is_removed(
    anyodm_sync_engine: SyncEngine,
) -> None:
    """find_one_and_update(return_updated=False) gives the before-image (nothing known
    stored); the user removes an extra field from it and saves: the field survives."""
    engine = anyodm_sync_engine
    loose = engine.save(Loose(name="l", legacy=1))  # type: ignore[call-arg]
    before = engine.find_one_and_update(
        Loose, Loose.id == loose.id, update=update.set(Loose.name, "m"), return_updated=False
    )
    assert before is not None
    del before.legacy
    engine.save(before)
    assert stored(engine, Loose, loose.id) == before.model_dump_doc()


def test_a_default_filled_in_on_load_is_written_by_the_next_save(
    anyodm_sync_engine: SyncEngine,
) -> None:
    """A field was added to the model (with a default); old documents lack it. A save of
    a loaded instance writes it, although it was not assigned: its stored form (missing)
    differs from the instance's (S10: a save writes the fields whose stored form differs,
    so the stored document is what the instance says). The price, documented in
    docs/models.md: another writer's value for that field, set between this load and
    this save, is overwritten (the reviewer's attack; ODMantic would leave it)."""
    engine = anyodm_sync_engine
    coll(engine, Task).insert_one({"title": "old doc"})
    a = engine.find_one(Task)
    b = engine.find_one(Task)
    assert a is not None
    assert b is not None
    a.status = "done"
    engine.save(a)
    b.title = "renamed"
    engine.save(b)
    assert stored(engine, Task, a.id) == b.model_dump_doc()


def test_a_dangling_reference_is_cleared_by_the_next_save(
    anyodm_sync_engine: SyncEngine,
) -> None:
    """A book's editor was deleted: the loaded book reads None, and its next save stores
    None in place of the key that pointed at nothing (its stored form differs), as an
    assignment of None would. The price, documented in docs/models.md: another writer's
    new editor, saved between this load and this save, is overwritten."""
    engine = anyodm_sync_engine
    editor = engine.save(Editor(name="e"))
    book = engine.save(Book(title="t", editor=editor))
    coll(engine, Editor).delete_one({"_id": editor.id})
    a = engine.find_one(Book, Book.id == book.id)
    assert a is not None
    assert a.editor is None
    a.title = "t2"
    engine.save(a)
    assert stored(engine, Book, book.id) == {"_id": book.id, "title": "t2", "editor": None}


# =========================================================================================
# Guards: attacks that did not break it (these pass)
# =========================================================================================

_STANDARD = CodecOptions(uuid_representation=UuidRepresentation.STANDARD)


def same_stored(raw: Any, dumped: dict[str, Any]) -> bool:
    """The stored document and ``model_dump_doc()`` have the same fields, each with the
    same BSON encoding (a tuple and a list, a UTC-aware and a naive datetime, a UUID
    binary and a UUID store the same)."""
    if raw is None or set(raw) != set(dumped):
        return False
    return all(
        bson.encode({"v": raw[k]}, codec_options=_STANDARD)
        == bson.encode({"v": dumped[k]}, codec_options=_STANDARD)
        for k in dumped
    )


def test_guard_deep_in_place_mutations_are_saved(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    given = {"a": [{"b": {"c": [1]}}]}
    doc = engine.save(
        Deep(
            anything=given,
            nested={"x": [{"y": {"z": 1}}]},
            points=[Point(x=1.0, tags=["t"], meta={"m": [1]})],
            flags={"a"},
            pair=(1, 2),
        )
    )
    given["a"].append("caller's object mutated after the save")
    doc.anything["a"].append("instance mutated in place")  # shares ``given`` (an Any)
    engine.save(doc)
    assert same_stored(stored(engine, Deep, doc.id), doc.model_dump_doc())
    loaded = engine.find_one(Deep, Deep.id == doc.id)
    assert loaded is not None
    loaded.anything["a"][0]["b"]["c"].append(2)
    loaded.nested["x"][0]["y"]["z"] = 2
    loaded.points[0].tags.append("u")
    loaded.points[0].meta["m"].append(2)
    loaded.flags.add("b")
    engine.save(loaded)
    assert same_stored(stored(engine, Deep, doc.id), loaded.model_dump_doc())
    loaded.points[0].meta["m"].append(3)
    engine.save(loaded)
    assert stored(engine, Deep, doc.id)["points"][0]["meta"]["m"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (0.0, -0.0),
        (1, 1.0),
        (1.0, 1),
        (True, 1),
        (Int64(1), 1),
        (float("nan"), 0.0),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        ([{"a": 1, "b": 2}], [{"b": 2, "a": 1}]),
    ],
    ids=[
        "negzero",
        "int-float",
        "float-int",
        "bool-int",
        "int64-int",
        "nan",
        "key-order",
        "nested-order",
    ],
)
def test_guard_any_values_that_compare_equal_but_store_differently(
    anyodm_sync_engine: SyncEngine, old: Any, new: Any
) -> None:
    engine = anyodm_sync_engine
    doc = engine.save(Deep(anything=old))
    loaded = engine.find_one(Deep, Deep.id == doc.id)
    assert loaded is not None
    loaded.anything = new
    engine.save(loaded)
    raw = coll(engine, Deep).find_raw_batches({"_id": doc.id})
    [batch] = list(raw)
    [got] = bson.decode_all(batch)
    assert bson.encode({"v": got["anything"]}) == bson.encode({"v": new})


def test_guard_datetimes_decimal_int64(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    tz = dt.timezone(dt.timedelta(hours=2))
    when = dt.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=tz)
    doc = engine.save(Deep(when=when, amount=Decimal("1.10"), big=Int64(5)))
    assert same_stored(stored(engine, Deep, doc.id), doc.model_dump_doc())
    loaded = engine.find_one(Deep, Deep.id == doc.id)
    assert loaded is not None
    loaded.when = loaded.when.replace(microsecond=123999)  # the same millisecond
    loaded.amount = Decimal("2.50")
    loaded.big = Int64(6)
    engine.save(loaded)
    raw = stored(engine, Deep, doc.id)
    assert same_stored(raw, loaded.model_dump_doc())
    assert str(raw["amount"]) == "2.50"
    assert type(raw["big"]) is Int64
    loaded.when = loaded.when.replace(microsecond=124000)
    engine.save(loaded)
    assert stored(engine, Deep, doc.id)["when"].microsecond == 124000


def test_guard_save_all_with_duplicates_and_copies(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    note = engine.save(Note(title="t", body="b"))
    a = engine.find_one(Note, Note.id == note.id)
    assert a is not None
    copy = a.model_copy(deep=True)
    a.title = "t2"
    copy.body = "b2"
    engine.save_all([a, copy, a, copy])
    assert stored(engine, Note, note.id) == {"_id": note.id, "title": "t2", "body": "b2"}


def test_guard_two_saves_of_copies_of_a_deleted_document(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    note = engine.save(Note(title="t", body="b"))
    a = engine.find_one(Note, Note.id == note.id)
    assert a is not None
    copy = a.model_copy(deep=True)
    coll(engine, Note).delete_one({"_id": note.id})
    a.title = "t2"
    copy.body = "b2"
    engine.save(a)
    engine.save(copy)
    assert stored(engine, Note, note.id) == {"_id": note.id, "title": "t2", "body": "b2"}


def test_guard_embedded_primary_key_two_writers(anyodm_sync_engine: SyncEngine) -> None:
    from tests.migration.test_primary_keys import ByEmbedded, Key

    engine = anyodm_sync_engine
    item = engine.save(ByEmbedded(key=Key(region="eu", number=7), name="m"))
    a = engine.find_one(ByEmbedded)
    b = engine.find_one(ByEmbedded)
    assert a is not None
    assert b is not None
    a.name = "a"
    engine.save(a)
    b.key.region  # noqa: B018 - read only
    engine.save(b)  # nothing changed: nothing sent
    assert coll(engine, ByEmbedded).find_one()["name"] == "a"
    assert item.key == a.key


def test_guard_find_one_and_delete_then_save(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    note = engine.save(Note(title="t"))
    gone = engine.find_one_and_delete(Note, Note.id == note.id)
    assert gone is not None
    engine.save(gone)
    assert stored(engine, Note, note.id) == gone.model_dump_doc()


def test_guard_find_one_and_update_returned_then_save(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    note = engine.save(Note(title="t", body="b"))
    after = engine.find_one_and_update(
        Note, Note.id == note.id, update=update.set(Note.body, "server")
    )
    assert after is not None
    assert after.body == "server"
    other = engine.find_one(Note, Note.id == note.id)
    assert other is not None
    other.body = "other writer"
    engine.save(other)
    after.title = "t2"
    engine.save(after)
    assert stored(engine, Note, note.id) == {"_id": note.id, "title": "t2", "body": "other writer"}


def test_guard_aggregate_into_then_save(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    note = engine.save(Note(title="t", body="b"))
    [agg] = list(engine.aggregate(Note, [{"$match": {}}], into=Note))
    coll(engine, Note).update_one({"_id": note.id}, {"$set": {"body": "other"}})
    engine.save(agg)  # nothing known stored: every field
    assert stored(engine, Note, note.id) == agg.model_dump_doc()


def test_guard_polymorphic_deleted_elsewhere_is_stored_again(
    anyodm_sync_engine: SyncEngine,
) -> None:
    from tests.references.family import SportsCar, Vehicle

    engine = anyodm_sync_engine
    car = engine.save(SportsCar(name="s"))
    loaded = engine.find_one(Vehicle, Vehicle.id == car.id)
    assert isinstance(loaded, SportsCar)
    coll(engine, Vehicle).delete_one({"_id": car.id})
    loaded.top_speed = 300
    engine.save_all([loaded])
    assert stored(engine, Vehicle, car.id) == loaded.model_dump_doc()


def test_guard_back_referenced_instance_saves_only_its_change(
    anyodm_sync_engine: SyncEngine,
) -> None:
    from tests.references.models import Essay, Writer

    engine = anyodm_sync_engine
    writer = engine.save(Writer(name="w"))
    essay = engine.save(Essay(title="e", writer=writer))
    loaded = engine.find_one(Writer, Writer.id == writer.id)
    assert loaded is not None
    [from_back] = loaded.essays
    coll(engine, Essay).update_one({"_id": essay.id}, {"$set": {"coauthors": [writer.id]}})
    from_back.title = "e2"
    engine.save(from_back)
    assert stored(engine, Essay, essay.id) == {
        "_id": essay.id,
        "title": "e2",
        "writer": writer.id,
        "coauthors": [writer.id],
    }


def test_guard_optional_reference_list_with_a_missing_target(
    anyodm_sync_engine: SyncEngine,
) -> None:
    from tests.references.models import Anthology, Author

    engine = anyodm_sync_engine
    a, b = engine.save_all([Author(name="a"), Author(name="b")])
    anthology = engine.save(Anthology(title="t", contributors=[a, b]))
    coll(engine, Author).delete_one({"_id": b.id})
    loaded = engine.find_one(Anthology, Anthology.id == anthology.id)
    assert loaded is not None
    loaded.contributors[0].name = "a2"  # a change of the referenced author
    engine.save(loaded)
    assert coll(engine, Author).find_one({"_id": a.id})["name"] == "a2"


@pytest.mark.parametrize("representation", ["standard", "pythonLegacy", "unspecified"])
def test_guard_client_codec_options(
    mongodb_uri: str, mongo_database: Any, representation: str
) -> None:
    client: MongoClient[Any] = MongoClient(
        mongodb_uri, tz_aware=True, document_class=SON, uuidRepresentation=representation
    )
    try:
        engine = SyncEngine(client=client, database=mongo_database.name)
        owner = uuid.uuid4()
        ticket = engine.save(Ticket(title="t", owner=owner))
        device = engine.save(Device(name="n"))
        loaded = engine.find_one(Ticket, Ticket.id == ticket.id)
        assert loaded is not None
        assert loaded.owner == owner
        loaded.labels.append("x")
        engine.save(loaded)
        assert same_stored(stored(engine, Ticket, ticket.id), loaded.model_dump_doc())
        found = engine.find_one(Device, Device.key == device.key)
        assert found is not None
        key = device.model_dump_doc()["_id"]
        assert same_stored(stored(engine, Device, key), found.model_dump_doc())
        book = engine.save(Book(title="b", editor=Editor(name="e")))
        again = engine.find_one(Book, Book.id == book.id)
        assert again is not None
        assert again.editor is not None
        again.editor.name = "e2"
        engine.save(again)
        assert stored(engine, Editor, book.editor.id)["name"] == "e2"  # type: ignore[union-attr]
    finally:
        client.close()


async def test_guard_transaction_abort_restores(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    note = await engine.save(Note(title="t"))
    gone = await engine.save(Note(title="deleted in tx"))
    fresh = Note(title="fresh")
    with pytest.raises(RuntimeError):
        async with engine.transaction() as tx:
            note.title = "in tx"
            await tx.save(note)
            await tx.save(fresh)
            await tx.delete(gone)
            raise RuntimeError
    gone.body = "still there"
    await engine.save(note)
    await engine.save(fresh)
    await engine.save(gone)
    c = engine.get_collection(Note)
    assert c.find_one({"_id": note.id}) == note.model_dump_doc()
    assert c.find_one({"_id": fresh.id}) == fresh.model_dump_doc()
    assert c.find_one({"_id": gone.id}) == gone.model_dump_doc()


async def test_guard_cancelled_transaction_restores(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    note = await engine.save(Note(title="t"))
    with anyio.move_on_after(0.5):
        async with engine.transaction() as tx:
            note.title = "in tx"
            await tx.save(note)
            await anyio.sleep(5)
    await engine.save(note)
    assert engine.get_collection(Note).find_one({"_id": note.id}) == note.model_dump_doc()


async def test_guard_with_transaction_retry_sends_whole(
    anyodm_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = anyodm_engine
    note = await engine.save(Note(title="t"))
    fresh = Book(title="fresh", editor=Editor(name="new editor"))
    attempts = commits = 0
    real_commit = ClientSession.commit_transaction

    def flaky_commit(self: ClientSession) -> None:
        nonlocal commits
        commits += 1
        if commits == 1:  # as a server-side abort: the transaction is over
            self.abort_transaction()
            raise OperationFailure(
                "write conflict", code=112, details={"errorLabels": ["TransientTransactionError"]}
            )
        real_commit(self)

    monkeypatch.setattr(ClientSession, "commit_transaction", flaky_commit)

    async def work(tx: Any) -> None:
        nonlocal attempts
        attempts += 1
        note.title = "changed"  # the same change each attempt
        await tx.save(note)
        await tx.save(fresh)

    await engine.with_transaction(work)
    assert attempts == 2
    assert engine.get_collection(Note).find_one({"_id": note.id}) == note.model_dump_doc()
    assert engine.get_collection(Book).find_one({"_id": fresh.id}) == fresh.model_dump_doc()
    assert fresh.editor is not None
    assert engine.get_collection(Editor).find_one({"_id": fresh.editor.id}) is not None


async def test_guard_concurrent_saves_of_one_instance(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    note = await engine.save(Note(title="t"))
    async with anyio.create_task_group() as tg:
        for i in range(5):
            note.body = f"b{i}"
            tg.start_soon(engine.save, note)
    note.title = "after"
    await engine.save(note)
    assert engine.get_collection(Note).find_one({"_id": note.id}) == note.model_dump_doc()


async def test_guard_change_made_while_a_save_is_in_flight_stays_modified(
    anyodm_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = anyodm_engine
    note = await engine.save(Note(title="t"))
    entered, release = threading.Event(), threading.Event()
    real = Collection.update_one

    def held(self: Any, *args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(10)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "update_one", held)
    note.title = "first"
    async with anyio.create_task_group() as tg:
        tg.start_soon(engine.save, note)
        assert await anyio.to_thread.run_sync(entered.wait, 10)
        note.body = "during the flight"
        release.set()
    monkeypatch.setattr(Collection, "update_one", real)
    await engine.save(note)
    assert engine.get_collection(Note).find_one({"_id": note.id}) == note.model_dump_doc()


def test_guard_model_update_and_lazy_fetch(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    note = engine.save(Note(title="t", body="b"))
    a = engine.find_one(Note, Note.id == note.id)
    b = engine.find_one(Note, Note.id == note.id)
    assert a is not None
    assert b is not None
    a.model_update({"title": "t2"})
    engine.save(a)
    b.model_update({"body": "b2", "unknown": 1})
    engine.save(b)
    assert stored(engine, Note, note.id) == {"_id": note.id, "title": "t2", "body": "b2"}
