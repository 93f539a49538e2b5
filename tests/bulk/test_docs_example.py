"""The bulk writes example of docs/queries-and-updates.md runs as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "queries-and-updates.md"


def _program() -> str:
    section = PAGE.read_text().split("## Bulk writes", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


async def test_the_example_prints_what_it_says(
    mongodb_uri: str, mongo_database: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    module = types.ModuleType("bulk_docs_example")
    sys.modules[module.__name__] = module
    try:
        exec(compile(_program(), str(PAGE), "exec"), module.__dict__)
        await module.main(mongodb_uri, mongo_database.name)
    finally:
        del sys.modules[module.__name__]
    assert capsys.readouterr().out.split("\n")[:3] == ["2 1", "0 written None", "1 failed 11000"]
