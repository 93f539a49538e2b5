"""Back-references over references held in embedded models, named by their dotted python
path: ``BackReference("meta.lead")`` (an embedded model's reference),
``BackReference("reviews.by")`` (a list of references in a list of embedded models)."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import BackReference, Engine, Model, SyncEngine
from anyodm.model.tracking import changes_for_save
from tests.references.models import Paper, PaperMeta, Review, Scholar


async def _papers(engine: Any) -> tuple[Scholar, Scholar, Scholar]:
    ann, bob, cid = Scholar(name="ann"), Scholar(name="bob"), Scholar(name="cid")
    await engine.save_all(
        [
            Paper(
                title="p1",
                meta=PaperMeta(lead=ann, second=bob),
                reviews=[Review(grade=1, by=[bob, cid]), Review(grade=2, by=[cid])],
            ),
            Paper(title="p2", meta=PaperMeta(lead=bob), reviews=[Review(grade=3, by=[ann])]),
            Paper(title="p3", meta=PaperMeta(lead=ann), extra=PaperMeta(lead=cid, second=ann)),
        ]
    )
    return ann, bob, cid


def _titles(papers: list[Paper]) -> list[str]:
    return [paper.title for paper in papers]


async def test_back_references_through_embedded_models(engine: Any) -> None:
    await _papers(engine)
    raw = engine.database["paper"].find_one({"title": "p1"})
    assert set(raw["reviews"][0]) == {"grade", "people"}  # stored keys are followed
    ann, bob, cid = await engine.find(Scholar, sort=Scholar.name)
    assert _titles(ann.led) == ["p1", "p3"]  # an embedded model's reference
    assert _titles(bob.led) == ["p2"]
    assert cid.led == []
    assert _titles(ann.reviewed) == ["p2"]  # a list of references in a list of them
    assert _titles(bob.reviewed) == ["p1"]
    assert _titles(cid.reviewed) == ["p1"]  # named twice in p1: loaded once
    assert _titles(ann.seconded) == ["p3"]  # an optional embedded model's reference
    assert _titles(bob.seconded) == []  # p1.extra is None; meta.second is another path
    assert ann.led[0].meta.lead.name == "ann"  # their own references are loaded
    assert [s.name for s in ann.led[0].reviews[0].by] == ["bob", "cid"]
    assert changes_for_save(ann) == {}
    assert changes_for_save(ann.led[0]) == {}
    one = await engine.find_one(Scholar, Scholar.name == "cid")
    assert _titles(one.reviewed) == ["p1"]
    assert set(engine.database["scholar"].find_one({"name": "ann"})) == {"_id", "name"}


async def test_back_references_through_embedded_models_follow_the_data(engine: Any) -> None:
    _ann, _bob, cid = await _papers(engine)
    paper = await engine.find_one(Paper, Paper.title == "p2")
    paper.reviews.append(Review(grade=4, by=[cid]))
    paper.meta.lead = cid
    await engine.save(paper)
    found = await engine.find_one(Scholar, Scholar.name == "cid")
    assert _titles(found.led) == ["p2"]
    assert _titles(found.reviewed) == ["p1", "p2"]
    assert (await engine.find_one(Scholar, Scholar.name == "bob")).led == []


async def test_in_a_session_and_a_transaction(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    with pytest.raises(RuntimeError, match="boom"):
        async with engine.transaction() as tx:
            await _papers(tx)
            ann = await tx.find_one(Scholar, Scholar.name == "ann")
            assert ann is not None
            assert _titles(ann.led) == ["p1", "p3"]
            raise RuntimeError("boom")
    assert await engine.count(Paper) == 0
    assert await engine.count(Scholar) == 0
    async with engine.session() as session:
        await _papers(session)
        bob = await session.find_one(Scholar, Scholar.name == "bob")
        assert bob is not None
        assert _titles(bob.reviewed) == ["p1"]


def test_sync_transaction(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    ann = Scholar(name="ann")
    with engine.transaction() as tx:
        tx.save(Paper(title="p", meta=PaperMeta(lead=ann), reviews=[Review(grade=1, by=[ann])]))
        found = tx.find_one(Scholar)
        assert found is not None
        assert _titles(found.led) == ["p"]
        assert _titles(found.reviewed) == ["p"]


def test_a_path_that_is_not_a_reference_to_the_model_is_refused() -> None:
    class NoSuchPath(Model):
        papers: list[Paper] = BackReference("meta.nope")

    with pytest.raises(
        TypeError,
        match=r"NoSuchPath\.papers: .*Paper\.meta has no sub-field 'nope'",
    ):
        NoSuchPath.__anyodm__.back_references  # noqa: B018 - resolved on first use

    class NotAReference(Model):
        papers: list[Paper] = BackReference("meta")

    with pytest.raises(TypeError, match=r"Paper\.meta is not a reference field"):
        NotAReference.__anyodm__.back_references  # noqa: B018

    class WrongTarget(Model):
        papers: list[Paper] = BackReference("meta.lead")

    with pytest.raises(
        TypeError, match=r"Paper\.meta\.lead is a reference to Scholar, not to WrongTarget"
    ):
        WrongTarget.__anyodm__.back_references  # noqa: B018

    for bad in ("", "meta.", ".lead", "meta..lead"):
        with pytest.raises(TypeError, match=r"BackReference\(\) expects the name"):
            BackReference(bad)


def test_change_events_load_back_references(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    ann = Scholar(name="ann")
    engine.save(Paper(title="p", meta=PaperMeta(lead=ann)))
    with engine.watch(Scholar, full_document="updateLookup") as changes:
        ann.name = "anne"
        engine.save(ann)
        change = next(changes)
    assert change.document is not None
    assert _titles(change.document.led) == ["p"]


async def test_find_one_and_update_and_delete_load_back_references(engine: Any) -> None:
    from anyodm import update

    await _papers(engine)
    updated = await engine.find_one_and_update(
        Scholar, Scholar.name == "ann", update=update.set(Scholar.name, "anne")
    )
    assert (updated.name, _titles(updated.led), _titles(updated.reviewed)) == (
        "anne",
        ["p1", "p3"],
        ["p2"],
    )
    assert [s.name for s in updated.led[0].reviews[0].by] == ["bob", "cid"]
    deleted = await engine.find_one_and_delete(Scholar, Scholar.name == "cid")
    assert _titles(deleted.reviewed) == ["p1"]
    assert _titles(deleted.seconded) == []
