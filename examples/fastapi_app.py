"""A FastAPI app whose request and response models are anyodm models.

    cd examples
    MONGODB_URI=mongodb://localhost:27017 hypercorn --worker-class trio fastapi_app:app

runs it on trio (hypercorn's trio worker; ``--worker-class asyncio`` or uvicorn run it on
asyncio, unchanged).  ``tests/examples/test_fastapi_app.py`` drives it through its ASGI
interface with httpx, on both event loops.

The models are pydantic v2 models, so FastAPI validates request bodies with them and
serialises responses with them; an ``ObjectId`` is its 24-hex string in JSON and in paths.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException

from anyodm import DuplicateKeyError, EmbeddedModel, Engine, Field, Model, ObjectId, query


class Address(EmbeddedModel):
    city: str
    zip_code: str = Field(key_name="zip")


class Author(Model):
    name: str = Field(unique=True, min_length=1)
    address: Address | None = None  # optional embedded models work
    tags: list[str] = Field(default_factory=list)


class AuthorUpdate(EmbeddedModel):
    """A PATCH body: only the fields sent are applied."""

    address: Address | None = None
    tags: list[str] | None = None


def create_app(uri: str | None = None, database: str = "anyodm_fastapi") -> FastAPI:
    """The app; ``uri`` defaults to ``$MONGODB_URI``, read when the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Engine(uri or os.environ["MONGODB_URI"], database=database) as engine:
            await engine.configure_database([Author])
            app.state.engine = engine
            yield

    app = FastAPI(title="anyodm authors", lifespan=lifespan)

    def engine() -> Engine:
        result: Engine = app.state.engine
        return result

    async def author_or_404(author_id: ObjectId) -> Author:
        author = await engine().find_one(Author, Author.id == author_id)
        if author is None:
            raise HTTPException(status_code=404, detail=f"no author {author_id}")
        return author

    @app.post("/authors", status_code=201)
    async def create_author(author: Author) -> Author:
        try:
            return await engine().save(author)
        except DuplicateKeyError:
            raise HTTPException(
                status_code=409, detail=f"an author named {author.name!r} exists"
            ) from None

    @app.get("/authors")
    async def list_authors(tag: str | None = None, limit: int = 100) -> list[Author]:
        queries = [] if tag is None else [query.in_(Author.tags, [tag])]
        return await engine().find(Author, *queries, sort=Author.name, limit=limit)

    @app.get("/authors/{author_id}")
    async def get_author(author_id: ObjectId) -> Author:
        return await author_or_404(author_id)

    @app.patch("/authors/{author_id}")
    async def update_author(author_id: ObjectId, update: AuthorUpdate) -> Author:
        author = await author_or_404(author_id)
        author.model_update(update, exclude_unset=True)
        return await engine().save(author)  # sends only the changed fields

    # response_model=None: older FastAPI releases (0.115.0, our floor) read "-> None" under
    # `from __future__ import annotations` as a response body and refuse the 204.
    @app.delete("/authors/{author_id}", status_code=204, response_model=None)
    async def delete_author(author_id: ObjectId) -> None:
        await engine().delete(await author_or_404(author_id))

    return app


app = create_app()
