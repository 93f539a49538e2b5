"""The models the saved-state machine plays with: few, but every kind of field a save
has to compare.

* ``Person``: scalars only; the target of references.
* ``Record``: scalars, a ``dict[str, Any]`` and a ``list[dict[str, Any]]`` (nested dicts
  and lists inside), an embedded model and a list of them, an optional reference and a
  list of references.
* ``Loose``: ``extra="allow"``: fields the class does not declare are stored too.
* ``Shape`` / ``Circle`` / ``Polygon``: a polymorphic family (``_t`` in each document).
* ``Ledger``: optimistic concurrency (a ``_rev`` in each document).
"""

from __future__ import annotations

from typing import Any

from anyodm import EmbeddedModel, Field, Model, Reference
from anyodm.model import ODMConfigDict


class Part(EmbeddedModel):
    label: str
    qty: int = 0
    notes: list[str] = Field(default_factory=list)


class Person(Model):
    name: str


class Record(Model):
    title: str
    count: int = 0
    ratio: float = 0.0
    meta: dict[str, Any] = Field(default_factory=dict)
    items: list[dict[str, Any]] = Field(default_factory=list)
    part: Part
    parts: list[Part] = Field(default_factory=list)
    owner: Person | None = Reference(default=None)
    people: list[Person] = Reference(default_factory=list)


class Loose(Model):
    model_config = ODMConfigDict(extra="allow")
    label: str


class Shape(Model):
    model_config = ODMConfigDict(polymorphic=True)
    name: str
    meta: dict[str, Any] = Field(default_factory=dict)


class Circle(Shape):
    radius: int = 1


class Polygon(Shape):
    sides: list[Part] = Field(default_factory=list)


class Ledger(Model):
    model_config = ODMConfigDict(optimistic_concurrency=True)
    label: str
    count: int = 0
    meta: dict[str, Any] = Field(default_factory=dict)


#: one model per collection (a family by its base)
COLLECTION_MODELS: tuple[type[Model], ...] = (Person, Record, Loose, Shape, Ledger)
