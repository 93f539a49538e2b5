"""Models shared by the model-layer tests."""

# ruff: noqa: RUF012 - pydantic field defaults (ruff cannot tell Model is pydantic)

from __future__ import annotations

import datetime
from decimal import Decimal

from anyodm.model import Binary, EmbeddedModel, Field, Index, Model, Reference


class Address(EmbeddedModel):
    city: str
    zip_code: str = Field(default="", key_name="zip")


class Person(Model):
    name: str
    address: Address | None = None
    addresses: list[Address] = []
    by_label: dict[str, Address] = {}
    tags: list[str] = []
    scores: list[int] = []
    born: datetime.datetime | None = None
    balance: Decimal = Decimal("0")
    blob: bytes = b""
    raw: Binary | None = None


class Publisher(Model):
    model_config = {"collection": "publishers"}
    name: str = Field(unique=True)
    country: str = "FR"


class Author(Model):
    name: str
    publisher: Publisher = Reference()


class Book(Model):
    model_config = {
        "collection": "books",
        "indexes": lambda: [Index(Book.title, Book.pages.desc(), name="title_pages")],
    }
    title: str = Field(index=True)
    pages: int = 0
    author: Author = Reference()
