"""docs/options.md: the page's program runs and does what it says."""

from __future__ import annotations

import re
import sys
import types
import uuid
from pathlib import Path
from typing import Any

import pymongo
import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "options.md"


def program() -> str:
    match = re.search(r"^```python\n(.*?)^```", PAGE.read_text(), re.M | re.S)
    assert match is not None
    return match.group(1)


async def test_the_example_program(
    mongodb_uri: str, mongo_client: pymongo.MongoClient[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    module = types.ModuleType("docs_options_example")
    sys.modules[module.__name__] = module  # pydantic resolves the annotations there
    try:
        exec(compile(program(), str(PAGE), "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    database = "docs_options_" + uuid.uuid4().hex[:12]
    try:
        await module.__dict__["main"](mongodb_uri, database)
        assert capsys.readouterr().out == "['ann']\n2\n"
        totals = sorted(doc["total"] for doc in mongo_client[database]["order"].find())
        assert totals == [6, 30]
    finally:
        mongo_client.drop_database(database)
