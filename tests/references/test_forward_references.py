"""A find may be the first use of models whose references name classes defined after
them: the forward references are resolved then (not only on first validation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from bson import ObjectId

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
from tests.references import forward_models as m
from anyodm.model.references import find_pipeline
for model in (m.Pen, m.Letter):
    stages = find_pipeline(model, {}, None, 0, None) or []
    print(model.__name__, sum("$lookup" in stage for stage in stages))
"""


def test_a_fresh_process_resolves_them_on_the_first_find() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.split("\n")[:2] == ["Pen 1", "Letter 2"]


async def test_a_find_before_any_instance(engine: Any) -> None:
    from tests.references.forward_models import Letter, Pen

    pen, stamp = ObjectId(), ObjectId()
    engine.database["pen"].insert_one({"_id": pen, "name": "p"})
    engine.database["stamp"].insert_one({"_id": stamp, "value": 5})
    engine.database["letter"].insert_one({"folds": [{"by": pen}], "stamp": stamp})
    (letter,) = await engine.find(Letter)
    assert letter.folds[0].by.name == "p"
    assert letter.stamp.value == 5
    found = await engine.find_one(Pen)
    assert [x.id for x in found.letters] == [letter.id]
