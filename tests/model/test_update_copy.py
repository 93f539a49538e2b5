"""model_update and model_copy."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from anyodm.model import ObjectId
from anyodm.model.tracking import changes_for_save, mark_saved

from .models import Address, Person


class PersonPatch(BaseModel):
    name: str | None = None
    tags: list[str] | None = None


def test_model_update_from_dict_and_object() -> None:
    person = Person(name="Ann")
    assert person.model_update({"name": "Bob"}) is person
    assert person.name == "Bob"
    person.model_update(PersonPatch(tags=["a"]))
    assert person.tags == ["a"]
    assert person.name == "Bob"  # unset in the patch: untouched


def test_model_update_validates_everything_first() -> None:
    person = Person(name="Ann")
    with pytest.raises(ValidationError):
        person.model_update({"name": "Bob", "scores": ["x"]})
    assert person.name == "Ann"
    person.model_update({"nope": 1})  # keys the model lacks are ignored, as in ODMantic
    assert person.name == "Ann"


def test_model_update_keeps_primary_key() -> None:
    person = Person(name="Ann")
    pk = person.id
    with pytest.raises(ValueError, match="primary key"):
        person.model_update({"id": ObjectId(), "name": "B"})
    assert (person.id, person.name) == (pk, "Ann")


def test_model_update_is_tracked() -> None:
    person = Person(name="Ann")
    mark_saved(person)
    person.model_update({"name": "Bob"})
    assert changes_for_save(person) == {"name": "Bob"}


def test_model_copy_validates_update_and_keeps_state() -> None:
    person = Person(name="Ann", address=Address(city="x"))
    mark_saved(person)
    copy = person.model_copy(update={"name": "Eve"})
    assert copy.id == person.id
    assert copy.name == "Eve"
    assert changes_for_save(copy) == {"name": "Eve"}
    with pytest.raises(ValidationError):
        person.model_copy(update={"scores": "x"})
    deep = person.model_copy(deep=True)
    assert deep.address is not person.address
    assert deep == person
