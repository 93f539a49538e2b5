"""Delete rules of references: ``Reference(on_delete="deny" | "cascade" | "leave")``.

A rule applies to the documents holding the reference when their target is deleted
(``delete`` or ``remove``): deny refuses the delete with nothing deleted; cascade
deletes them too, recursively, all or nothing (in a transaction).
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any

import anyio
import pytest
from pymongo import MongoClient, monitoring
from pymongo.errors import OperationFailure

from anyodm import (
    DeleteDeniedError,
    EmbeddedModel,
    Engine,
    Field,
    Model,
    Reference,
    SyncEngine,
)
from anyodm.errors import InvalidOperationError
from anyodm.model import ODMConfigDict


class Publisher(Model):
    model_config = ODMConfigDict(collection="dr_publishers")
    name: str


class Writer(Model):
    model_config = ODMConfigDict(collection="dr_writers")
    name: str


class Novel(Model):
    model_config = ODMConfigDict(collection="dr_novels")
    title: str
    writer: Writer = Reference(on_delete="cascade")
    editor: Writer | None = Reference(default=None, on_delete="deny")
    publisher: Publisher | None = Reference(default=None, on_delete="deny")


class Review(Model):
    """Cascaded from a cascaded novel: the rules are followed recursively."""

    model_config = ODMConfigDict(collection="dr_reviews")
    novel: Novel = Reference(on_delete="cascade")


class Order(Model):
    """A deny rule reached through a cascade."""

    model_config = ODMConfigDict(collection="dr_orders")
    novel: Novel | None = Reference(default=None, on_delete="deny")


class Anthology(Model):
    model_config = ODMConfigDict(collection="dr_anthologies")
    writers: list[Writer] = Reference(on_delete="cascade")


class Credit(EmbeddedModel):
    writer: Writer = Reference(on_delete="cascade")


class Film(Model):
    model_config = ODMConfigDict(collection="dr_films")
    credits: list[Credit] = Field(default_factory=list)


class Mention(Model):
    """The default rule: the reference dangles."""

    model_config = ODMConfigDict(collection="dr_mentions")
    writer: Writer = Reference()


class Node(Model):
    """Self-references with a cascade: a cycle of documents."""

    model_config = ODMConfigDict(collection="dr_nodes")
    name: str
    parent: Node | None = Reference(default=None, lazy=True, on_delete="cascade")


class Prize(Model):
    model_config = ODMConfigDict(polymorphic=True, collection="dr_prizes")
    name: str


class WriterPrize(Prize):
    """A polymorphic subclass's own reference."""

    winner: Writer = Reference(on_delete="cascade")


COLLECTIONS = (
    "dr_publishers",
    "dr_writers",
    "dr_novels",
    "dr_reviews",
    "dr_orders",
    "dr_anthologies",
    "dr_films",
    "dr_mentions",
    "dr_nodes",
    "dr_prizes",
)


def _snapshot(engine: Any) -> dict[str, list[dict[str, Any]]]:
    database = engine.database
    return {name: list(database[name].find(sort=[("_id", 1)])) for name in COLLECTIONS}


def _counts(engine: Any) -> dict[str, int]:
    return {name: engine.database[name].count_documents({}) for name in COLLECTIONS}


async def _library(engine: Any) -> dict[str, Any]:
    """A writer referenced every way a cascade follows, and an unrelated writer."""
    writer, other = Writer(name="w"), Writer(name="other")
    novel = Novel(title="n", writer=writer)
    other_novel = Novel(title="o", writer=other)
    await engine.save_all(
        [
            novel,
            other_novel,
            Review(novel=novel),
            Review(novel=other_novel),
            Anthology(writers=[other, writer]),
            Anthology(writers=[other]),
            Film(credits=[Credit(writer=other), Credit(writer=writer)]),
            Film(credits=[Credit(writer=other)]),
            WriterPrize(name="p", winner=writer),
            Prize(name="plain"),
            Mention(writer=writer),
        ]
    )
    return {"writer": writer, "other": other, "novel": novel}


# -- cascade -----------------------------------------------------------------------------


async def test_a_cascade_deletes_the_referencing_documents_wherever_the_reference_is(
    engine: Any,
) -> None:
    library = await _library(engine)
    await engine.delete(library["writer"])
    assert _counts(engine) == {
        **dict.fromkeys(COLLECTIONS, 0),
        "dr_writers": 1,  # the other writer
        "dr_novels": 1,  # its novel
        "dr_reviews": 1,  # the review of its novel (the other one went with the novel)
        "dr_anthologies": 1,  # the one without the writer
        "dr_films": 1,  # likewise (a reference in a list of embedded models)
        "dr_prizes": 1,  # the plain prize (a subclass's reference)
        "dr_mentions": 1,  # "leave": the reference dangles
    }
    assert await engine.find_one(Writer) == library["other"]


async def test_remove_applies_the_rules_to_every_matching_document(engine: Any) -> None:
    await _library(engine)
    assert await engine.remove(Writer, Writer.name == "w") == 1
    assert _counts(engine)["dr_novels"] == 1
    assert await engine.remove(Writer) == 1
    counts = _counts(engine)
    assert counts["dr_novels"] == counts["dr_reviews"] == counts["dr_anthologies"] == 0
    assert counts["dr_mentions"] == 1
    assert await engine.remove(Writer) == 0


async def test_remove_just_one(engine: Any) -> None:
    await _library(engine)
    assert await engine.remove(Writer, just_one=True) == 1
    assert _counts(engine)["dr_writers"] == 1
    assert _counts(engine)["dr_novels"] == 1


async def test_a_cycle_of_cascades_ends(engine: Any) -> None:
    a, b, c = Node(name="a"), Node(name="b"), Node(name="c")
    b.parent, c.parent = a, b
    await engine.save_all([a, b, c])
    a.parent = c  # a -> c -> b -> a
    await engine.save(a)
    outside = Node(name="outside")
    await engine.save(outside)
    await engine.delete(b)
    assert [node.name for node in await engine.find(Node)] == ["outside"]


# -- deny --------------------------------------------------------------------------------


async def test_deny_refuses_and_deletes_nothing(engine: Any) -> None:
    publisher = Publisher(name="p")
    await engine.save_all(
        [Novel(title=str(i), writer=Writer(name="w"), publisher=publisher) for i in range(2)]
    )
    before = _snapshot(engine)
    with pytest.raises(DeleteDeniedError) as caught:
        await engine.delete(publisher)
    error = caught.value
    assert (error.model, error.referencing_model, error.field, error.count) == (
        Publisher,
        Novel,
        "publisher",
        2,
    )
    assert "2 Novel documents still reference it through Novel.publisher" in str(error)
    with pytest.raises(DeleteDeniedError):
        await engine.remove(Publisher)
    assert _snapshot(engine) == before


async def test_a_deny_reached_through_a_cascade_refuses_the_whole_delete(engine: Any) -> None:
    library = await _library(engine)
    await engine.save(Order(novel=library["novel"]))
    before = _snapshot(engine)
    with pytest.raises(DeleteDeniedError, match=r"delete of Novel refused: 1 Order document"):
        await engine.delete(library["writer"])
    assert _snapshot(engine) == before


async def test_a_document_the_cascade_deletes_denies_nothing(engine: Any) -> None:
    writer, editor = Writer(name="w"), Writer(name="e")
    both = Novel(title="written and edited", writer=writer, editor=writer)
    edited = Novel(title="edited by another", writer=editor, editor=writer)
    await engine.save_all([both, edited])
    with pytest.raises(DeleteDeniedError, match=r"through Novel\.editor"):
        await engine.delete(writer)  # it edits a novel it did not write
    await engine.delete(edited)
    await engine.delete(writer)  # its own novel goes with it: no denial
    assert await engine.count(Novel) == 0


async def test_leave_is_the_default_and_costs_nothing(engine: Any) -> None:
    writer = Writer(name="w")
    await engine.save(Mention(writer=writer))
    await engine.delete(writer)
    assert _counts(engine)["dr_mentions"] == 1


def test_a_misspelled_rule_is_refused_at_declaration() -> None:
    with pytest.raises(TypeError, match=r"on_delete='delete'.*'leave', 'deny', 'cascade'"):
        Reference(on_delete="delete")  # type: ignore[arg-type]


def _reviews(engine: Any) -> str:
    """The namespace whose deletes a fail point stops: the last of the cascade's."""
    return f"{engine.database.name}.dr_reviews"


def _other_deletes_pass(engine: Any) -> None:
    """The fail point leaves the deletes of other collections alone."""
    assert engine.database["dr_writers"].delete_one({"_id": "none"}).deleted_count == 0


# -- all or nothing ----------------------------------------------------------------------


async def test_a_cascade_failing_in_the_middle_leaves_everything_in_place(
    engine: Any, failpoint: Any
) -> None:
    library = await _library(engine)
    before = _snapshot(engine)
    # the root and the first cascaded groups go, the reviews' delete (the last) fails
    failpoint(["delete"], error_code=2, namespace=_reviews(engine))
    _other_deletes_pass(engine)
    with pytest.raises(OperationFailure) as caught:
        await engine.delete(library["writer"])
    assert caught.value.code == 2
    assert _snapshot(engine) == before


async def test_a_cascade_in_the_callers_transaction_aborts_with_it(
    anyodm_engine: Engine,
) -> None:
    engine = anyodm_engine
    library = await _library(engine)
    before = _snapshot(engine)
    with pytest.raises(LookupError):
        async with engine.transaction() as tx:
            await engine.delete(library["writer"], session=tx)
            assert await engine.count(Novel, session=tx) == 1  # seen inside
            raise LookupError
    assert _snapshot(engine) == before
    async with engine.session() as session:
        await engine.delete(library["writer"], session=session)  # its own transaction in it
    assert _counts(engine)["dr_novels"] == 1


def test_a_sync_cascade_in_the_callers_transaction_aborts_with_it(
    anyodm_sync_engine: SyncEngine,
) -> None:
    engine = anyodm_sync_engine
    writer = Writer(name="w")
    engine.save_all([Novel(title="n", writer=writer), Anthology(writers=[writer])])
    before = _snapshot(engine)
    with pytest.raises(LookupError), engine.transaction() as tx:
        engine.delete(writer, session=tx)
        assert engine.count(Novel, session=tx) == 0
        raise LookupError
    assert _snapshot(engine) == before
    with engine.session() as session:
        engine.remove(Writer, session=session)
    assert _counts(engine)["dr_anthologies"] == 0


async def test_a_raw_driver_session_outside_a_transaction_is_refused(engine: Any) -> None:
    writer = Writer(name="w")
    await engine.save(Novel(title="n", writer=writer))
    before = _snapshot(engine)
    client = engine.database.client
    with client.start_session() as raw:
        with pytest.raises(InvalidOperationError, match=r"may cascade.*Novel\.writer"):
            await engine.delete(writer, session=raw)
        with pytest.raises(InvalidOperationError, match=r"remove\(\) of Writer"):
            await engine.remove(Writer, session=raw)
    assert _snapshot(engine) == before


# -- cancellation ------------------------------------------------------------------------


class _FirstDelete(monitoring.CommandListener):
    """Sets ``done`` once a ``delete`` command succeeded."""

    def __init__(self) -> None:
        self.done = threading.Event()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name == "delete":
            self.done.set()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def watched_engine(mongodb_uri: str, mongo_database: Any) -> Any:
    listener = _FirstDelete()
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri, event_listeners=[listener])
    engine = Engine(client=client, database=mongo_database.name)
    engine.first_delete = listener.done  # type: ignore[attr-defined]
    try:
        yield engine
    finally:
        client.close()


async def test_a_cascade_cancelled_in_the_middle_leaves_everything_in_place(
    watched_engine: Any, failpoint: Any
) -> None:
    engine = watched_engine
    library = await _library(engine)
    before = _snapshot(engine)
    failpoint(["delete"], block_ms=1000, namespace=_reviews(engine))  # the cascade waits
    scope = anyio.CancelScope()

    async def delete() -> None:
        with scope:
            await engine.delete(library["writer"])

    async with anyio.create_task_group() as tg:
        tg.start_soon(delete)
        assert await anyio.to_thread.run_sync(engine.first_delete.wait, 30)
        scope.cancel()  # the root is deleted, the cascade is under way
    assert scope.cancelled_caught
    assert _snapshot(engine) == before


async def test_a_cascade_under_a_deadline_leaves_everything_in_place(
    engine: Any, failpoint: Any
) -> None:
    if not isinstance(engine, Engine):
        pytest.skip("deadlines are the async engine's")
    library = await _library(engine)
    before = _snapshot(engine)
    failpoint(["delete"], block_ms=5000, namespace=_reviews(engine))
    _other_deletes_pass(engine)
    with anyio.move_on_after(0.5) as scope:
        await engine.delete(library["writer"])
    assert scope.cancelled_caught
    assert _snapshot(engine) == before


async def test_a_cascade_cancelled_by_asyncio_task_cancel(
    watched_engine: Any, failpoint: Any, anyio_backend: str
) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("asyncio's native cancellation")
    engine = watched_engine
    library = await _library(engine)
    before = _snapshot(engine)
    failpoint(["delete"], block_ms=1000, namespace=_reviews(engine))
    task = asyncio.ensure_future(engine.delete(library["writer"]))
    assert await anyio.to_thread.run_sync(engine.first_delete.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _snapshot(engine) == before


async def test_find_one_and_delete_refuses_a_model_with_rules(engine: Any) -> None:
    writer = Writer(name="w")
    await engine.save(Novel(title="n", writer=writer))
    with pytest.raises(InvalidOperationError, match=r'Novel\.writer \(on_delete="cascade"\)'):
        await engine.find_one_and_delete(Writer)
    assert await engine.count(Writer) == 1
    assert await engine.find_one_and_delete(Review) is None  # no rules point to it


# -- a plain (not polymorphic) subclass has a collection of its own ---------------------


class Member(Model):
    model_config = ODMConfigDict(collection="dr_members")
    handle: str = Field(primary_field=True)


class Guest(Member):
    """A plain subclass: its documents are in a collection of their own."""

    model_config = ODMConfigDict(collection="dr_guests")


class Badge(Model):
    model_config = ODMConfigDict(collection="dr_badges")
    holder: Guest = Reference(on_delete="cascade")


class Post(Model):
    model_config = ODMConfigDict(collection="dr_posts")
    author: Member = Reference(on_delete="deny")


async def test_rules_keep_to_the_collection_their_reference_points_into(engine: Any) -> None:
    """A reference to a plain subclass points into the subclass's collection: deleting
    a base's document with the same key leaves its referencing documents alone, and a
    reference to the base does not constrain the subclass's documents."""
    database = engine.database
    ann, bob, guest_ann, guest_bob = (
        Member(handle="ann"),
        Member(handle="bob"),
        Guest(handle="ann"),
        Guest(handle="bob"),
    )
    await engine.save_all([ann, guest_bob, Badge(holder=guest_ann), Post(author=bob)])
    await engine.delete(ann)  # Badge.holder points at guests: the badge stays
    assert database["dr_badges"].count_documents({}) == 1
    await engine.delete(guest_bob)  # Post.author points at members: nothing denies it
    assert database["dr_guests"].count_documents({}) == 1
    assert database["dr_posts"].count_documents({}) == 1
    await engine.delete(guest_ann)  # the badge's own target: cascaded
    assert database["dr_badges"].count_documents({}) == 0
    assert database["dr_members"].count_documents({}) == 1


# -- a polymorphic subclass that declares a reference again ------------------------------


class Award(Model):
    model_config = ODMConfigDict(polymorphic=True, collection="dr_awards")
    name: str
    winner: Writer = Reference(on_delete="cascade")


with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # pydantic: "winner" shadows Award's

    class Trophy(Award):
        """Its own rule for the field it declares again: its documents deny."""

        winner: Writer = Reference(on_delete="deny")

    class Ribbon(Award):
        """The default rule for its documents: they are left dangling."""

        winner: Writer = Reference()


class GoldTrophy(Trophy):
    """Inherits Trophy's rule."""


async def test_a_subclass_declaring_a_reference_again_follows_its_own_rule(
    engine: Any,
) -> None:
    writer = Writer(name="w")
    await engine.save_all(
        [
            Award(name="a", winner=writer),
            Ribbon(name="r", winner=writer),
            GoldTrophy(name="g", winner=writer),
        ]
    )
    with pytest.raises(DeleteDeniedError):  # the gold trophy's rule (Trophy's)
        await engine.delete(writer)
    assert engine.database["dr_awards"].count_documents({}) == 3
    await engine.remove(Award, Award.name == "g")
    await engine.delete(writer)  # Award's cascade: its own documents, not the ribbon
    assert [award.name for award in await engine.find(Award, references="keys")] == ["r"]
