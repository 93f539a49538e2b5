"""The embedded server helper: it starts, answers, and never outlives its user."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest

from anyodm.testing import EmbeddedServerError, MongoServer, resolve_server_python
from tests.testing import _procs

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

BOUND = 60.0  # generous upper bound for anything to happen; polling returns much sooner


@pytest.fixture(scope="module")
def server_python() -> str:
    """The interpreter the embedded server runs under (skip if there is none)."""
    try:
        return resolve_server_python()
    except EmbeddedServerError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def child_env(server_python: str) -> dict[str, str]:
    """Environment for a child process that must start its own embedded server."""
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "ANYODM_TEST_URI")}
    env["ANYODM_SERVER_PYTHON"] = server_python
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A scratch directory with a copy of the /proc helpers importable as ``procs``."""
    (tmp_path / "procs.py").write_text(Path(_procs.__file__).read_text())
    return tmp_path


def _wait_for_file(path: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("\n"):
            return path.read_text()
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"child exited early ({process.returncode}):\n{out}")
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"child did not write {path} within {BOUND}s")


@pytest.fixture
def reaped() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Child processes to kill if a test leaves them behind."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_starts_answers_and_stops(server_python: str) -> None:
    server = MongoServer(python=server_python)
    uri = server.start()
    pid = server.pid
    assert pid is not None
    assert _procs.alive(pid)
    assert server.start() == uri  # idempotent
    assert uri == f"mongodb://127.0.0.1:{server.info['port']}/"
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(uri)
    try:
        assert client.admin.command("hello")["ok"] == 1
    finally:
        client.close()
    server.stop()
    server.stop()
    assert _procs.wait_gone(pid, BOUND)
    assert pid not in _procs.server_children()


INNER_TESTS = """
    import os, time, procs
    from pathlib import Path

    def _record():
        Path(os.environ["MARK"]).write_text(" ".join(map(str, procs.server_children())) + "\\n")

    def test_passes(mongodb_uri):
        _record()

    def test_fails(mongodb_uri):
        assert False, "this inner test fails on purpose"

    def test_waits(mongodb_uri):
        _record()
        if os.environ.get("WAIT"):
            time.sleep(120)
"""


def _run_inner(project: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    (project / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS))
    quick = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *quick, "-q", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_no_server_left_after_normal_failing_and_interrupted_runs(
    project: Path, child_env: dict[str, str], reaped: list[subprocess.Popen[bytes]]
) -> None:
    # The three runs go side by side: each spends seconds starting pytest and a server.
    runs = {}
    for name, selection in [
        ("normal", "test_passes"),
        ("failing", "test_passes or test_fails"),
        ("interrupted", "test_waits"),
    ]:
        env = dict(child_env, MARK=str(project / f"{name}.pids"), WAIT="1")
        runs[name] = _run_inner(project, env, "-k", selection)
        reaped.append(runs[name])

    interrupted = runs["interrupted"]
    (pid,) = map(int, _wait_for_file(project / "interrupted.pids", interrupted).split())
    interrupted.send_signal(signal.SIGINT)
    output = interrupted.communicate(timeout=BOUND)[0].decode()
    assert "KeyboardInterrupt" in output
    assert _procs.wait_gone(pid, BOUND), "server survived Ctrl-C of the test run"

    for name, expected in [("normal", 0), ("failing", 1)]:
        output = runs[name].communicate(timeout=BOUND)[0].decode()
        assert runs[name].returncode == expected, output
        (pid,) = map(int, (project / f"{name}.pids").read_text().split())
        assert _procs.wait_gone(pid, BOUND), f"server survived a {name} run"


def test_server_dies_with_a_killed_parent(
    project: Path, child_env: dict[str, str], reaped: list[subprocess.Popen[bytes]]
) -> None:
    mark = project / "pids"
    script = (
        "import sys, time; from anyodm.testing import MongoServer; s = MongoServer(); s.start(); "
        "open(sys.argv[1], 'w').write(f'{s.pid}\\n'); time.sleep(120)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(mark)], env=child_env, stdout=subprocess.PIPE
    )
    reaped.append(process)
    pid = int(_wait_for_file(mark, process))
    process.kill()
    process.wait()
    assert _procs.wait_gone(pid, BOUND)


def test_python_m_anyodm_testing_prints_the_uri_and_stops_on_ctrl_c(
    child_env: dict[str, str], reaped: list[subprocess.Popen[bytes]]
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "anyodm.testing"],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    reaped.append(process)
    assert process.stdout is not None
    uri = process.stdout.readline().decode().strip()
    assert uri.startswith("mongodb://127.0.0.1:")
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(uri)
    try:
        assert client.admin.command("ping")["ok"] == 1
    finally:
        client.close()
    (pid,) = _procs.server_children(process.pid)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=BOUND) == 0
    assert _procs.wait_gone(pid, BOUND)
