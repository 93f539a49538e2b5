"""Processes starting up at once: each runs ``configure_database(..., on_pending="run")``
on the same database (a SyncEngine, an Engine on trio, one on asyncio), released
together; all succeed, the migration is applied once and each index exists once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pymongo.database import Database

from tests.data_migrations.books import assert_migrated_once, seed

from .models import MIGRATION_MODULE
from .test_configure_database import assert_book_indexes_once, index_keys

ROOT = Path(__file__).resolve().parents[2]

START_UP = """
import sys, time
from pathlib import Path

import anyio

from anyodm import Engine, SyncEngine
from tests.startup.models import Book, Shelf

uri, database, folder, go, how = sys.argv[1:]
print("ready", flush=True)
while not Path(go).exists():
    time.sleep(0.002)
if how == "sync":
    with SyncEngine(uri, database) as engine:
        engine.configure_database([Book, Shelf], migrations=folder, on_pending="run")
else:
    async def main():
        async with Engine(uri, database) as engine:
            await engine.configure_database([Book, Shelf], migrations=folder, on_pending="run")
    anyio.run(main, backend=how)
print("started", flush=True)
"""


def test_processes_starting_up_at_once_all_succeed(
    mongodb_uri: str, mongo_database: Database[Any], tmp_path: Path
) -> None:
    seed(mongo_database, 200)
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_books.py").write_text(MIGRATION_MODULE)
    script = tmp_path / "start_up.py"
    script.write_text(START_UP)
    go = tmp_path / "go"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    argv = [sys.executable, str(script), mongodb_uri, mongo_database.name, str(folder), str(go)]
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    procs = [
        subprocess.Popen([*argv, how], env=env, cwd=ROOT, **pipes)
        for how in ("sync", "trio", "asyncio")
    ]
    try:
        for proc in procs:  # each has imported everything: release them together
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        go.touch()
        started = time.monotonic()
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, 90 - (time.monotonic() - started)))
            assert proc.returncode == 0, err
            assert out.strip() == "started"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert_migrated_once(mongo_database, 200)
    assert_book_indexes_once(mongo_database)
    assert index_keys(mongo_database, "shelf") == [(("code", 1),)]
    assert mongo_database.migrations.find_one({"_id": "0001_books"})["state"] == "applied"
