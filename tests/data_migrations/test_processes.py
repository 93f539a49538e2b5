"""Migrations run by ``python -m anyodm migrate`` in other processes: killed with SIGKILL
at random points and resumed, two processes racing for the lock, the command line."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from anyodm import SyncEngine

from .books import N, assert_migrated_once, record, seed

pytestmark = pytest.mark.embedded_only("a fresh database per test")

ROOT = Path(__file__).resolve().parents[2]

MODULE = """
import os, time
from anyodm.migrations import DocumentMigration
from tests.data_migrations.books import backward, forward

def slow_forward(doc):
    time.sleep(float(os.environ.get("MIGRATION_DELAY", "0")))
    return forward(doc)

migration = DocumentMigration("books", slow_forward, backward, batch_size=10)
"""


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_books.py").write_text(MODULE)
    return folder


def command(uri: str, database: str, folder: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "anyodm", "migrate", *args, "--uri", uri,
            "--database", database, "--path", str(folder), "--no-progress"]  # fmt: skip


def environment(delay: float = 0.0) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "MIGRATION_DELAY": str(delay)}


def run_cli(*argv: str, delay: float = 0.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), env=environment(delay), capture_output=True, text=True, timeout=60,
        check=False, cwd=ROOT,
    )  # fmt: skip


def test_killed_with_sigkill_at_random_points_then_resumed(
    mongodb_uri: str,
    mongo_database: Database[Any],
    anyodm_sync_engine: SyncEngine,
    migrations_dir: Path,
) -> None:
    seed(mongo_database)
    rng = random.Random(os.getpid())
    argv = command(mongodb_uri, mongo_database.name, migrations_dir, "up", "--lock-lease", "1")
    pids: list[str] = []
    at = 0
    for _kill in range(2):
        at += rng.randrange(1, N // 40) * 10  # documents checkpointed before this kill
        proc = subprocess.Popen(argv, env=environment(0.002), cwd=ROOT)
        pids.append(str(proc.pid))
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                found = mongo_database.migrations.find_one({"_id": "0001_books"})
                if found is not None and found.get("processed", 0) >= at:
                    break
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(10)
        killed = record(mongo_database)
        if killed["state"] == "applied":
            break
        # Dead with its lock held (the second may have died still waiting for the first's
        # lease to run out); the checkpoint counts exactly the committed documents.
        assert killed["lock"]["owner"].split(":")[1] in pids
        assert mongo_database.books.count_documents({"times": 1}) == killed["processed"]
    report = anyodm_sync_engine.migrate(migrations_dir, lock_timeout=10, lock_lease=1)
    if report.runs:
        assert report.runs[0].outcome == "applied"
    assert_migrated_once(mongo_database)
    assert record(mongo_database)["processed"] == N


def test_two_processes_race_for_the_lock(
    mongodb_uri: str, mongo_database: Database[Any], migrations_dir: Path
) -> None:
    seed(mongo_database)
    argv = command(mongodb_uri, mongo_database.name, migrations_dir, "up", "--lock-timeout", "30")
    procs = [
        subprocess.Popen(argv, env=environment(0.0005), cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs.append(out)
    both = "\n".join(outputs)
    assert both.count(" applied ") == 1, both
    assert " skipped " in both or "nothing to migrate up" in both
    assert_migrated_once(mongo_database)


def test_the_command_line_status_dry_run_and_down(
    mongodb_uri: str, mongo_database: Database[Any], migrations_dir: Path
) -> None:
    seed(mongo_database, 30)
    db = mongo_database.name
    status = run_cli(*command(mongodb_uri, db, migrations_dir, "status"))
    assert status.returncode == 0
    assert "0001_books" in status.stdout
    assert "pending" in status.stdout
    dry = run_cli(*command(mongodb_uri, db, migrations_dir, "up", "--dry-run"))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("dry run: nothing written")
    assert "30 documents" in dry.stdout
    assert mongo_database.books.count_documents({"times": 1}) == 0
    up = run_cli(*command(mongodb_uri, db, migrations_dir, "up"))
    assert up.returncode == 0, up.stderr
    assert "applied" in up.stdout
    assert_migrated_once(mongo_database, 30)
    down = run_cli(*command(mongodb_uri, db, migrations_dir, "down", "1"))
    assert down.returncode == 0, down.stderr
    assert "reverted" in down.stdout
    assert mongo_database.books.count_documents({"title": {"$exists": True}}) == 30
    bad = run_cli(*command(mongodb_uri, db, migrations_dir / "missing", "status"))
    assert bad.returncode == 1
    assert "no migrations at" in bad.stderr
