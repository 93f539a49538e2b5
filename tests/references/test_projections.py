"""Projections naming lists of references, or embedded models that hold references:
the view gets the referenced documents (in stored order) or their keys."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from anyodm import ObjectId
from anyodm.errors import DocumentParsingError
from tests.references.models import Anthology, Author, Book, Manual, Org, Part, Reviewer


class BookAuthors(BaseModel):
    title: str
    authors: list[Author]
    editor: Author | None


class BookKeys(BaseModel):
    authors: list[ObjectId]


class Contributors(BaseModel):
    contributors: list[Author | None]


class ManualParts(BaseModel):
    parts: list[Part]


async def test_lists_of_references_in_a_view(engine: Any) -> None:
    a, b = Author(name="a"), Author(name="b")
    await engine.save(Book(title="t", authors=[b, a, b], editor=a))
    await engine.save(Anthology(title="x", contributors=[a, None]))
    (view,) = await engine.find(Book, projection=BookAuthors)
    assert [author.name for author in view.authors] == ["b", "a", "b"]
    assert view.editor == a
    keys = await engine.find_one(Book, projection=BookKeys)
    assert keys.authors == [b.id, a.id, b.id]
    found = await engine.find_one(Anthology, projection=Contributors)
    assert found.contributors == [a, None]


async def test_embedded_models_holding_references_in_a_view(engine: Any) -> None:
    org = Org(name="o")
    r1, r2 = Reviewer(name="r1", org=org), Reviewer(name="r2", org=org)
    await engine.save(Manual(title="m", parts=[Part(title="1", reviewers=[r2, r1])]))
    (view,) = await engine.find(Manual, projection=ManualParts)
    assert [(r.name, r.org.name) for r in view.parts[0].reviewers] == [("r2", "o"), ("r1", "o")]


class ReviewersOnly(BaseModel):
    reviewers: list[Reviewer]


class ManualReviewers(BaseModel):
    parts: list[ReviewersOnly]


async def test_a_view_names_a_missing_target_inside_embedded_models(engine: Any) -> None:
    org = Org(name="o")
    gone = Reviewer(name="gone", org=org)
    manual = Manual(
        title="m", parts=[Part(title="1", reviewers=[Reviewer(name="r", org=org), gone])]
    )
    await engine.save(manual)
    engine.database["reviewer"].delete_one({"_id": gone.id})
    for view in (None, ManualParts, ManualReviewers):
        with pytest.raises(
            DocumentParsingError, match=r"parts\.0\.reviewers\.1: referenced Reviewer"
        ):
            await engine.find_one(Manual, projection=view)


async def test_a_stored_value_that_does_not_fit_is_named_on_the_model(engine: Any) -> None:
    engine.database["book"].insert_one({"title": "t", "authors": "not a list"})
    with pytest.raises(DocumentParsingError, match=r"model Book: .*authors"):
        await engine.find_one(Book, projection=BookKeys)
