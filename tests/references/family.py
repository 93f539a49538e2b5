"""A three-level polymorphic family, and a model referencing its base."""

from __future__ import annotations

from anyodm import Field, Model, Reference
from anyodm.model import ODMConfigDict


class Vehicle(Model):
    model_config = ODMConfigDict(polymorphic=True, collection="vehicles")
    name: str
    wheels: int = Field(default=4, index=True)


class Car(Vehicle):
    doors: int = 4


class SportsCar(Car):
    model_config = ODMConfigDict(discriminator="sports")
    top_speed: int = Field(default=250, index=True)


class Bike(Vehicle):
    bell: bool = True


class Garage(Model):
    main: Vehicle = Reference()
    others: list[Vehicle] = Reference(default_factory=list)


class Pet(Model):
    """A family with optimistic concurrency: revision-checked writes keep to their class."""

    model_config = ODMConfigDict(polymorphic=True, collection="pets", optimistic_concurrency=True)
    name: str


class Cat(Pet):
    lives: int = 9


class Dog(Pet):
    good: bool = True
