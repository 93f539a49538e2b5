"""A FastAPI app whose request and response models are anyodm models.

    cd examples
    MONGODB_URI=mongodb://localhost:27017 hypercorn --worker-class trio fastapi_app:app

runs it on trio (hypercorn's trio worker; ``--worker-class asyncio`` or
``uvicorn fastapi_app:app`` run it on asyncio, unchanged).
``tests/examples/test_fastapi_app.py`` drives it through its ASGI interface with httpx,
on both event loops.

``EngineLifespan`` opens the engine when the server starts (creating the indexes) and
closes it when it stops; handlers get it through ``Depends``.  ``CancelOnDisconnect``
cancels a request whose client went away before its answer, so its transaction is
aborted rather than committed for nobody.  The models are pydantic v2 models, so
FastAPI validates request bodies with them and serialises responses with them; an
``ObjectId`` is its 24-hex string in JSON and in paths.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations, and
# `uses_engine` below is local to create_app.

import os
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException

from anyodm import DuplicateKeyError, EmbeddedModel, Engine, Field, Model, ObjectId, query
from anyodm.asgi import CancelOnDisconnect, EngineLifespan


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
    """The app; ``uri`` defaults to ``$MONGODB_URI`` (else a server on localhost)."""
    mongo = EngineLifespan(uri or os.environ.get("MONGODB_URI"), database, models=[Author])
    app = FastAPI(title="anyodm authors", lifespan=mongo)
    app.add_middleware(CancelOnDisconnect)
    uses_engine = Depends(mongo.get_engine)  # handlers: engine: Annotated[Engine, uses_engine]

    async def author_or_404(engine: Engine, author_id: ObjectId) -> Author:
        author = await engine.find_one(Author, Author.id == author_id)
        if author is None:
            raise HTTPException(status_code=404, detail=f"no author {author_id}")
        return author

    @app.post("/authors", status_code=201)
    async def create_author(author: Author, engine: Annotated[Engine, uses_engine]) -> Author:
        try:
            return await engine.save(author)
        except DuplicateKeyError:
            raise HTTPException(
                status_code=409, detail=f"an author named {author.name!r} exists"
            ) from None

    @app.post("/authors/batch", status_code=201)
    async def create_authors(
        authors: list[Author], engine: Annotated[Engine, uses_engine]
    ) -> list[Author]:
        """All or none: one transaction (aborted if the client leaves before the answer)."""
        try:
            async with engine.transaction() as tx:
                await tx.save_all(authors)
        except DuplicateKeyError as exc:
            raise HTTPException(status_code=409, detail=f"nothing saved: {exc}") from None
        return authors

    @app.get("/authors")
    async def list_authors(
        engine: Annotated[Engine, uses_engine], tag: str | None = None, limit: int = 100
    ) -> list[Author]:
        queries = [] if tag is None else [query.in_(Author.tags, [tag])]
        return await engine.find(Author, *queries, sort=Author.name, limit=limit)

    @app.get("/authors/{author_id}")
    async def get_author(author_id: ObjectId, engine: Annotated[Engine, uses_engine]) -> Author:
        return await author_or_404(engine, author_id)

    @app.patch("/authors/{author_id}")
    async def update_author(
        author_id: ObjectId, update: AuthorUpdate, engine: Annotated[Engine, uses_engine]
    ) -> Author:
        author = await author_or_404(engine, author_id)
        author.model_update(update, exclude_unset=True)
        return await engine.save(author)  # sends only the changed fields

    # response_model=None: FastAPI 0.115.0 (our floor) may take "-> None" for a response
    # body and refuse the 204.
    @app.delete("/authors/{author_id}", status_code=204, response_model=None)
    async def delete_author(author_id: ObjectId, engine: Annotated[Engine, uses_engine]) -> None:
        await engine.delete(await author_or_404(engine, author_id))

    return app


app = create_app()
