"""Models with lists of references and optional references."""

from __future__ import annotations

from anyodm import BackReference, EmbeddedModel, Field, Model, Reference


class Author(Model):
    name: str


class Publisher(Model):
    name: str


class Book(Model):
    title: str
    authors: list[Author] = Reference()
    editor: Author | None = Reference(default=None)


class Anthology(Model):
    title: str
    contributors: list[Author | None] = Reference(default_factory=list)


class Edition(Model):
    """A list of references whose targets have references of their own."""

    year: int
    books: list[Book] = Reference()


class Chapter(EmbeddedModel):
    title: str
    authors: list[Author] = Reference(key_name="by")


class Volume(Model):
    chapters: list[Chapter] = Field(default_factory=list)
    lead: Chapter | None = None


class Writer(Model):
    """Loads the documents pointing at it: single and list references."""

    name: str
    essays: list[Essay] = BackReference("writer")
    collaborations: list[Essay] = BackReference("coauthors")


class Essay(Model):
    title: str
    writer: Writer = Reference()
    coauthors: list[Writer] = Reference(default_factory=list)


class Member(Model):
    """Lazy references: not loaded by finds, so they may form cycles."""

    name: str
    mentor: Member | None = Reference(default=None, lazy=True)
    friends: list[Member] = Reference(default_factory=list, lazy=True)
    club: Club | None = Reference(default=None, lazy=True)


class Club(Model):
    name: str
    owner: Author | None = Reference(default=None)


class Org(Model):
    name: str


class Reviewer(Model):
    name: str
    org: Org = Reference()


class Part(EmbeddedModel):
    """An embedded model holding a list of references whose targets have references."""

    title: str
    reviewers: list[Reviewer] = Reference(default_factory=list)


class Manual(Model):
    title: str
    parts: list[Part] = Field(default_factory=list)


class Scholar(Model):
    """Back-references through references held in embedded models."""

    name: str
    led: list[Paper] = BackReference("meta.lead")
    reviewed: list[Paper] = BackReference("reviews.by")
    seconded: list[Paper] = BackReference("extra.second")


class PaperMeta(EmbeddedModel):
    lead: Scholar = Reference()
    second: Scholar | None = Reference(default=None)


class Review(EmbeddedModel):
    grade: int
    by: list[Scholar] = Reference(key_name="people")


class Paper(Model):
    title: str
    meta: PaperMeta
    reviews: list[Review] = Field(default_factory=list)
    extra: PaperMeta | None = None
