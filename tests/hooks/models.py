"""Models with plain (def) hooks that record their calls in ``CALLS``: usable on both
engines."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from anyodm import (
    Delete,
    EmbeddedModel,
    Field,
    HookContext,
    Insert,
    Model,
    Reference,
    Save,
    SyncHookContext,
    Update,
    Validate,
    after_event,
    before_event,
)
from anyodm.model import ODMConfigDict

#: (hook, instance name, ...) for each hook call, in order
CALLS: list[tuple[Any, ...]] = []


def names(context: HookContext | SyncHookContext) -> list[str]:
    return sorted(event.name for event in context.events)


class Note(Model):
    text: str
    tags: list[str] = Field(default_factory=list)
    updated: datetime | None = None

    @before_event(Save)
    def before_save(self) -> None:
        CALLS.append(("before_save", self.text))

    @before_event(Insert)
    def before_insert(self, context: HookContext | SyncHookContext) -> None:
        CALLS.append(("before_insert", self.text, names(context)))

    @before_event(Update)
    def before_update(self) -> None:
        CALLS.append(("before_update", self.text))

    @before_event(Validate)
    def before_validate(self) -> None:
        CALLS.append(("before_validate", self.text))

    @after_event(Validate)
    def after_validate(self) -> None:
        CALLS.append(("after_validate", self.text))

    @after_event(Save, Insert, Update)
    def after_write(self, context: HookContext | SyncHookContext) -> None:
        CALLS.append(("after_write", self.text, names(context)))

    @before_event(Delete)
    def before_delete(self) -> None:
        CALLS.append(("before_delete", self.text))

    @after_event(Delete)
    def after_delete(self) -> None:
        CALLS.append(("after_delete", self.text))


class Stamped(Model):
    """A before-save hook that sets a field."""

    name: str
    count: int = 0
    updated: datetime | None = None

    @before_event(Save)
    def touch(self) -> None:
        self.updated = datetime.now(timezone.utc).replace(microsecond=0)
        CALLS.append(("touch", self.name))


class Refused(Exception):
    pass


class Guarded(Model):
    """Hooks that raise when told to (``fail`` names the hook)."""

    name: str
    fail: str = ""

    @before_event(Save, Delete)
    def check(self) -> None:
        CALLS.append(("check", self.name))
        if self.fail == "before":
            raise Refused(self.name)

    @after_event(Save, Delete)
    def report(self) -> None:
        CALLS.append(("report", self.name))
        if self.fail == "after":
            raise Refused(self.name)


class Author(Model):
    name: str

    @before_event(Save)
    def author_saved(self) -> None:
        CALLS.append(("author_saved", self.name))


class Book(Model):
    title: str
    author: Author = Reference()

    @before_event(Save)
    def book_saved(self) -> None:
        CALLS.append(("book_saved", self.title))


class Address(EmbeddedModel):
    city: str
    zips: list[int] = Field(default_factory=list)


class Checked(Model):
    """Validated again before each save (no hooks)."""

    model_config = ODMConfigDict(validate_on_save=True)

    name: str
    scores: list[int] = Field(default_factory=list)
    address: Address | None = None
    by_name: dict[str, int] = Field(default_factory=dict)


# -- inheritance -------------------------------------------------------------------------


class Base(Model):
    name: str

    @before_event(Save)
    def first(self) -> None:
        CALLS.append(("Base.first", type(self).__name__))

    @before_event(Save)
    def second(self) -> None:
        CALLS.append(("Base.second", type(self).__name__))

    @before_event(Save)
    def third(self) -> None:
        CALLS.append(("Base.third", type(self).__name__))


class Child(Base):
    @before_event(Save)
    def own(self) -> None:
        CALLS.append(("Child.own", type(self).__name__))

    @before_event(Save)
    def second(self) -> None:  # replaces Base.second, in its place
        CALLS.append(("Child.second", type(self).__name__))

    def third(self) -> None:  # not decorated: no longer a hook
        CALLS.append(("Child.third", type(self).__name__))


class Animal(Model):
    model_config = ODMConfigDict(polymorphic=True)

    name: str

    @before_event(Save)
    def animal_hook(self) -> None:
        CALLS.append(("Animal.animal_hook", type(self).__name__))


class Dog(Animal):
    @before_event(Save, Insert)  # fired twice by an insert: runs once
    def dog_hook(self) -> None:
        CALLS.append(("Dog.dog_hook", type(self).__name__))


class Normalized(Model):
    """Validate hooks around the re-validation."""

    model_config = ODMConfigDict(validate_on_save=True)

    scores: list[int] = Field(default_factory=list)

    @before_event(Validate)
    def drop_blanks(self) -> None:
        self.scores[:] = [score for score in self.scores if score != ""]  # type: ignore[comparison-overlap]

    @after_event(Validate)
    def validated(self) -> None:
        CALLS.append(("validated", list(self.scores)))


class Pal(Model):
    name: str


class Friend(Model):
    model_config = ODMConfigDict(validate_on_save=True)

    name: str
    best: Pal | None = Reference(default=None)
    others: list[Friend] = Reference(default_factory=list, lazy=True)
