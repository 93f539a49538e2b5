"""Model definition: collection names, primary keys, key names, config, bad definitions."""

# ruff: noqa: RUF012 - pydantic field defaults (ruff cannot tell Model is pydantic)

from __future__ import annotations

import pytest
from pydantic import ValidationError

from anyodm.model import EmbeddedModel, Field, Model, ObjectId, Reference

from .models import Address, Author, Book, Person, Publisher


def test_default_primary_key_is_id_stored_as_underscore_id() -> None:
    info = Person.__anyodm__
    assert info.primary_field == "id"
    assert info.key_names["id"] == "_id"
    person = Person(name="Ann")
    assert isinstance(person.id, ObjectId)
    assert person.__anyodm_pk_value__ == person.id
    assert person.model_dump_doc()["_id"] == person.id
    assert next(iter(Person.model_fields)) == "id"


def test_collection_names() -> None:
    class BookModel(Model):
        pass

    class HTTPRequestLog(Model):
        pass

    assert BookModel.__anyodm__.collection == "book"
    assert HTTPRequestLog.__anyodm__.collection == "http_request_log"
    assert Publisher.__anyodm__.collection == "publishers"


def test_custom_primary_field() -> None:
    class User(Model):
        email: str = Field(primary_field=True)
        name: str = ""

    assert "id" not in User.model_fields
    assert User.__anyodm__.primary_field == "email"
    user = User(email="a@b.c")
    assert user.model_dump_doc() == {"_id": "a@b.c", "name": ""}
    assert User.model_validate_doc({"_id": "x@y.z", "name": "n"}).email == "x@y.z"
    assert user.__anyodm_pk_value__ == "a@b.c"


def test_key_name_used_in_documents_but_not_in_python() -> None:
    address = Address(city="Paris", zip_code="75001")
    assert address.model_dump_doc() == {"city": "Paris", "zip": "75001"}
    assert address.model_dump() == {"city": "Paris", "zip_code": "75001"}
    assert Address.model_validate_doc({"city": "P", "zip": "1"}).zip_code == "1"


def test_validate_on_assignment() -> None:
    person = Person(name="Ann")
    with pytest.raises(ValidationError):
        person.name = 12  # type: ignore[assignment]
    assert person.name == "Ann"


def test_field_proxies_on_the_class() -> None:
    assert str(Person.name) == "name"
    assert str(Person.id) == "_id"
    assert str(Person.address.zip_code) == "address.zip"
    assert Person.name is Person.name
    with pytest.raises(AttributeError, match="no sub-field"):
        _ = Person.address.nope
    with pytest.raises(AttributeError):
        _ = Person.nope  # type: ignore[attr-defined]


def test_index_specs() -> None:
    keys = [dict(index.document["key"]) for index in Book.__anyodm__.indexes]
    assert keys == [{"title": 1}, {"title": 1, "pages": -1}]
    assert Book.__anyodm__.indexes[1].document["name"] == "title_pages"
    assert Publisher.__anyodm__.indexes[0].document["unique"] is True


def test_indexes_as_a_list() -> None:
    class Log(Model):
        model_config = {"indexes": ["level", ("at", -1)]}
        level: str
        at: int

    assert [dict(i.document["key"]) for i in Log.__anyodm__.indexes] == [{"level": 1}, {"at": -1}]


def test_references_info() -> None:
    assert Book.__anyodm__.references == {"author": Author}
    assert Author.__anyodm__.references == {"publisher": Publisher}
    assert Person.__anyodm__.references == {}


def test_parse_doc_with_default_factories() -> None:
    from anyodm.errors import DocumentParsingError

    class Strict(Model):
        items: list[int] = Field(default_factory=list)

    class Lenient(Model):
        model_config = {"parse_doc_with_default_factories": True}
        items: list[int] = Field(default_factory=list)

    oid = ObjectId()
    with pytest.raises(DocumentParsingError, match="items"):
        Strict.model_validate_doc({"_id": oid})
    assert Lenient.model_validate_doc({"_id": oid}).items == []


# ------------------------------------------------------------------ bad definitions


def test_two_primary_fields() -> None:
    with pytest.raises(TypeError, match=r"Bad.*primary field.*a, b"):

        class Bad(Model):
            a: int = Field(primary_field=True)
            b: int = Field(primary_field=True)


@pytest.mark.parametrize("key", ["$x", "a.b", ""])
def test_bad_key_names(key: str) -> None:
    with pytest.raises(TypeError, match=r"Bad\.f"):

        class Bad(Model):
            f: int = Field(key_name=key)


def test_duplicate_key_names() -> None:
    with pytest.raises(TypeError, match=r"Bad\.b.*already used"):

        class Bad(Model):
            a: int = Field(key_name="x")
            b: int = Field(key_name="x")


def test_reference_to_non_model() -> None:
    with pytest.raises(TypeError, match=r"Bad\.ref"):

        class Bad(Model):
            ref: Address = Reference()


def test_reference_in_unsupported_container() -> None:
    with pytest.raises(TypeError, match=r"Bad\.refs"):

        class Bad(Model):
            refs: dict[str, Publisher] = Reference()


def test_model_without_reference() -> None:
    with pytest.raises(TypeError, match=r"Bad\.publisher.*Reference\(\)"):

        class Bad(Model):
            publisher: Publisher

    with pytest.raises(TypeError, match=r"Bad2\.publishers"):

        class Bad2(Model):
            publishers: list[Publisher] = []


def test_unknown_config_key() -> None:
    with pytest.raises(TypeError, match=r"Bad.*'colection'"):

        class Bad(Model):
            model_config = {"colection": "x"}  # type: ignore[typeddict-unknown-key]


def test_embedded_model_rejects_model_keys() -> None:
    with pytest.raises(TypeError, match=r"Bad.*collection"):

        class Bad(EmbeddedModel):
            model_config = {"collection": "x"}

    with pytest.raises(TypeError, match=r"Bad2\.a.*primary"):

        class Bad2(EmbeddedModel):
            a: int = Field(primary_field=True)


def test_primary_field_key_name() -> None:
    with pytest.raises(TypeError, match=r"Bad\.a.*'_id'"):

        class Bad(Model):
            a: int = Field(primary_field=True, key_name="a")

    with pytest.raises(TypeError, match=r"Bad2\.b.*'_id'"):

        class Bad2(Model):
            b: int = Field(key_name="_id")


def test_author_model_fields() -> None:
    assert set(Author.model_fields) == {"id", "name", "publisher"}
