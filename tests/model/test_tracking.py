"""Change tracking: what a save sends."""

from __future__ import annotations

import pytest

from anyodm.model.tracking import changes_for_save, is_persisted, mark_saved

from .models import Address, Author, Person, Publisher


def test_fresh_instance_sends_everything() -> None:
    person = Person(name="Ann")
    assert not is_persisted(person)
    assert changes_for_save(person) == person.model_dump_doc()


def test_parsed_instance_sends_nothing_until_changed() -> None:
    person = Person(name="Ann", tags=["a"], address=Address(city="x"))
    loaded = Person.model_validate_doc(person.model_dump_doc())
    assert is_persisted(loaded)
    assert changes_for_save(loaded) == {}
    loaded.name = "Bob"
    assert changes_for_save(loaded) == {"name": "Bob"}


def test_mutations_of_containers_and_embedded_models_count() -> None:
    loaded = Person.model_validate_doc(
        Person(
            name="Ann", tags=["a"], address=Address(city="x"), addresses=[Address(city="y")]
        ).model_dump_doc()
    )
    loaded.tags.append("b")
    assert loaded.address is not None
    loaded.address.city = "z"
    loaded.addresses[0].zip_code = "9"
    assert changes_for_save(loaded) == {
        "tags": ["a", "b"],
        "address": {"city": "z", "zip": ""},
        "addresses": [{"city": "y", "zip": "9"}],
    }


def test_mark_saved_resets() -> None:
    person = Person(name="Ann")
    mark_saved(person)
    assert changes_for_save(person) == {}
    person.scores.append(3)
    assert changes_for_save(person) == {"scores": [3]}
    mark_saved(person)
    assert changes_for_save(person) == {}


def test_changed_primary_key_means_a_new_document() -> None:
    from anyodm.model import ObjectId

    person = Person(name="Ann")
    mark_saved(person)
    with pytest.raises(NotImplementedError, match="primary key"):
        person.id = ObjectId()  # a saved instance keeps its key
    copy = person.model_copy(update={"id": ObjectId()})
    assert changes_for_save(copy)["_id"] == copy.id


def test_fields_missing_from_the_document_are_sent() -> None:
    person = Person.model_validate_doc({"_id": Person(name="x").id, "name": "x"})
    assert set(changes_for_save(person)) == set(person.model_dump_doc()) - {"_id", "name"}


def test_looked_up_references_count_as_persisted() -> None:
    publisher = Publisher(name="P")
    author = Author(name="A", publisher=publisher)
    doc = author.model_dump_doc()
    doc["publisher"] = publisher.model_dump_doc()
    loaded = Author.model_validate_doc(doc)
    assert changes_for_save(loaded) == {}
    assert is_persisted(loaded.publisher)
    assert changes_for_save(loaded.publisher) == {}
    loaded.publisher.country = "DE"
    assert changes_for_save(loaded.publisher) == {"country": "DE"}
    assert changes_for_save(loaded) == {}
