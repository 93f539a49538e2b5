"""Back-references: read-only fields loading the documents that point at this one."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import BackReference, Engine, Model
from anyodm.model.tracking import changes_for_save
from tests.references.models import Author, Essay, Writer


async def _three_essays(engine: Any) -> tuple[Writer, Writer]:
    w1, w2 = Writer(name="w1"), Writer(name="w2")
    await engine.save_all(
        [
            Essay(title="a", writer=w1, coauthors=[w2]),
            Essay(title="b", writer=w1),
            Essay(title="c", writer=w2, coauthors=[w1]),
        ]
    )
    return w1, w2


async def test_back_references_load_the_documents_pointing_here(engine: Any) -> None:
    await _three_essays(engine)
    w1, w2 = await engine.find(Writer, sort=Writer.name)
    assert [essay.title for essay in w1.essays] == ["a", "b"]  # through a reference
    assert [essay.title for essay in w1.collaborations] == ["c"]  # through a list of them
    assert [essay.title for essay in w2.essays] == ["c"]
    assert w1.essays[0].writer.name == "w1"  # their own references are loaded
    assert w1.essays[0].coauthors[0].name == "w2"
    assert changes_for_save(w1) == {}
    assert changes_for_save(w1.essays[0]) == {}


async def test_back_references_are_never_stored_nor_saved_through(engine: Any) -> None:
    await _three_essays(engine)
    writer = await engine.find_one(Writer, Writer.name == "w1")
    assert set(engine.database["writer"].find_one({"name": "w1"})) == {"_id", "name"}
    writer.name = "renamed"
    await engine.save(writer)
    assert set(engine.database["writer"].find_one({"_id": writer.id})) == {"_id", "name"}
    assert "essays" not in writer.model_dump_doc()
    writer.essays[0].title = "changed"  # read-only: saving the writer leaves it
    await engine.save(writer)
    assert engine.database["essay"].count_documents({"title": "changed"}) == 0
    await engine.save(writer.essays[0])  # saved on its own, it is written
    assert engine.database["essay"].count_documents({"title": "changed"}) == 1


async def test_a_fresh_instance_or_one_with_no_referrers_has_none(engine: Any) -> None:
    lonely = Writer(name="lonely")
    assert lonely.essays == []
    await engine.save(lonely)
    found = await engine.find_one(Writer)
    assert found.essays == []
    assert found.collaborations == []


async def test_back_references_in_a_transaction(anyodm_engine: Engine) -> None:
    engine = anyodm_engine
    async with engine.transaction() as tx:
        await _three_essays(tx)
        w1 = await tx.find_one(Writer, Writer.name == "w1")
        assert [essay.title for essay in w1.essays] == ["a", "b"]
    assert await engine.count(Essay) == 3


def test_bad_back_references_are_refused() -> None:
    class Lonely(Model):
        essays: list[Essay] = BackReference("title")

    with pytest.raises(TypeError, match=r"Lonely\.essays: .*Essay\.title is not a reference f"):
        Lonely.__anyodm__.back_references  # noqa: B018 - resolved on first use

    class Wrong(Model):
        essays: list[Essay] = BackReference("writer")

    with pytest.raises(TypeError, match=r"Essay\.writer is a reference to Writer, not to Wrong"):
        Wrong.__anyodm__.back_references  # noqa: B018

    class Nope(Model):
        essays: list[Essay] = BackReference("nope")

    with pytest.raises(
        TypeError, match=r"Nope\.essays: BackReference\('nope'\): Essay has no field"
    ):
        Nope.__anyodm__.back_references  # noqa: B018

    with pytest.raises(TypeError, match=r"Single\.essay: BackReference\(\) needs a list"):

        class Single(Model):  # refused when the class is made, not at the first find
            essay: Author = BackReference("writer")


async def test_server_side_operations_refuse_back_references(engine: Any) -> None:
    from anyodm import update
    from anyodm.errors import InvalidFieldError

    await _three_essays(engine)
    with pytest.raises(InvalidFieldError, match=r"Writer\.essays: update.set\(\): a back-ref"):
        await engine.update_many(Writer, update=update.set(Writer.essays, []))
    with pytest.raises(InvalidFieldError, match=r"Writer\.essays: .*back-reference"):
        await engine.distinct(Writer, Writer.essays)
    assert set(engine.database["writer"].find_one()) == {"_id", "name"}
