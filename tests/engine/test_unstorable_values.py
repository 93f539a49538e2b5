"""A value BSON cannot store (in a field whose type cannot vouch for it) makes a save
raise ``InvalidValueError`` naming the model and field, with nothing written."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from anyodm import Model, Reference
from anyodm.errors import InvalidValueError
from anyodm.model.tracking import changes_for_save, is_persisted

DAY = datetime.date(2024, 5, 17)


class Signer(Model):
    name: str


class Letter(Model):
    title: str
    extra: Any = None
    count: int = 0
    signer: Signer | None = Reference(default=None)


def _stored(engine: Any, model: type[Model]) -> list[dict[str, Any]]:
    return list(engine.database[model.__anyodm__.collection].find())


async def test_save_of_an_unstorable_value_writes_nothing(engine: Any) -> None:
    letter = Letter(title="a", extra={"when": DAY}, signer=Signer(name="s"))
    with pytest.raises(InvalidValueError, match=r"^Letter\.extra: holds .*cannot encode") as info:
        await engine.save(letter)
    assert info.value.model is Letter
    assert _stored(engine, Letter) == _stored(engine, Signer) == []  # not even the signer
    assert not is_persisted(letter)  # still unsaved
    letter.extra = {"when": datetime.datetime(2024, 5, 17)}
    await engine.save(letter)
    assert [doc["title"] for doc in _stored(engine, Letter)] == ["a"]


async def test_save_all_of_an_unstorable_value_writes_nothing(engine: Any) -> None:
    good, bad = Letter(title="good"), Letter(title="bad", count=2**70)
    with pytest.raises(InvalidValueError, match=r"^Letter\.count: holds 1180591620717411303424"):
        await engine.save_all([good, bad])
    assert _stored(engine, Letter) == []
    assert changes_for_save(good)


async def test_a_saved_instance_keeps_its_document(engine: Any) -> None:
    letter = await engine.save(Letter(title="a", extra=1))
    letter.title, letter.extra = "b", [DAY]
    with pytest.raises(InvalidValueError, match=r"^Letter\.extra: "):
        await engine.save(letter)
    assert [(doc["title"], doc["extra"]) for doc in _stored(engine, Letter)] == [("a", 1)]
    letter.extra = 2
    await engine.save(letter)
    assert [(doc["title"], doc["extra"]) for doc in _stored(engine, Letter)] == [("b", 2)]
