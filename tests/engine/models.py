"""Models shared by the engine tests."""

from __future__ import annotations

from anyodm import EmbeddedModel, Field, Model, Reference


class Address(EmbeddedModel):
    street: str
    city: str


class Country(Model):
    name: str


class Publisher(Model):
    name: str
    founded: int
    country: Country = Reference()


class Book(Model):
    title: str
    pages: int
    tags: list[str] = Field(default_factory=list)
    publisher: Publisher = Reference()


class Author(Model):
    name: str = Field(unique=True)
    age: int = Field(index=True)
    address: Address | None = None


class Account(Model):
    owner: str
    balance: int = 0


class Sku(Model):
    code: str = Field(primary_field=True)
    stock: int = 0
