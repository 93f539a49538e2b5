"""Each example runs as its own process against the suite's server and tells the truth.

The examples get the suite's ``mongodb_uri`` through ``MONGODB_URI`` (the demo then
starts no server of its own) and run under the interpreter running the tests, so they
are checked on every Python the suite runs on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 90


def run_example(script: str, uri: str) -> str:
    env = {**os.environ, "MONGODB_URI": uri, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def drop_databases(mongo_client: Any) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        mongo_client.drop_database(name)


def assert_transfer_story(out: str, group: str) -> None:
    # Round 1: every worker committed all of its transfers.
    for worker in ("w1", "w2", "w3"):
        for n in (1, 2, 3):
            assert f"{worker}#{n}: committed" in out
        assert f"{worker}       done" in out
    # Round 2: the faulty worker's transaction aborted, the slow one was cancelled
    # inside its transaction and aborted too.
    assert "faulty#1: FAILED (CardReaderCrashed" in out
    assert "slow#1: debited carol by 40 (inside the transaction)" in out
    assert "slow#1: CANCELLED -> transaction ABORTED" in out
    assert f"{group} raised CardReaderCrashed(" in out
    assert "steady#1: committed" in out
    # Round 3: the deadline cancelled a transfer mid-transaction.
    assert "late#1: debited bob by 50 (inside the transaction)" in out
    assert "late#1: CANCELLED -> transaction ABORTED" in out
    # The audit.
    assert "PROVED: every balance = opening balance + committed ledger entries" in out
    assert "PROVED: total conserved: 600 == 600" in out
    [proof] = [line for line in out.splitlines() if "no ledger entry of the failed" in line]
    assert proof.startswith("PROVED:")
    assert all(ref in proof for ref in ("faulty#1", "slow#1", "late#1"))
    assert "FAILED:" not in out
    assert "MISMATCH" not in out


def test_trio_transfers(mongodb_uri: str, drop_databases: list[str]) -> None:
    drop_databases.append("anyodm_example_trio")
    out = run_example("trio_transfers.py", mongodb_uri)
    assert_transfer_story(out, "nursery ")
    assert "deadline passed: cancelled_caught=True" in out


def test_asyncio_transfers(mongodb_uri: str, drop_databases: list[str]) -> None:
    drop_databases.append("anyodm_example_asyncio")
    out = run_example("asyncio_transfers.py", mongodb_uri)
    assert_transfer_story(out, "group   ")
    assert "deadline passed: cancelled_caught=True" in out


def test_demo_runs_the_trio_example(mongodb_uri: str, drop_databases: list[str]) -> None:
    drop_databases.append("anyodm_demo")
    out = run_example("demo.py", mongodb_uri)
    assert "anyodm demo: starting (MONGODB_URI)" in out
    assert_transfer_story(out, "nursery ")
    assert out.rstrip().endswith("anyodm demo: all proved")


def test_trio_order_workers(mongodb_uri: str, drop_databases: list[str]) -> None:
    drop_databases.append("anyodm_example_orders")
    out = run_example("trio_order_workers.py", mongodb_uri)
    assert "processed 6 orders: ['book-0', 'book-1', 'book-2', 'book-3', 'book-4', 'book-5']" in out
    assert "nursery    raised OrderRejected('broken')" in out
    assert "server cursors left open: 0" in out
    assert "picked up after the restart: ['chair', 'desk']" in out
    assert "PROVED: no order processed twice; PROVED: nothing lost, no cursor left" in out
