"""``references="keys"``: finds that look no referenced document up; the references hold
``NotLoaded`` placeholders of their keys, which ``fetch`` loads and saves keep."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from pymongo import MongoClient

from anyodm import (
    EmbeddedModel,
    Engine,
    Field,
    Model,
    NotLoaded,
    Reference,
    SyncEngine,
    is_loaded,
    maybe_loaded,
    revision,
)
from anyodm.errors import (
    DocumentNotFoundError,
    DocumentParsingError,
    InvalidFieldError,
    InvalidValueError,
    RevisionConflictError,
)
from anyodm.model import ODMConfigDict
from anyodm.model.lazy import BackReferencesNotLoaded
from anyodm.model.tracking import changes_for_save
from tests.references.family import Garage, SportsCar, Vehicle
from tests.references.models import (
    Author,
    Book,
    Club,
    Essay,
    Member,
    Paper,
    PaperMeta,
    Review,
    Scholar,
    Writer,
)
from tests.references.test_lists import Lookups


async def _paper(engine: Any) -> tuple[Paper, Scholar, Scholar]:
    lead, other = Scholar(name="lead"), Scholar(name="other")
    paper = Paper(
        title="p",
        meta=PaperMeta(lead=lead, second=None),
        reviews=[Review(grade=1, by=[other, lead]), Review(grade=2, by=[])],
    )
    await engine.save(paper)
    return paper, lead, other


async def test_keys_leave_every_reference_as_its_key(engine: Any) -> None:
    a, b = Author(name="a"), Author(name="b")
    await engine.save(Book(title="t", authors=[a, b], editor=a))
    found = await engine.find_one(Book, references="keys")
    assert found.authors == [NotLoaded(Author, a.id), NotLoaded(Author, b.id)]
    assert found.editor == NotLoaded(Author, a.id)
    assert not is_loaded(found.authors)
    assert not is_loaded(found.editor)
    assert maybe_loaded(found.editor) is found.editor
    assert changes_for_save(found) == {}
    with pytest.raises(AttributeError, match=r"not loaded .*references='keys'.*fetch"):
        _ = found.editor.name
    [listed] = await engine.find(Book, references="keys")
    assert listed.authors == found.authors
    streamed = [book async for book in engine.find(Book, references="keys")]
    assert streamed[0].editor == NotLoaded(Author, a.id)
    loaded = await engine.find_one(Book)  # the default still loads them
    assert [x.name for x in loaded.authors] == ["a", "b"]
    assert is_loaded(loaded.authors)


async def test_references_in_embedded_models_are_keys_too(engine: Any) -> None:
    _, lead, other = await _paper(engine)
    found = await engine.find_one(Paper, references="keys")
    assert found.meta.lead == NotLoaded(Scholar, lead.id)
    assert found.meta.second is None
    assert found.reviews[0].by == [NotLoaded(Scholar, other.id), NotLoaded(Scholar, lead.id)]
    assert found.reviews[1].by == []
    assert changes_for_save(found) == {}


async def test_a_save_after_keys_keeps_the_stored_references(engine: Any) -> None:
    paper, _, _ = await _paper(engine)
    before = engine.database["paper"].find_one({"_id": paper.id})
    found = await engine.find_one(Paper, references="keys")
    found.title = "renamed"
    found.model_update({"reviews": [*found.reviews, Review(grade=3, by=[])]})
    await engine.save(found)
    after = engine.database["paper"].find_one({"_id": paper.id})
    assert after == {
        **before,
        "title": "renamed",
        "reviews": [*before["reviews"], after["reviews"][2]],
    }
    assert after["reviews"][2] == {"grade": 3, "people": []}
    full = await engine.find_one(Paper)
    assert full.title == "renamed"
    assert full.meta.lead.name == "lead"
    assert [[s.name for s in review.by] for review in full.reviews] == [
        ["other", "lead"],
        [],
        [],
    ]
    assert engine.database["scholar"].count_documents({}) == 2  # nothing saved through


async def test_replacing_one_reference_keeps_the_others(engine: Any) -> None:
    a, b = Author(name="a"), Author(name="b")
    book = Book(title="t", authors=[a, b], editor=None)
    await engine.save(book)
    found = await engine.find_one(Book, references="keys")
    found.editor = Author(name="new")  # saved by the cascade
    found.authors = [found.authors[1], found.authors[0]]  # placeholders can be reordered
    await engine.save(found)
    full = await engine.find_one(Book)
    assert full.editor.name == "new"
    assert [x.name for x in full.authors] == ["b", "a"]


async def test_a_document_whose_required_target_is_gone_loads_with_keys(engine: Any) -> None:
    writer = Writer(name="w")
    essay = Essay(title="e", writer=writer)
    await engine.save(essay)
    engine.database["writer"].delete_one({"_id": writer.id})
    with pytest.raises(DocumentParsingError, match=r"writer: referenced Writer document"):
        await engine.find_one(Essay)
    found = await engine.find_one(Essay, references="keys")
    assert found.title == "e"
    assert found.writer == NotLoaded(Writer, writer.id)
    with pytest.raises(DocumentNotFoundError, match=r"Essay\.writer: referenced Writer"):
        await engine.fetch(found, "writer")
    assert found.writer == NotLoaded(Writer, writer.id)  # unchanged by the failure
    found.writer = Writer(name="replacement")  # repair it
    await engine.save(found)
    assert (await engine.find_one(Essay)).writer.name == "replacement"


async def test_fetch_loads_what_keys_left(engine: Any) -> None:
    _, _, other = await _paper(engine)
    found = await engine.find_one(Paper, references="keys")
    meta = await engine.fetch(found, "meta")  # an embedded model: its references
    assert meta is found.meta
    assert meta.lead.name == "lead"
    reviews = await engine.fetch(found, Paper.reviews)
    assert [[s.name for s in review.by] for review in reviews] == [["other", "lead"], []]
    assert is_loaded(reviews[0].by)
    assert changes_for_save(found) == {}
    reviews[0].by[0].name = "renamed"  # fetched instances cascade like loaded ones
    await engine.save(found)
    assert engine.database["scholar"].find_one({"_id": other.id})["name"] == "renamed"


async def test_back_references_are_not_loaded_with_keys(engine: Any) -> None:
    writer = Writer(name="w")
    await engine.save_all([Essay(title="e1", writer=writer), Essay(title="e2", writer=writer)])
    found = await engine.find_one(Writer, references="keys")
    assert found.essays == []
    assert isinstance(found.essays, BackReferencesNotLoaded)
    assert not is_loaded(found.essays)
    found.name = "renamed"
    await engine.save(found)  # back-references are never saved: nothing is lost
    full = await engine.find_one(Writer)
    assert full.name == "renamed"
    assert [essay.title for essay in full.essays] == ["e1", "e2"]
    assert is_loaded(full.essays)
    essays = await engine.fetch(found, "essays")
    assert [essay.title for essay in essays] == ["e1", "e2"]
    assert essays[0].writer.name == "renamed"  # their references loaded
    assert found.essays is essays
    assert is_loaded(found.essays)
    assert await engine.fetch(found, Writer.collaborations) == []


async def test_fetch_of_a_back_reference_through_embedded_models(engine: Any) -> None:
    await _paper(engine)
    scholar = await engine.find_one(Scholar, Scholar.name == "lead", references="keys")
    assert not is_loaded(scholar.reviewed)
    assert [p.title for p in await engine.fetch(scholar, "reviewed")] == ["p"]
    assert [p.title for p in await engine.fetch(scholar, "led")] == ["p"]
    assert await engine.fetch(scholar, "seconded") == []
    assert changes_for_save(scholar) == {}


async def test_a_reference_target_loaded_by_a_find_has_its_back_references_unloaded(
    engine: Any,
) -> None:
    writer = Writer(name="w")
    await engine.save(Essay(title="e", writer=writer))
    essay = await engine.find_one(Essay)
    assert essay.writer.essays == []
    assert not is_loaded(essay.writer.essays)
    assert [e.title for e in await engine.fetch(essay.writer, "essays")] == ["e"]


async def test_keys_through_a_polymorphic_reference(engine: Any) -> None:
    sports, plain = SportsCar(name="s"), Vehicle(name="v")
    await engine.save(Garage(main=sports, others=[plain, sports]))
    found = await engine.find_one(Garage, references="keys")
    assert found.main == NotLoaded(Vehicle, sports.id)
    assert found.others == [NotLoaded(Vehicle, plain.id), NotLoaded(Vehicle, sports.id)]
    assert isinstance(await engine.fetch(found, "main"), SportsCar)
    others = await engine.fetch(found, "others")
    assert [type(v) for v in others] == [Vehicle, SportsCar]


async def test_keys_with_lazy_and_nested_references(engine: Any) -> None:
    owner = Author(name="owner")
    ann = Member(name="ann", club=Club(name="chess", owner=owner))
    await engine.save(ann)
    club = await engine.find_one(Club, references="keys")
    assert club.owner == NotLoaded(Author, owner.id)
    member = await engine.find_one(Member, references="keys")
    assert member.club == NotLoaded(Club, ann.club.id)  # lazy: as always
    fetched = await engine.fetch(member, "club")
    assert fetched.owner.name == "owner"  # fetch loads the target's eager references


async def test_placeholders_survive_copies_and_revalidation(engine: Any) -> None:
    a = Author(name="a")
    await engine.save(Book(title="t", authors=[a]))
    found = await engine.find_one(Book, references="keys")
    copied = found.model_copy(update={"title": "copy"})
    assert copied.authors == [NotLoaded(Author, a.id)]
    deep = found.model_copy(deep=True)
    assert deep.authors == found.authors
    found.model_update({"title": "updated"})
    assert changes_for_save(found) == {"title": "updated"}
    found.editor = NotLoaded(Author, a.id)  # a placeholder of the target can be assigned
    with pytest.raises(ValidationError, match=r"NotLoaded placeholder of Writer, not of Author"):
        found.editor = NotLoaded(Writer, a.id)  # type: ignore[assignment]
    assert found.model_dump()["authors"] == [a.id]
    assert found.model_dump(mode="json")["editor"] == str(a.id)
    await engine.save(found)
    raw = engine.database["book"].find_one({"_id": found.id})
    assert raw["editor"] == a.id
    assert raw["authors"] == [a.id]


async def test_lazy_placeholders_survive_model_update(engine: Any) -> None:
    ann, bob = Member(name="ann"), Member(name="bob")
    ann.friends = [bob]
    await engine.save_all([ann, bob])
    found = await engine.find_one(Member, Member.name == "ann")
    found.model_update({"name": "ann2"})
    await engine.save(found)
    raw = engine.database["member"].find_one({"_id": ann.id})
    assert (raw["name"], raw["friends"]) == ("ann2", [bob.id])


async def test_keys_in_sessions_and_transactions(anyodm_engine: Engine) -> None:
    writer = Writer(name="w")
    await anyodm_engine.save(Essay(title="e", writer=writer))
    async with anyodm_engine.session() as session:
        found = await session.find_one(Essay, references="keys")
        assert found is not None
        assert found.writer == NotLoaded(Writer, writer.id)
        assert [e.title for e in await session.find(Essay, references="keys")] == ["e"]
    async with anyodm_engine.transaction() as tx:
        found = await tx.find_one(Essay, references="keys")
        assert found is not None
        found.title = "in tx"
        await tx.save(found)
        streamed = [e async for e in tx.find(Essay, references="keys")]
        assert streamed[0].writer == NotLoaded(Writer, writer.id)
    full = await anyodm_engine.find_one(Essay)
    assert full is not None
    assert (full.title, full.writer.name) == ("in tx", "w")


def test_sync_keys_in_a_transaction(anyodm_sync_engine: SyncEngine) -> None:
    writer = Writer(name="w")
    anyodm_sync_engine.save(Essay(title="e", writer=writer))
    with anyodm_sync_engine.transaction() as tx:
        found = tx.find_one(Essay, references="keys")
        assert found is not None
        assert found.writer == NotLoaded(Writer, writer.id)
        found.title = "in tx"
        tx.save(found)
        assert [e.title for e in tx.find(Essay, references="keys")] == ["in tx"]
    with anyodm_sync_engine.session() as session:
        found = session.find_one(Essay, references="keys")
        assert found is not None
        assert session.fetch(found, "writer").name == "w"


def test_keys_send_a_plain_find(mongodb_uri: str, mongo_database: Any) -> None:
    lookups = Lookups()
    client: MongoClient[Any] = MongoClient(mongodb_uri, event_listeners=[lookups])
    try:
        engine = SyncEngine(client=client, database=mongo_database.name)
        engine.save(Book(title="t", authors=[Author(name="a")]))
        assert len(list(engine.find(Book, references="keys"))) == 1
        assert engine.find_one(Book, references="keys") is not None
        assert lookups.pipelines == []
        engine.find_one(Book)
        assert len(lookups.pipelines) == 1
    finally:
        client.close()


class TitleOnly(BaseModel):
    title: str


async def test_bad_loading_arguments_are_refused_before_anything_is_sent(engine: Any) -> None:
    with pytest.raises(ValueError, match=r"find\(\): references must be 'load' .* got 'key'"):
        engine.find(Book, references="key")
    with pytest.raises(ValueError, match=r"find_one\(\): references must be"):
        await engine.find_one(Book, references=False)
    with pytest.raises(TypeError, match=r"references='keys' and projection= cannot be combined"):
        engine.find(Book, projection=TitleOnly, references="keys")
    with pytest.raises(InvalidFieldError, match=r"Book\.authors\.name: find\(references='keys'\)"):
        engine.find(Book, {"authors.name": "a"}, references="keys")
    with pytest.raises(InvalidFieldError, match=r"find_one\(references='keys'\) cannot filter"):
        await engine.find_one(Book, sort={"editor.name": 1}, references="keys")
    with pytest.raises(InvalidFieldError, match=r"fetch\(\): not a reference, a back-reference"):
        await engine.fetch(Book(title="t", authors=[]), "title")
    assert await engine.count(Book) == 0


async def test_fetch_through_a_list_mutated_by_hand_names_the_bad_item(engine: Any) -> None:
    await _paper(engine)
    found = await engine.find_one(Paper, references="keys")
    found.reviews.append("not a review")
    with pytest.raises(InvalidValueError, match=r"Paper\.reviews\.2: holds 'not a review'"):
        await engine.fetch(found, "reviews")
    assert isinstance(found.reviews[0].by[0], NotLoaded)  # nothing was changed


class Ledger(Model):
    model_config = ODMConfigDict(optimistic_concurrency=True)
    total: int = 0
    keeper: Author = Reference()


async def test_keys_keep_the_revision_of_optimistic_concurrency(engine: Any) -> None:
    await engine.save(Ledger(keeper=Author(name="k")))
    first = await engine.find_one(Ledger, references="keys")
    stale = await engine.find_one(Ledger, references="keys")
    assert revision(first) == revision(stale) is not None
    first.total = 1
    await engine.save(first)
    stale.total = 2
    with pytest.raises(RevisionConflictError):
        await engine.save(stale)
    full = await engine.find_one(Ledger)
    assert (full.total, full.keeper.name) == (1, "k")


class ShelfKey(EmbeddedModel):
    shelf: int
    slot: str


class Box(Model):
    model_config = ODMConfigDict(collection="lc_boxes")
    key: ShelfKey = Field(primary_field=True)


class Label(Model):
    model_config = ODMConfigDict(collection="lc_labels")
    box: Box = Reference()
    boxes: list[Box] = Reference(default_factory=list)


async def test_keys_of_an_embedded_model_key_dump_to_json_as_objects(engine: Any) -> None:
    """A FastAPI response of a keys-only instance: an embedded-model key is a JSON object
    (not the text of a Python dict)."""
    box = Box(key=ShelfKey(shelf=1, slot="a"))
    await engine.save(Label(box=box, boxes=[box]))
    found = await engine.find_one(Label, references="keys")
    dumped = json.loads(found.model_dump_json())
    assert dumped["box"] == {"shelf": 1, "slot": "a"}
    assert dumped["boxes"] == [{"shelf": 1, "slot": "a"}]
    assert found.model_dump(mode="json")["box"] == {"shelf": 1, "slot": "a"}
