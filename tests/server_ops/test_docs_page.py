"""docs/queries-and-updates.md: the operations send what the page says they send."""

from __future__ import annotations

import datetime
from decimal import Decimal

from bson import Decimal128
from pydantic import BaseModel

from anyodm import EmbeddedModel, Field, Model, Reference, update
from anyodm.model.projection import projection_for


class Address(EmbeddedModel):
    city: str = Field(key_name="town")


class Customer(Model):
    name: str


class Order(Model):
    attempts: int = Field(0, ge=0)
    total: Decimal = Decimal("0")
    tags: list[str] = Field(default_factory=list)
    scores: list[int] = Field(default_factory=list)
    addresses: list[Address] = Field(default_factory=list)
    address: Address | None = None
    shipped_at: datetime.datetime | None = None
    note: str | None = None
    customer: Customer = Reference()


class CityOnly(BaseModel):
    city: str


class OrderSummary(BaseModel):
    total: Decimal
    address: CityOnly | None = None


def test_the_table_of_operations() -> None:
    customer = Customer(name="c")
    assert update.set(Order.note, "x").as_dict() == {"$set": {"note": "x"}}
    assert update.set(Order.address.city, "Oslo").as_dict() == {"$set": {"address.town": "Oslo"}}
    assert update.unset(Order.note).as_dict() == {"$unset": {"note": ""}}
    assert update.inc(Order.attempts, 1).as_dict() == {"$inc": {"attempts": 1}}
    assert update.mul(Order.total, 2).as_dict() == {"$mul": {"total": Decimal128("2")}}
    assert update.min(Order.attempts, 3).as_dict() == {"$min": {"attempts": 3}}
    assert update.push(Order.tags, "a").as_dict() == {"$push": {"tags": {"$each": ["a"]}}}
    assert update.push(Order.tags, each=["a", "b"], position=0, slice=10).as_dict() == {
        "$push": {"tags": {"$each": ["a", "b"], "$position": 0, "$slice": 10}}
    }
    assert update.add_to_set(Order.tags, "a").as_dict() == {"$addToSet": {"tags": {"$each": ["a"]}}}
    assert update.pull(Order.tags, "a").as_dict() == {"$pull": {"tags": "a"}}
    assert update.pull(Order.scores, {"$gt": 3}).as_dict() == {"$pull": {"scores": {"$gt": 3}}}
    assert update.pull(Order.addresses, Address.city == "Oslo").as_dict() == {
        "$pull": {"addresses": {"town": {"$eq": "Oslo"}}}
    }
    assert update.pull(Order.addresses, Address(city="Oslo")).as_dict() == {
        "$pull": {"addresses": {"$eq": {"town": "Oslo"}}}
    }
    assert update.current_date(Order.shipped_at).as_dict() == {"$currentDate": {"shipped_at": True}}
    assert update.set(Order.customer, customer).as_dict() == {"$set": {"customer": customer.id}}


def test_the_projection_example() -> None:
    assert projection_for(Order, OrderSummary).keys == {"total": 1, "address.town": 1, "_id": 0}
