"""Models of the collection-kinds tests: a time-series collection and views."""

from __future__ import annotations

from datetime import datetime, timedelta

from anyodm import EmbeddedModel, Field, Model, ObjectId, Reference, TimeSeries, View


class Sensor(EmbeddedModel):
    site: str
    number: int


class Reading(Model):
    at: datetime
    sensor: Sensor = Field(key_name="s")
    celsius: float = Field(index=True)

    model_config = {  # noqa: RUF012
        "collection": "readings",
        "timeseries": TimeSeries(
            time_field="at",
            meta_field="sensor",
            granularity="minutes",
            expire_after=timedelta(days=30),
        ),
    }


class Publisher(Model):
    name: str


class Book(Model):
    title: str
    pages: int
    publisher: Publisher = Reference()


class LongBook(Model):
    """Books of more than 300 pages, their titles only (and the publisher's key)."""

    title: str
    publisher: Publisher = Reference()

    model_config = {  # noqa: RUF012
        "collection": "long_books",
        "view": View(
            source=Book,
            pipeline=[
                {"$match": Book.pages > 300},
                {"$project": {Book.title: 1, Book.publisher: 1}},
            ],
        ),
    }


class PagesPerPublisher(Model):
    """A view grouping books: its primary key is the publisher's key."""

    id: ObjectId = Field(primary_field=True)
    books: int
    pages: int

    model_config = {  # noqa: RUF012
        "view": View(
            source=Book,
            pipeline=[
                {
                    "$group": {
                        "_id": Book.publisher,
                        "books": {"$sum": 1},
                        "pages": {"$sum": Book.pages},
                    }
                }
            ],
        ),
    }
