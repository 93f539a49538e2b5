"""docs/hooks.md: the page's program runs and does what it says."""

from __future__ import annotations

import re
import sys
import types
import uuid
from pathlib import Path
from typing import Any

import pymongo
import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def program() -> str:
    match = re.search(r"^```python\n(.*?)^```", PAGE.read_text(), re.M | re.S)
    assert match is not None
    return match.group(1)


async def test_the_example_program(
    mongodb_uri: str, mongo_client: pymongo.MongoClient[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    module = types.ModuleType("docs_hooks_example")
    sys.modules[module.__name__] = module  # pydantic resolves the annotations there
    try:
        exec(compile(program(), str(PAGE), "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    namespace = module.__dict__
    database = "docs_hooks_" + uuid.uuid4().hex[:12]
    try:
        await namespace["main"](mongodb_uri, database)
        assert capsys.readouterr().out == "['insert', 'update']\n"
        (article,) = mongo_client[database]["article"].find()
        assert article["title"] == "Event hooks"
        assert article["created"] is not None
        assert article["updated"] >= article["created"]
    finally:
        mongo_client.drop_database(database)
