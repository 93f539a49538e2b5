"""Models of the bulk write tests."""

from __future__ import annotations

from anyodm import Delete as DeleteEvent
from anyodm import Field, Model, Reference, after_event, before_event
from anyodm import Save as SaveEvent


class Author(Model):
    name: str = Field(unique=True)


class Book(Model):
    title: str = Field(unique=True)
    pages: int = 0
    author: Author | None = Reference(default=None)


class Versioned(Model):
    model_config = {"optimistic_concurrency": True}  # noqa: RUF012
    name: str
    value: int = 0


CALLS: list[str] = []


class Hooked(Model):
    name: str

    @before_event(SaveEvent)
    def before_save(self) -> None:
        CALLS.append(f"before save {self.name}")

    @after_event(SaveEvent)
    def after_save(self) -> None:
        CALLS.append(f"after save {self.name}")

    @before_event(DeleteEvent)
    def before_delete(self) -> None:
        CALLS.append(f"before delete {self.name}")

    @after_event(DeleteEvent)
    def after_delete(self) -> None:
        CALLS.append(f"after delete {self.name}")
