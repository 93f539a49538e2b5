"""Which Python interpreter runs the embedded server (>= 3.13, with mongoeco and pymongo)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

from anyodm.testing._errors import EmbeddedServerError

SERVER_PYTHON_ENV = "ANYODM_SERVER_PYTHON"
MIN_PYTHON = (3, 13)
#: What the server process imports: mongoeco, and pymongo's bson for anyodm's patches.
SERVER_MODULES = {"mongoeco": "mongoeco", "bson": "pymongo"}
SERVER_NEEDS = "a Python >= 3.13 with mongoeco and pymongo (pip install 'anyodm[testing]' there)"


def missing_server_modules() -> list[str]:
    """The packages the server process needs that this interpreter cannot import."""
    return [
        package
        for module, package in SERVER_MODULES.items()
        if importlib.util.find_spec(module) is None
    ]


def resolve_server_python() -> str:
    """Return the interpreter for the server process, or raise with what to do instead.

    ``$ANYODM_SERVER_PYTHON`` wins (a path or a command on ``PATH``); otherwise the
    current interpreter, when it is >= 3.13 and can import mongoeco and pymongo.  The
    chosen interpreter checks its own version and packages when it starts.
    """
    configured = os.environ.get(SERVER_PYTHON_ENV, "").strip()
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise EmbeddedServerError(
                f"{SERVER_PYTHON_ENV}={configured!r} is not an executable; "
                f"set it to the path of {SERVER_NEEDS}"
            )
        return found
    missing = missing_server_modules()
    if sys.version_info >= MIN_PYTHON and not missing:
        return sys.executable
    version = ".".join(map(str, sys.version_info[:3]))
    why = "is too old" if sys.version_info < MIN_PYTHON else f"cannot import {', '.join(missing)}"
    raise EmbeddedServerError(
        f"the embedded server needs {SERVER_NEEDS}, and this Python ({version}) {why}; "
        f"set {SERVER_PYTHON_ENV}=/path/to/python3.13 (with 'anyodm[testing]' installed), "
        "or set ANYODM_TEST_URI to use a running server"
    )
