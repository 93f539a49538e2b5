"""``EngineLifespan``: the engine opened and configured at start-up, handed to handlers,
closed at shutdown; a start-up that cannot go on fails and closes it.  (Handlers getting
it through ``Depends(lifespan.get_engine)`` under real servers: test_servers.py.)"""

from __future__ import annotations

import inspect
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from pymongo.database import Database
from pymongo.errors import InvalidOperation

from anyodm import Engine, LifespanError, PendingMigrationsError
from anyodm.asgi import EngineLifespan, EngineOptions
from tests.data_migrations.books import seed
from tests.startup.models import MIGRATION_MODULE, Book

from .apps import Order

ROOT = Path(__file__).resolve().parents[2]


def assert_closed(engine: Engine) -> None:
    with pytest.raises(InvalidOperation, match="after close"):
        engine.client.admin.command("ping")


async def test_the_engine_is_open_and_configured_while_the_application_runs(
    mongodb_uri: str, mongo_database: Database[Any]
) -> None:
    lifespan = EngineLifespan(mongodb_uri, mongo_database.name, models=[Order], max_threads=4)
    app = FastAPI(lifespan=lifespan)
    async with app.router.lifespan_context(app):
        engine = lifespan.engine
        assert isinstance(engine, Engine)
        assert await lifespan.get_engine() is engine
        assert app.state.engine is engine
        assert engine.database.name == mongo_database.name
        assert engine.thread_limiter.total_tokens == 4
        assert "item_1" in mongo_database.order.index_information()
        await engine.save(Order(item="x"))
    assert_closed(engine)
    assert not hasattr(app.state, "engine")
    with pytest.raises(LifespanError, match="not running"):
        _ = lifespan.engine
    # and it starts again
    async with app.router.lifespan_context(app):
        assert await lifespan.engine.count(Order) == 1


async def test_pending_migrations_fail_the_start_up_and_close_the_engine(
    mongodb_uri: str, mongo_database: Database[Any], tmp_path: Path
) -> None:
    (tmp_path / "0001_books.py").write_text(MIGRATION_MODULE)
    seed(mongo_database, 20)
    opened: list[Engine] = []
    original = Engine.configure_database

    async def spy(self: Engine, *args: Any, **kwargs: Any) -> None:
        opened.append(self)
        await original(self, *args, **kwargs)

    lifespan = EngineLifespan(mongodb_uri, mongo_database.name, models=[Book], migrations=tmp_path)
    app = FastAPI(lifespan=lifespan)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Engine, "configure_database", spy)
        with pytest.raises(PendingMigrationsError, match="0001_books"):
            async with app.router.lifespan_context(app):
                pytest.fail("the application must not start")
    assert_closed(opened[0])
    assert not hasattr(app.state, "engine")
    with pytest.raises(LifespanError):
        _ = lifespan.engine

    running = EngineLifespan(mongodb_uri, mongo_database.name, models=[Book],
                             migrations=tmp_path, on_pending="run")  # fmt: skip
    async with running(app):
        assert await running.engine.count(Book, Book.times == 1) == 20
    assert "name_1" in mongo_database.books.index_information()


async def test_started_twice_at_once_is_refused(
    mongodb_uri: str, mongo_database: Database[Any]
) -> None:
    lifespan = EngineLifespan(mongodb_uri, mongo_database.name)
    async with lifespan(object()):
        with pytest.raises(LifespanError, match="already runs"):
            async with lifespan(object()):
                pass
        assert isinstance(lifespan.engine, Engine)  # the first one is untouched


async def test_the_state_attribute(mongodb_uri: str, mongo_database: Database[Any]) -> None:
    app = FastAPI()
    app.state.engine = "the application's own"
    lifespan = EngineLifespan(mongodb_uri, mongo_database.name)
    with pytest.raises(LifespanError, match="state_attribute"):
        async with lifespan(app):
            pass
    assert app.state.engine == "the application's own"
    async with EngineLifespan(mongodb_uri, mongo_database.name, state_attribute="mongo")(app):
        assert isinstance(app.state.mongo, Engine)
    assert not hasattr(app.state, "mongo")
    not_set = EngineLifespan(mongodb_uri, mongo_database.name, state_attribute=None)
    async with not_set(app):
        assert app.state.engine == "the application's own"


async def test_it_composes_with_an_applications_own_lifespan(
    mongodb_uri: str, mongo_database: Database[Any]
) -> None:
    database = EngineLifespan(mongodb_uri, mongo_database.name, models=[Order])
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        async with database(app):
            events.append(f"started with {await database.engine.count(Order)} orders")
            yield
        events.append("stopped")

    app = FastAPI(lifespan=lifespan)
    async with app.router.lifespan_context(app):
        assert app.state.engine is database.engine
    assert events == ["started with 0 orders", "stopped"]


def test_bad_arguments_are_refused_when_it_is_made(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="on_pending"):
        EngineLifespan(on_pending="sometimes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="configure_database"):
        EngineLifespan(models=[Order, dict])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="state_attribute"):
        EngineLifespan(state_attribute="not an attribute")
    from anyodm.migrations import MigrationError

    with pytest.raises(MigrationError, match="no migrations at"):
        EngineLifespan(migrations=tmp_path / "missing")


def test_models_and_migrations_given_as_iterators_are_read_once() -> None:
    from tests.data_migrations.books import counted

    lifespan = EngineLifespan(models=iter([Order]), migrations=iter([counted()]))
    assert lifespan._models == [Order]
    assert isinstance(lifespan._migrations, list)
    assert len(lifespan._migrations) == 1


def test_the_engine_options_are_the_engines() -> None:
    keyword_only = [
        name
        for name, parameter in inspect.signature(Engine.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert sorted(EngineOptions.__annotations__) == sorted(keyword_only)


def test_the_module_imports_without_fastapi_or_starlette() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; sys.modules['starlette'] = None\n"
        "import anyodm.asgi\n"
        "print(sorted(anyodm.asgi.__all__))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "CancelOnDisconnect" in result.stdout


async def test_the_middleware_and_lifespan_under_a_plain_asgi_app(
    mongodb_uri: str, mongo_database: Database[Any], anyio_backend: str
) -> None:
    """No framework: the lifespan is an async context manager, the middleware wraps any
    ASGI callable."""
    from anyodm.asgi import CancelOnDisconnect

    database = EngineLifespan(mongodb_uri, mongo_database.name, models=[Order])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        count = await database.engine.count(Order)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(count).encode()})

    transport = httpx.ASGITransport(app=CancelOnDisconnect(app))
    async with database(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        with anyio.fail_after(10):
            assert (await c.get("/")).text == "0"
