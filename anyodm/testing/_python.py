"""Which Python interpreter runs the embedded server (it needs >= 3.13 and mongoeco)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

from anyodm.testing._errors import EmbeddedServerError

SERVER_PYTHON_ENV = "ANYODM_SERVER_PYTHON"
MIN_PYTHON = (3, 13)


def resolve_server_python() -> str:
    """Return the interpreter for the server process, or raise with what to do instead.

    ``$ANYODM_SERVER_PYTHON`` wins (a path or a command on ``PATH``); otherwise the
    current interpreter, when it is >= 3.13 and can import mongoeco.  The chosen
    interpreter checks its own version and mongoeco when it starts.
    """
    configured = os.environ.get(SERVER_PYTHON_ENV, "").strip()
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise EmbeddedServerError(
                f"{SERVER_PYTHON_ENV}={configured!r} is not an executable; "
                "set it to the path of a Python >= 3.13 that has mongoeco installed"
            )
        return found
    if sys.version_info >= MIN_PYTHON and importlib.util.find_spec("mongoeco") is not None:
        return sys.executable
    version = ".".join(map(str, sys.version_info[:3]))
    why = "is too old" if sys.version_info < MIN_PYTHON else "cannot import mongoeco"
    raise EmbeddedServerError(
        f"the embedded server needs Python >= 3.13 with mongoeco, and this Python "
        f"({version}) {why}; set {SERVER_PYTHON_ENV}=/path/to/python3.13 "
        "(with 'anyodm[testing]' installed), or set MONGODB_URI to use a running server"
    )
