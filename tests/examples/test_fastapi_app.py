"""examples/fastapi_app.py through its ASGI interface (httpx), on asyncio and on trio."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("anyodm_example_fastapi_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = load_example()


@pytest.fixture
async def client(mongodb_uri: str, mongo_database: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = example.create_app(mongodb_uri, database=mongo_database.name)
    async with app.router.lifespan_context(app):  # httpx's transport runs no lifespan
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_create_read_update_delete(client: httpx.AsyncClient, mongo_database: Any) -> None:
    created = await client.post(
        "/authors", json={"name": "Ursula", "address": {"city": "Portland", "zip_code": "97201"}}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    author_id = body["id"]
    assert isinstance(author_id, str)
    assert len(author_id) == 24
    int(author_id, 16)
    assert body["address"] == {"city": "Portland", "zip_code": "97201"}

    stored = mongo_database.author.find_one({"name": "Ursula"})
    assert str(stored["_id"]) == author_id
    assert stored["address"] == {"city": "Portland", "zip": "97201"}  # key_name in the db

    fetched = await client.get(f"/authors/{author_id}")
    assert fetched.status_code == 200
    assert fetched.json() == body

    patched = await client.patch(f"/authors/{author_id}", json={"tags": ["sf"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["tags"] == ["sf"]
    assert patched.json()["address"] == body["address"]  # not sent, so not changed

    listed = await client.get("/authors", params={"tag": "sf"})
    assert [a["name"] for a in listed.json()] == ["Ursula"]

    deleted = await client.delete(f"/authors/{author_id}")
    assert deleted.status_code == 204
    assert (await client.get(f"/authors/{author_id}")).status_code == 404


async def test_optional_embedded_model_may_be_null(client: httpx.AsyncClient) -> None:
    created = await client.post("/authors", json={"name": "Nobody", "address": None})
    assert created.status_code == 201
    assert created.json()["address"] is None


async def test_bad_input_is_a_422_or_409(client: httpx.AsyncClient) -> None:
    assert (await client.post("/authors", json={"name": ""})).status_code == 422
    assert (await client.get("/authors/not-an-object-id")).status_code == 422
    assert (await client.post("/authors", json={"name": "Twice"})).status_code == 201
    duplicate = await client.post("/authors", json={"name": "Twice"})
    assert duplicate.status_code == 409
    assert "Twice" in duplicate.json()["detail"]


async def test_a_batch_is_saved_whole_or_not_at_all(
    client: httpx.AsyncClient, mongo_database: Any
) -> None:
    created = await client.post("/authors/batch", json=[{"name": "A"}, {"name": "B"}])
    assert created.status_code == 201, created.text
    assert [a["name"] for a in created.json()] == ["A", "B"]
    clash = await client.post("/authors/batch", json=[{"name": "C"}, {"name": "A"}])
    assert clash.status_code == 409
    assert "nothing saved" in clash.json()["detail"]
    assert sorted(a["name"] for a in mongo_database.author.find()) == ["A", "B"]


def test_the_app_uses_the_disconnect_middleware_and_the_engine_lifespan() -> None:
    from anyodm.asgi import CancelOnDisconnect, EngineLifespan

    app = example.create_app("mongodb://localhost:1")  # nothing connects until start-up
    assert any(m.cls is CancelOnDisconnect for m in app.user_middleware)
    assert isinstance(app.router.lifespan_context, EngineLifespan)
