"""The document validator and serializer are compiled from the rewritten schemas (not
the models' own), with no private pydantic-core argument, and give real instances."""

from __future__ import annotations

from typing import Union

from anyodm import EmbeddedModel, Field, Model


class Cat(EmbeddedModel):
    name: str = Field(key_name="n")


class Dog(EmbeddedModel):
    barks: int = Field(key_name="b")


class Custom(EmbeddedModel):
    value: int = Field(key_name="v")

    def __new__(cls, *args: object, **kwargs: object) -> Custom:
        return super().__new__(cls)  # a model with its own __new__ still parses


class Home(Model):
    pets: list[Union[Cat, Dog]]  # noqa: UP007
    best: Cat | None = None
    custom: Custom | None = None


def test_parsed_instances_are_of_the_real_classes() -> None:
    home = Home(pets=[Cat(name="a"), Dog(barks=2)], best=Cat(name="b"), custom=Custom(value=1))
    doc = home.model_dump_doc()
    assert doc["pets"] == [{"n": "a"}, {"b": 2}]  # each alternative's stored keys
    assert doc["custom"] == {"v": 1}
    parsed = Home.model_validate_doc(doc)
    assert type(parsed) is Home
    assert [type(pet) for pet in parsed.pets] == [Cat, Dog]
    assert type(parsed.best) is Cat
    assert type(parsed.custom) is Custom
    assert parsed == home
    assert parsed.model_dump_doc() == doc
