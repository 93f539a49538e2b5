"""References only some subclasses of a polymorphic model have are loaded by finds of
the base (and by references to the base), in those subclasses' documents only."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import BackReference, EmbeddedModel, Engine, Field, Model, Reference, SyncEngine, update
from anyodm.errors import DocumentParsingError
from anyodm.model import ODMConfigDict
from anyodm.model.tracking import changes_for_save


class Person(Model):
    name: str


class Shape(Model):
    model_config = ODMConfigDict(polymorphic=True, collection="shapes")
    name: str


class Drawn(Shape):
    artist: Person = Reference()
    helpers: list[Person] = Reference(default_factory=list)
    editor: Person | None = Reference(default=None)


class Note(EmbeddedModel):
    by: Person = Reference()


class Sketch(Drawn):
    model_config = ODMConfigDict(discriminator="sketch")
    notes: list[Note] = Field(default_factory=list)


class Plain(Shape):
    artist: str = "unknown"  # the key a sibling keeps a reference under: left alone


class Gallery(Model):
    main: Shape = Reference()
    shapes: list[Shape] = Reference(default_factory=list)


class Framed(Shape):
    """A subclass with a back-reference: loaded by finds of the base too."""

    galleries: list[Gallery] = BackReference("main")


def _shapes() -> list[Shape]:
    ann, bob, cid = Person(name="ann"), Person(name="bob"), Person(name="cid")
    return [
        Shape(name="a-shape"),
        Drawn(name="b-drawn", artist=ann, helpers=[cid, bob], editor=bob),
        Sketch(name="c-sketch", artist=bob, notes=[Note(by=cid), Note(by=ann)]),
        Plain(name="d-plain", artist="someone"),
    ]


def _check(found: list[Shape]) -> None:
    assert [type(shape) for shape in found] == [Shape, Drawn, Sketch, Plain]
    _, drawn, sketch, plain = found
    assert isinstance(drawn, Drawn)
    assert isinstance(sketch, Sketch)
    assert isinstance(plain, Plain)
    assert (drawn.artist.name, [p.name for p in drawn.helpers]) == ("ann", ["cid", "bob"])
    assert drawn.editor is not None
    assert drawn.editor.name == "bob"
    assert (sketch.artist.name, sketch.helpers, sketch.editor) == ("bob", [], None)
    assert [note.by.name for note in sketch.notes] == ["cid", "ann"]
    assert plain.artist == "someone"
    assert all(changes_for_save(shape) == {} for shape in found)


async def test_finds_of_the_base_load_the_subclasses_references(engine: Any) -> None:
    await engine.save_all(_shapes())
    assert await engine.count(Person) == 3
    _check(await engine.find(Shape, sort=Shape.name))
    sketch = await engine.find_one(Shape, Shape.name == "c-sketch")
    assert [note.by.name for note in sketch.notes] == ["cid", "ann"]
    assert [type(s) for s in await engine.find(Drawn, sort=Drawn.name)] == [Drawn, Sketch]
    engine.database["shapes"].insert_one({"name": "0-legacy", "artist": "x"})  # no _t
    legacy, *rest = await engine.find(Shape, sort=Shape.name)
    assert (type(legacy), legacy.name) == (Shape, "0-legacy")
    _check(rest)


async def test_references_to_the_base_load_the_subclasses_references(engine: Any) -> None:
    shapes = _shapes()
    await engine.save(Gallery(main=shapes[2], shapes=shapes))
    gallery = await engine.find_one(Gallery)
    _check(gallery.shapes)
    assert gallery.main.notes[1].by.name == "ann"
    assert changes_for_save(gallery) == {}


async def test_finds_of_the_base_load_the_subclasses_back_references(engine: Any) -> None:
    framed, plain = Framed(name="framed"), Plain(name="plain")
    await engine.save_all(
        [Gallery(main=framed, shapes=[plain]), Gallery(main=framed), Gallery(main=plain)]
    )
    found = await engine.find(Shape, sort=Shape.name)
    assert [type(shape) for shape in found] == [Framed, Plain]
    assert [len(g.shapes) for g in found[0].galleries] == [1, 0]
    assert found[0].galleries[0].shapes[0].name == "plain"
    assert changes_for_save(found[0]) == {}
    updated = await engine.find_one_and_update(
        Shape, Shape.name == "framed", update=update.set(Shape.name, "f2")
    )
    assert [len(g.shapes) for g in updated.galleries] == [1, 0]
    assert (await engine.find_one_and_delete(Shape, Shape.name == "plain")).artist == "unknown"


async def test_find_one_and_update_through_the_base(engine: Any) -> None:
    await engine.save_all(_shapes())
    found = await engine.find_one_and_update(
        Shape, Shape.name == "c-sketch", update=update.set(Shape.name, "c2")
    )
    assert (found.name, found.artist.name) == ("c2", "bob")
    assert [note.by.name for note in found.notes] == ["cid", "ann"]
    plain = await engine.find_one_and_delete(Shape, Shape.name == "d-plain")
    assert plain.artist == "someone"


async def test_a_missing_target_in_a_subclass_is_named(engine: Any) -> None:
    shapes = _shapes()
    await engine.save_all(shapes)
    engine.database["person"].delete_one({"name": "bob"})
    with pytest.raises(DocumentParsingError) as caught:
        await engine.find_one(Shape, Shape.name == "c-sketch")
    assert "artist: referenced Person document" in str(caught.value)
    with pytest.raises(DocumentParsingError) as caught:
        await engine.find(Shape, Shape.name == "b-drawn")
    assert "helpers.1: referenced Person document" in str(caught.value)
    assert "editor" not in str(caught.value)  # optional: None


async def test_in_a_transaction_and_a_session(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    with pytest.raises(RuntimeError, match="boom"):
        async with engine.transaction() as tx:
            await tx.save_all(_shapes())
            _check(await tx.find(Shape, sort=Shape.name))
            raise RuntimeError("boom")
    assert engine.database["shapes"].count_documents({}) == 0
    assert engine.database["person"].count_documents({}) == 0
    async with engine.session() as session:
        await session.save_all(_shapes())
        _check(await session.find(Shape, sort=Shape.name))


def test_sync_transaction(anyodm_sync_engine: SyncEngine) -> None:
    engine = anyodm_sync_engine
    with engine.transaction() as tx:
        tx.save_all(_shapes())
        _check(list(tx.find(Shape, sort=Shape.name)))
    _check(list(engine.find(Shape, sort=Shape.name)))


def test_siblings_with_different_references_under_one_key_are_refused() -> None:
    class Owner(Model):
        name: str

    class Thing(Model):
        model_config = ODMConfigDict(polymorphic=True, collection="things")

    class Boat(Thing):
        owner: Owner = Reference()

    class Kite(Thing):
        owner: Person = Reference()

    with pytest.raises(TypeError, match=r"Boat\.owner and Kite\.owner: classes of the Thing fam"):
        from anyodm.model.references import find_pipeline

        find_pipeline(Thing, {}, None, 0, None)
    assert find_pipeline(Boat, {}, None, 0, None)  # each on its own is fine


class Venue(Model):
    """Two subclasses loading different documents under one back-reference key."""

    model_config = ODMConfigDict(polymorphic=True, collection="venues")


class Hall(Venue):
    shows: list[Show] = BackReference("hall")


class Arena(Venue):
    shows: list[Show] = BackReference("venue")


class Show(Model):
    hall: Hall = Reference()
    venue: Venue = Reference()


def test_siblings_with_different_back_references_under_one_key_are_refused() -> None:
    from anyodm.model.references import find_pipeline

    with pytest.raises(TypeError, match=r"Hall\.shows and Arena\.shows: classes of the Venue"):
        find_pipeline(Venue, {}, None, 0, None)
    assert find_pipeline(Hall, {}, None, 0, None)  # each on its own is fine
