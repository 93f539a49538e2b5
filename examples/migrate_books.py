"""A data migration on trio: cancelled half-way by a deadline, resumed, then reverted.

    MONGODB_URI=mongodb://... python examples/migrate_books.py

The migrations are the modules in ``examples/migrations/`` (the same directory works with
``python -m anyodm migrate up --path examples/migrations``).  What it shows:

1. A dry run reads and converts every document and writes nothing.
2. A run under a deadline stops part-way: the batch in flight is aborted, the lock is
   given back, the checkpoint says how far it got.
3. The next run resumes from the checkpoint: every book is migrated exactly once.
4. ``down=2`` runs the backward steps; the books are as they were.
"""

from __future__ import annotations

from pathlib import Path

import pymongo
import trio
from bank import mongodb_uri_or_exit

from anyodm import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BOOKS = 1_000


async def main(uri: str) -> None:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(uri)
    client.drop_database("anyodm_example_migrations")
    engine = Engine(client, "anyodm_example_migrations")
    books = engine.database["migration_example_books"]
    books.insert_many([{"title": f"book {i}", "pages": str(i)} for i in range(BOOKS)])

    dry = await engine.migrate(MIGRATIONS, dry_run=True)
    print(dry)
    print(f"after the dry run: {books.count_documents({'title': {'$exists': True}})} books "
          "still have a title")  # fmt: skip

    with trio.move_on_after(0.3) as scope:
        await engine.migrate(MIGRATIONS)
    for state in await engine.migration_status(MIGRATIONS):
        print("after the deadline:", state.describe())
    record = engine.database["migrations"].find_one({"_id": "0001_rename_title"}) or {}
    migrated = books.count_documents({"name": {"$exists": True}})
    print(f"deadline passed: {scope.cancelled_caught}; checkpointed {record.get('processed')} "
          f"books, {migrated} migrated; lock held: {record.get('lock') is not None}")  # fmt: skip

    report = await engine.migrate(MIGRATIONS)
    print(report)
    once = books.count_documents({"pages": {"$type": "int"}, "title": {"$exists": False}})
    print(f"PROVED: {once} of {BOOKS} books migrated, each once" if once == BOOKS else "FAILED")

    back = await engine.migrate(MIGRATIONS, down=2)
    print(back)
    restored = books.count_documents({"pages": {"$type": "string"}, "short": {"$exists": False}})
    print(f"PROVED: {restored} books reverted" if restored == BOOKS else "FAILED")
    client.drop_database("anyodm_example_migrations")
    client.close()


if __name__ == "__main__":
    trio.run(main, mongodb_uri_or_exit())
