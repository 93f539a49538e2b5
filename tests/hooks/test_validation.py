"""``model_config["validate_on_save"]``: a save validates the instance again first, so a
value changed in place that its field refuses is never sent."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from anyodm.model.lazy import NotLoaded
from anyodm.model.tracking import is_persisted
from tests.hooks.models import Address, Checked, Friend, Normalized, Pal


def stored(engine: Any, instance: Any) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = engine.database.get_collection(
        type(instance).__anyodm__.collection
    ).find_one({"_id": instance.id})
    return doc


async def test_a_value_appended_in_place_that_its_field_refuses_is_not_sent(
    engine: Any,
) -> None:
    checked = Checked(name="c", scores=[1])
    await engine.save(checked)
    checked.scores.append("many")  # type: ignore[arg-type]
    checked.name = "changed"
    with pytest.raises(ValidationError, match="Checked") as caught:
        await engine.save(checked)
    assert caught.value.errors()[0]["loc"] == ("scores", 1)
    assert stored(engine, checked) == {
        "_id": checked.id,
        "name": "c",
        "scores": [1],
        "address": None,
        "by_name": {},
    }
    assert checked.scores == [1, "many"]  # refused: the instance is left as it was


async def test_a_value_pydantic_converts_is_stored_converted(engine: Any) -> None:
    checked = Checked(name="c")
    checked.scores.append("7")  # type: ignore[arg-type]
    await engine.save(checked)
    assert checked.scores == [7]
    doc = stored(engine, checked)
    assert doc is not None
    assert doc["scores"] == [7]


async def test_embedded_models_and_dict_values_are_validated_too(engine: Any) -> None:
    checked = Checked(name="c", address=Address(city="Oslo"))
    await engine.save(checked)
    assert checked.address is not None
    checked.address.zips.append("north")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="Address"):
        await engine.save(checked)
    checked.address.zips.pop()
    checked.by_name["k"] = "v"  # type: ignore[assignment]
    with pytest.raises(ValidationError, match="by_name"):
        await engine.save(checked)
    doc = stored(engine, checked)
    assert doc is not None
    assert doc["address"]["zips"] == []
    assert doc["by_name"] == {}


async def test_an_instance_built_without_validation_is_validated(engine: Any) -> None:
    built = Checked.model_construct(name=3, scores=[], address=None, by_name={})
    with pytest.raises(ValidationError, match="name"):
        await engine.save(built)
    assert await engine.count(Checked) == 0


async def test_skip_hooks_still_validates_and_save_all_refuses_all(engine: Any) -> None:
    good, bad = Checked(name="good"), Checked(name="bad")
    bad.scores.append("x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await engine.save(bad, skip_hooks=True)
    with pytest.raises(ValidationError):
        await engine.save_all([good, bad])
    assert await engine.count(Checked) == 0
    assert not is_persisted(good)


async def test_validate_hooks_run_around_the_validation(
    engine: Any, calls: list[tuple[Any, ...]]
) -> None:
    normalized = Normalized()
    normalized.scores.extend(["", "3", 4])  # type: ignore[list-item]
    await engine.save(normalized)
    assert calls == [("validated", [3, 4])]
    doc = stored(engine, normalized)
    assert doc is not None
    assert doc["scores"] == [3, 4]


async def test_references_and_lazy_placeholders_are_kept_as_they_are(engine: Any) -> None:
    best = Pal(name="best")
    other = Friend(name="other")
    friend = Friend(name="f", best=best, others=[other])
    await engine.save_all([best, other, friend])
    loaded = await engine.find_one(Friend, Friend.name == "f")
    assert loaded is not None
    assert isinstance(loaded.others[0], NotLoaded)
    kept_best, kept_others = loaded.best, loaded.others[0]
    loaded.name = "g"
    await engine.save(loaded)
    assert loaded.best is kept_best
    assert loaded.others[0] is kept_others
    doc = stored(engine, loaded)
    assert doc is not None
    assert doc["name"] == "g"
    assert doc["best"] == best.id
    assert doc["others"] == [other.id]
