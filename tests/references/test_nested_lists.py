"""Lists of references inside arrays of embedded models, whose targets have references of
their own (``Manual.parts[].reviewers[] -> Reviewer.org``): loaded in stored order by
find and find_one, saved children first, and all or nothing in a transaction."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import MongoClient

from anyodm import Engine, SyncEngine
from anyodm.errors import DocumentParsingError
from anyodm.model.tracking import changes_for_save
from tests.references.models import Manual, Org, Part, Reviewer
from tests.references.test_lists import Writes


def _manual() -> tuple[Manual, list[Reviewer], list[Org]]:
    acme, globex = Org(name="acme"), Org(name="globex")
    ann, bob, cid = (
        Reviewer(name="ann", org=acme),
        Reviewer(name="bob", org=globex),
        Reviewer(name="cid", org=acme),
    )
    manual = Manual(
        title="m",
        parts=[
            Part(title="1", reviewers=[cid, ann, bob, ann]),
            Part(title="2", reviewers=[]),
            Part(title="3", reviewers=[bob]),
        ],
    )
    return manual, [ann, bob, cid], [acme, globex]


def _names(manual: Manual) -> list[list[tuple[str, str]]]:
    return [[(r.name, r.org.name) for r in part.reviewers] for part in manual.parts]


EXPECTED = [
    [("cid", "acme"), ("ann", "acme"), ("bob", "globex"), ("ann", "acme")],
    [],
    [("bob", "globex")],
]


async def test_round_trip_in_stored_order(engine: Any) -> None:
    manual, (ann, bob, cid), _ = _manual()
    other = Manual(title="n", parts=[Part(title="x", reviewers=[bob, cid])])
    await engine.save_all([manual, other])  # the orgs and reviewers first
    raw = engine.database["manual"].find_one({"title": "m"})
    assert [part["reviewers"] for part in raw["parts"]] == [
        [cid.id, ann.id, bob.id, ann.id],
        [],
        [bob.id],
    ]
    assert engine.database["reviewer"].find_one({"_id": ann.id})["org"] == ann.org.id
    assert await engine.count(Org) == 2
    assert await engine.count(Reviewer) == 3

    found = await engine.find_one(Manual, Manual.title == "m")
    assert _names(found) == EXPECTED
    assert found == manual
    assert changes_for_save(found) == {}
    assert all(changes_for_save(r) == {} for part in found.parts for r in part.reviewers)
    assert all(changes_for_save(r.org) == {} for part in found.parts for r in part.reviewers)

    both = await engine.find(Manual, sort=Manual.title)
    assert [m.title for m in both] == ["m", "n"]
    assert _names(both[0]) == EXPECTED
    assert _names(both[1]) == [[("bob", "globex"), ("cid", "acme")]]
    assert [m.title for m in await engine.find(Manual, skip=1)] == ["n"]


async def test_changes_deep_in_the_chain_are_saved(engine: Any) -> None:
    manual, _, _ = _manual()
    await engine.save(manual)
    found = await engine.find_one(Manual)
    found.parts[0].reviewers[1].org.name = "renamed"  # ann's org, two levels down
    found.parts[1].reviewers.append(Reviewer(name="dan", org=Org(name="initech")))
    await engine.save(found)
    again = await engine.find_one(Manual)
    assert _names(again) == [
        [("cid", "renamed"), ("ann", "renamed"), ("bob", "globex"), ("ann", "renamed")],
        [("dan", "initech")],
        [("bob", "globex")],
    ]
    assert await engine.count(Org) == 3


def test_saving_cascades_children_first_one_bulk_write_per_model(
    mongodb_uri: str, mongo_database: Any
) -> None:
    writes = Writes()
    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[writes])
    try:
        engine = SyncEngine(client=client, database=mongo_database.name)
        manual, _, _ = _manual()
        engine.save(manual)
        assert writes.seen == [
            ("insert", "org", 2),
            ("insert", "reviewer", 3),
            ("insert", "manual", 1),
        ]
        writes.seen.clear()
        found = engine.find_one(Manual)
        assert found is not None
        found.parts[2].reviewers[0].org.name = "changed"
        engine.save(found)
        assert writes.seen == [("update", "org", 1)]
    finally:
        client.close()


async def test_an_aborted_transaction_saves_none_of_the_cascade(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    manual, reviewers, orgs = _manual()
    with pytest.raises(RuntimeError, match="boom"):
        async with engine.transaction() as tx:
            await tx.save(manual)
            assert _names(await tx.find_one(Manual)) == EXPECTED
            raise RuntimeError("boom")
    for name in ("org", "reviewer", "manual"):
        assert engine.database[name].count_documents({}) == 0
    assert all(changes_for_save(x) for x in [manual, *reviewers, *orgs])  # still unsaved
    async with engine.transaction() as tx:
        await tx.save(manual)
    assert _names(await engine.find_one(Manual)) == EXPECTED


async def test_in_a_session(anyodm_engine: Engine) -> None:
    manual, _, _ = _manual()
    async with anyodm_engine.session() as session:
        await session.save(manual)
        found = await session.find_one(Manual)
        assert found is not None
        assert _names(found) == EXPECTED
        assert [m.title for m in await session.find(Manual)] == ["m"]


def test_sync_transaction(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    manual, _, _ = _manual()
    with pytest.raises(RuntimeError, match="boom"), engine.transaction() as tx:
        tx.save(manual)
        raise RuntimeError("boom")
    assert engine.count(Org) == 0
    assert engine.count(Reviewer) == 0
    with engine.transaction() as tx:
        tx.save(manual)
        found = tx.find_one(Manual)
        assert found is not None
        assert _names(found) == EXPECTED
    assert engine.count(Reviewer) == 3


async def test_missing_targets_are_named_at_any_depth(engine: Any) -> None:
    manual, (ann, bob, _cid), _ = _manual()
    await engine.save(manual)
    engine.database["reviewer"].delete_one({"_id": bob.id})
    engine.database["org"].delete_one({"_id": ann.org.id})
    with pytest.raises(DocumentParsingError) as caught:
        await engine.find_one(Manual)
    message = str(caught.value)
    assert f"parts.0.reviewers.2: referenced Reviewer document {bob.id!r} not found" in message
    assert "parts.0.reviewers.1.org: referenced Org document not found" in message


def test_change_events_load_references_in_embedded_models(
    anyodm_sync_engine: SyncEngine,
) -> None:
    engine = anyodm_sync_engine
    manual, _, _ = _manual()
    with engine.watch(Manual) as changes:
        engine.save(manual)
        change = next(changes)
    assert change.document is not None
    assert _names(change.document) == EXPECTED


async def test_find_one_and_update_and_delete_load_the_chain(engine: Any) -> None:
    from anyodm import update

    manual, _, _ = _manual()
    await engine.save(manual)
    updated = await engine.find_one_and_update(
        Manual, Manual.title == "m", update=update.set(Manual.title, "u")
    )
    assert updated.title == "u"
    assert _names(updated) == EXPECTED
    assert changes_for_save(updated) == {}
    deleted = await engine.find_one_and_delete(Manual)
    assert _names(deleted) == EXPECTED
    assert await engine.count(Manual) == 0


async def test_find_one_and_update_loads_lists_of_lists_of_references(engine: Any) -> None:
    from anyodm import update
    from tests.references.models import Author, Book, Edition

    a, b = Author(name="a"), Author(name="b")
    await engine.save(
        Edition(year=1, books=[Book(title="2", authors=[b, a]), Book(title="1", authors=[])])
    )
    updated = await engine.find_one_and_update(Edition, update=update.set(Edition.year, 2))
    assert updated.year == 2
    assert [book.title for book in updated.books] == ["2", "1"]
    assert [author.name for author in updated.books[0].authors] == ["b", "a"]
    assert changes_for_save(updated.books[0]) == {}
