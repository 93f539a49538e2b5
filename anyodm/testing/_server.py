"""Starting and stopping the embedded server process (see ``_child.py``)."""

from __future__ import annotations

import errno
import json
import os
import selectors
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pymongo.errors import PyMongoError

from anyodm.testing._errors import EmbeddedServerError
from anyodm.testing._python import SERVER_NEEDS, SERVER_PYTHON_ENV, resolve_server_python
from anyodm.testing._uri import TEST_URI_ENV, check_uri, ping

CHILD_SCRIPT = Path(__file__).with_name("_child.py")
STARTUP_TIMEOUT_ENV = "ANYODM_SERVER_STARTUP_TIMEOUT"
DEFAULT_STARTUP_TIMEOUT = 60.0
STOP_GRACE_SECONDS = 5.0


def _default_startup_timeout() -> float:
    raw = os.environ.get(STARTUP_TIMEOUT_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_STARTUP_TIMEOUT
    except ValueError:
        raise EmbeddedServerError(
            f"{STARTUP_TIMEOUT_ENV}={raw!r} is not a number of seconds; fix or unset it"
        ) from None


def _check_port_free(host: str, port: int) -> None:
    """Fail fast (before spawning) when an explicitly requested port is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"({exc.strerror})"
            raise EmbeddedServerError(
                f"cannot listen on {host}:{port}: the port {reason}; "
                "choose another port, or port 0 for a free one"
            ) from None


def _read_line(stream: IO[bytes], deadline: float) -> tuple[bytes, bool]:
    """Read one line from ``stream`` before ``deadline``; return it and whether time ran out."""
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return data, True
            if not selector.select(remaining):
                continue
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\n", 1)[0], False


#: MongoServer.patches' names -> (flag, note): the keys the server process reports under
_PATCH_KEYS = {
    "insert_cost": ("patched", "patch_note"),
    "change_streams": ("change_streams", "change_streams_note"),
    "keyed_lookup": ("keyed_lookup", "keyed_lookup_note"),
    "fail_command": ("fail_command", "fail_command_note"),
}


class MongoServer:
    """mongoeco's MongoDB-wire server, in its own process, on a loopback port.

    ``with MongoServer() as server: server.uri`` -- or call :meth:`start` and
    :meth:`stop`.  ``port=0`` (the default) picks a free port.  ``python`` is the
    interpreter to run it (default: :func:`resolve_server_python`).  The process stops
    on :meth:`stop`, and on its own when this process dies (it watches a pipe).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        python: str | None = None,
        startup_timeout: float | None = None,
        patch: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.python = python
        self.startup_timeout = startup_timeout
        self.patch = patch
        self.info: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def uri(self) -> str:
        """``mongodb://host:port/`` of the running server."""
        if self._process is None:
            raise EmbeddedServerError("the embedded server is not running; call start() first")
        return f"mongodb://{self.info['host']}:{self.info['port']}/"

    @property
    def pid(self) -> int | None:
        """The server process id while it runs."""
        return None if self._process is None else self._process.pid

    @property
    def patches(self) -> dict[str, bool]:
        """Which of anyodm's mongoeco patches the server runs with: ``insert_cost``
        (inserts into large collections stay cheap; transactions conflict per document,
        not on any other commit), ``change_streams`` (``$changeStream``
        served over the wire), ``keyed_lookup`` (``$lookup`` on ``_id`` by key, as a
        real server's ``_id`` index does) and ``fail_command`` (the ``failCommand`` fail
        point reaches ``getMore`` and change-stream aggregates)."""
        return {name: bool(self.info.get(flag)) for name, (flag, _) in _PATCH_KEYS.items()}

    @property
    def patched(self) -> bool:
        """Whether the server runs with every one of :attr:`patches`."""
        return all(self.patches.values())

    def _patch_notes(self) -> str:
        """Why the patches that did not apply did not (``insert_cost: disabled``)."""
        return "; ".join(
            f"{name}: {self.info.get(note) or 'not applied'}"
            for name, (flag, note) in _PATCH_KEYS.items()
            if not self.info.get(flag)
        )

    def start(self) -> str:
        """Start the server, wait until it answers ``hello``, return its URI."""
        if self._process is not None:
            return self.uri
        python = self.python or resolve_server_python()
        if self.port:
            _check_port_free(self.host, self.port)
        timeout = self.startup_timeout
        if timeout is None:
            timeout = _default_startup_timeout()
        deadline = time.monotonic() + timeout
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        command = [python, str(CHILD_SCRIPT), "--host", self.host, "--port", str(self.port)]
        command += ["--parent-pid", str(os.getpid())]
        if not self.patch:
            command.append("--no-patch")
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,
            )
        except OSError as exc:
            self._close_files()
            raise EmbeddedServerError(
                f"cannot run the server interpreter {python!r} ({exc.strerror or exc}); "
                f"set {SERVER_PYTHON_ENV} to {SERVER_NEEDS}"
            ) from None
        try:
            self._await_ready(python, timeout, deadline)
        except BaseException:
            self.stop()
            raise
        return self.uri

    def _await_ready(self, python: str, timeout: float, deadline: float) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        line, timed_out = _read_line(self._process.stdout, deadline)
        self._process.stdout.close()
        kind, _, payload = line.decode(errors="replace").strip().partition(" ")
        if kind == "ERROR":
            raise EmbeddedServerError(f"embedded server: {payload}")
        if timed_out:
            raise EmbeddedServerError(
                f"the embedded server ({python}) did not come up within {timeout:g}s; "
                f"allow more time with {STARTUP_TIMEOUT_ENV}=<seconds>, or check that "
                f"'{python} -c \"import mongoeco, pymongo\"' works"
            )
        if kind != "READY":
            code = self._process.wait(timeout=STOP_GRACE_SECONDS)
            raise EmbeddedServerError(
                f"the embedded server ({python}) exited with code {code} before it was "
                f"ready: {self._stderr_tail() or 'no output'}; check that "
                f"'{python} -c \"import mongoeco, pymongo\"' works, or set {SERVER_PYTHON_ENV}"
            )
        self.info = json.loads(payload)
        if self.patch and not self.patched:
            warnings.warn(
                f"anyodm.testing: mongoeco runs without some of anyodm's patches "
                f"({self._patch_notes()}); see MongoServer.patches",
                RuntimeWarning,
                stacklevel=3,
            )
        try:
            ping(self.uri, max(0.5, deadline - time.monotonic()))
        except PyMongoError as exc:
            raise EmbeddedServerError(
                f"the embedded server at {self.uri} did not answer 'hello' ({exc}); "
                f"allow more time with {STARTUP_TIMEOUT_ENV}=<seconds>"
            ) from None

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1].strip() if lines else ""

    def stop(self) -> None:
        """Stop the server (idempotent): close its pipe, then kill it if it lingers."""
        process, self._process = self._process, None
        if process is not None:
            with suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()
            with suppress(OSError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                with suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self._close_files()

    def _close_files(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> MongoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def mongodb_server(
    *,
    port: int = 0,
    python: str | None = None,
    startup_timeout: float | None = None,
    use_env: bool = True,
    env: str = TEST_URI_ENV,
) -> Iterator[str]:
    """Yield the URI of a MongoDB server for the duration of the block.

    If the variable ``env`` (``$ANYODM_TEST_URI``) is set and ``use_env`` is true, that
    server is checked and used and nothing is started; otherwise an embedded
    :class:`MongoServer` runs for the block.  ``MONGODB_URI`` is never read unless
    passed here as ``env`` on purpose: it often names an application's own database.
    """
    configured = os.environ.get(env, "").strip() if use_env else ""
    if configured:
        yield check_uri(configured, source=env)
        return
    with MongoServer(port=port, python=python, startup_timeout=startup_timeout) as server:
        yield server.uri
