"""wheel-check's plugin run: anyodm's fixtures as a user's test suite meets them."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import OperationFailure

from anyodm import Model


class Item(Model):
    name: str


@pytest.mark.anyio
async def test_async_engine(anyodm_engine: Any) -> None:
    await anyodm_engine.save(Item(name="a"))
    assert await anyodm_engine.count(Item) == 1


def test_sync_engine_and_failpoint(anyodm_sync_engine: Any, failpoint: Any) -> None:
    anyodm_sync_engine.save(Item(name="b"))
    failpoint(["find"], error_code=2)
    with pytest.raises(OperationFailure):
        anyodm_sync_engine.find_one(Item)
    assert anyodm_sync_engine.count(Item) == 1


def test_fresh_database(mongo_database: Any) -> None:
    assert mongo_database.name.startswith("anyodm_test_")
    assert mongo_database.list_collection_names() == []
