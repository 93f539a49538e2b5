"""The models and migration the start-up tests use.

``Book`` is what the code wants after ``0001_books`` (tests/data_migrations/books.py):
its unique index on ``name`` can only be built once every document has one, so a
start-up must migrate before it creates indexes.
"""

from __future__ import annotations

from anyodm import Field, Index, Model, query


class Book(Model):
    name: str = Field(unique=True)
    pages: int
    times: int = 0
    model_config = {  # noqa: RUF012
        "collection": "books",
        "indexes": lambda: [Index(query.desc(Book.pages), Book.name, name="by_pages")],
    }


class Shelf(Model):
    code: str = Field(index=True)
    room: str = ""


#: the indexes configure_database creates for Book, by key pattern (besides _id)
BOOK_INDEXES = {(("name", 1),), (("pages", -1), ("name", 1))}

MIGRATION_MODULE = """
from anyodm.migrations import DocumentMigration
from tests.data_migrations.books import backward, forward

migration = DocumentMigration("books", forward, backward, batch_size=10)
"""
