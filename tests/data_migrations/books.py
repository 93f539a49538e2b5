"""The migrations the tests run: ``books`` from {title: str, pages: "12"} to
{name: str, pages: 12}, counting in ``times`` how often each document was migrated."""

from __future__ import annotations

import os
from typing import Any

from pymongo.database import Database

from anyodm import Model
from anyodm.migrations import DocumentMigration, ModelMigration, UpdateMigration

#: Documents per test migration (ANYODM_MIGRATION_DOCS=100000 for the manual run).
N = int(os.environ.get("ANYODM_MIGRATION_DOCS", "300"))
#: Documents per batch.
BATCH = int(os.environ.get("ANYODM_MIGRATION_BATCH", "20"))


class BookV1(Model):
    title: str
    pages: str
    model_config = {"collection": "books"}  # noqa: RUF012


class BookV2(Model):
    name: str
    pages: int
    model_config = {"collection": "books"}  # noqa: RUF012


def forward(doc: dict[str, Any]) -> dict[str, Any]:
    return {"name": doc["title"], "pages": int(doc["pages"]), "times": doc.get("times", 0) + 1}


def backward(doc: dict[str, Any]) -> dict[str, Any]:
    return {"title": doc["name"], "pages": str(doc["pages"]), "times": doc["times"]}


def counted(batch_size: int = BATCH, **options: Any) -> DocumentMigration:
    """Rename + type change; a document migrated twice would fail (no ``title``)."""
    return DocumentMigration(
        "books", forward, backward, name="0001_books", batch_size=batch_size, **options
    )


def by_models(batch_size: int = BATCH) -> ModelMigration:
    return ModelMigration(
        BookV1,
        BookV2,
        forward=lambda b: BookV2(id=b.id, name=b.title, pages=int(b.pages)),
        backward=lambda b: BookV1(id=b.id, title=b.name, pages=str(b.pages)),
        name="0001_books",
        batch_size=batch_size,
    )


def flagged(batch_size: int = BATCH) -> UpdateMigration:
    return UpdateMigration(
        BookV2,
        [{"$set": {"short": {"$lt": ["$pages", 100]}}}],
        {"$unset": {"short": ""}},
        name="0002_short",
        batch_size=batch_size,
    )


def seed(db: Database[Any], n: int = N, collection: str = "books") -> None:
    db[collection].insert_many(
        [{"title": f"book {i}", "pages": str(i)} for i in range(n)], ordered=False
    )


def assert_migrated_once(db: Database[Any], n: int = N, collection: str = "books") -> None:
    coll = db[collection]
    assert coll.count_documents({}) == n
    assert coll.count_documents({"title": {"$exists": True}}) == 0
    assert coll.count_documents({"times": 1, "pages": {"$type": "int"}}) == n


def record(db: Database[Any], name: str = "0001_books") -> dict[str, Any]:
    found = db.migrations.find_one({"_id": name})
    assert found is not None
    return found
