"""Each way the test server cannot be had gives one clear line: cause and fix."""

from __future__ import annotations

import io
import socket
import time
from contextlib import redirect_stdout
from typing import Any

import pytest

from anyodm.testing import (
    EmbeddedServerError,
    MongoServer,
    _child,
    _python,
    check_uri,
    mongodb_server,
)
from tests.testing import _procs


def _one_line(exc: pytest.ExceptionInfo[EmbeddedServerError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert exc.value.__suppress_context__ or exc.value.__cause__ is None
    return message


def test_missing_server_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYODM_SERVER_PYTHON", "/nonexistent/python3.13")
    with pytest.raises(EmbeddedServerError) as caught:
        MongoServer().start()
    message = _one_line(caught)
    assert "ANYODM_SERVER_PYTHON='/nonexistent/python3.13' is not an executable" in message
    assert "Python >= 3.13" in message


def test_too_old_current_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANYODM_SERVER_PYTHON", raising=False)
    monkeypatch.setattr(_python, "MIN_PYTHON", (99, 0))
    with pytest.raises(EmbeddedServerError) as caught:
        _python.resolve_server_python()
    message = _one_line(caught)
    assert "is too old" in message
    assert "set ANYODM_SERVER_PYTHON=/path/to/python3.13" in message
    assert "ANYODM_TEST_URI" in message


def test_too_old_server_python_reports_from_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_child, "MIN_PYTHON", (99, 0))
    out = io.StringIO()
    with redirect_stdout(out):
        assert _child.main([]) == 1
    assert out.getvalue().startswith("ERROR the embedded server needs Python >= 3.13")


def test_server_python_without_pymongo_reports_from_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whatever runs the tests: a Python new enough, with mongoeco, without bson.
    real_find_spec = _child.importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        if name == "mongoeco":
            return object()
        return None if name == "bson" else real_find_spec(name, *args)

    monkeypatch.setattr(_child, "MIN_PYTHON", (3, 0))
    monkeypatch.setattr(_child.importlib.util, "find_spec", find_spec)
    out = io.StringIO()
    with redirect_stdout(out):
        assert _child.main([]) == 1
    line = out.getvalue()
    assert line.startswith("ERROR ")
    assert "has mongoeco but cannot import bson, which comes with pymongo" in line
    assert "pip install 'anyodm[testing]'" in line


def test_current_python_without_pymongo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANYODM_SERVER_PYTHON", raising=False)
    monkeypatch.setattr(_python, "MIN_PYTHON", (3, 0))  # whatever runs the tests
    monkeypatch.setattr(_python, "SERVER_MODULES", {"anyodm_no_such_module": "pymongo"})
    with pytest.raises(EmbeddedServerError) as caught:
        _python.resolve_server_python()
    message = _one_line(caught)
    assert "cannot import pymongo" in message
    assert "with mongoeco and pymongo" in message


def test_server_python_that_exits_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYODM_SERVER_PYTHON", "false")
    with pytest.raises(EmbeddedServerError) as caught:
        MongoServer().start()
    message = _one_line(caught)
    assert "exited with code 1 before it was ready" in message
    assert "import mongoeco, pymongo" in message


def test_port_already_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmbeddedServerError) as caught:
            MongoServer(port=port).start()
    message = _one_line(caught)
    assert f"127.0.0.1:{port}: the port is already in use" in message
    assert "port 0" in message


def test_server_not_up_in_time() -> None:
    before = set(_procs.server_children())
    server = MongoServer(startup_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(EmbeddedServerError) as caught:
        server.start()
    assert time.monotonic() - started < 10
    message = _one_line(caught)
    assert "did not come up within 0.2s" in message
    assert "ANYODM_SERVER_STARTUP_TIMEOUT" in message
    assert server.pid is None
    assert set(_procs.server_children()) <= before


def test_bad_startup_timeout_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYODM_SERVER_STARTUP_TIMEOUT", "soon")
    with pytest.raises(EmbeddedServerError) as caught:
        MongoServer().start()
    assert "ANYODM_SERVER_STARTUP_TIMEOUT='soon' is not a number" in _one_line(caught)


@pytest.mark.parametrize("uri", ["not-a-uri", "mongodb://", "mongodb://h:99999999/"])
def test_unparsable_test_uri(monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    monkeypatch.setenv("ANYODM_TEST_URI", uri)
    with pytest.raises(EmbeddedServerError) as caught, mongodb_server():
        pass
    message = _one_line(caught)
    assert "is not a valid MongoDB URI" in message
    assert "unset ANYODM_TEST_URI" in message


def test_unreachable_mongodb_uri() -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    uri = f"mongodb://user:secret@127.0.0.1:{port}/"
    with pytest.raises(EmbeddedServerError) as caught:
        check_uri(uri, timeout=0.3)
    message = _one_line(caught)
    assert "no server answered within 0.3s" in message
    assert "secret" not in message
    assert "user:***@" in message


def test_plugin_reports_a_bad_uri_in_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANYODM_TEST_URI", "not-a-uri")
    pytester.makepyfile("def test_x(mongodb_uri):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-ra")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ANYODM_TEST_URI='not-a-uri' is not a valid MongoDB URI*"])
    assert "Traceback" not in result.stdout.str()
    assert "subprocess" not in result.stdout.str()
