"""Books stored their title under "title" and their page count as a string; the new
model calls it "name" and stores an int."""

from anyodm import Model
from anyodm.migrations import ModelMigration


class BookV1(Model):
    title: str
    pages: str
    model_config = {"collection": "migration_example_books"}  # noqa: RUF012


class BookV2(Model):
    name: str
    pages: int
    model_config = {"collection": "migration_example_books"}  # noqa: RUF012


def forward(old: BookV1) -> BookV2:
    return BookV2(id=old.id, name=old.title, pages=int(old.pages))


def backward(new: BookV2) -> BookV1:
    return BookV1(id=new.id, title=new.name, pages=str(new.pages))


migration = ModelMigration(BookV1, BookV2, forward, backward, batch_size=100)
