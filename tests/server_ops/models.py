"""Models for the server-side operation tests: one field of each kind anyodm stores."""

from __future__ import annotations

import datetime
import enum
import uuid
from decimal import Decimal

from bson import Int64, ObjectId
from pydantic import BaseModel

from anyodm import EmbeddedModel, Field, Model, Reference


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(EmbeddedModel):
    street: str = ""
    city: str = Field(key_name="town")


class Publisher(Model):
    name: str


class Item(Model):
    name: str
    count: int = Field(0, ge=0)
    score: float = 0.0
    price: Decimal = Decimal("0")
    big: Int64 = Field(default_factory=lambda: Int64(0))
    when: datetime.datetime = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    color: Color = Color.RED
    token: uuid.UUID = Field(default_factory=uuid.uuid4)
    other: ObjectId | None = None
    tags: list[str] = Field(default_factory=list, key_name="labels")
    labels_set: set[str] = Field(default_factory=set)
    scores: list[int] = Field(default_factory=list)
    address: Address | None = None
    history: list[Address] = Field(default_factory=list)
    note: str | None = None
    required_note: str | None


class Book(Model):
    title: str
    pages: int = 0
    publisher: Publisher = Reference()


class Counter(Model):
    name: str = Field(primary_field=True)
    value: int = 0


class ItemName(BaseModel):
    name: str
    count: int


class CityOnly(BaseModel):
    city: str


class ItemWhere(BaseModel):
    name: str
    price: Decimal
    address: CityOnly | None = None


class BookWithPublisher(BaseModel):
    title: str
    publisher: Publisher


class BookPublisherId(BaseModel):
    title: str
    publisher: ObjectId

    model_config = {"arbitrary_types_allowed": True}


class PagesByPublisher(BaseModel):
    publisher: ObjectId
    total: int

    model_config = {"arbitrary_types_allowed": True}
