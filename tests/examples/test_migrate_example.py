"""examples/migrate_books.py runs against the suite's server and proves what it says."""

from __future__ import annotations

from .test_examples import run_example


def test_migrate_books(mongodb_uri: str) -> None:
    out = run_example("migrate_books.py", mongodb_uri)
    assert out.startswith("dry run: nothing written")
    assert "after the dry run: 1000 books still have a title" in out
    assert "deadline passed: True" in out
    assert "lock held: False" in out
    assert "resumed after" in out
    assert "PROVED: 1000 of 1000 books migrated, each once" in out
    assert "PROVED: 1000 books reverted" in out
    assert "FAILED" not in out
