"""A computed field, set by the server for each batch (an update pipeline)."""

from anyodm.migrations import UpdateMigration

migration = UpdateMigration(
    "migration_example_books",
    forward=[{"$set": {"short": {"$lt": ["$pages", 200]}}}],
    backward={"$unset": {"short": ""}},
)
