"""Test support for anyodm: an embedded MongoDB-wire server and a pytest plugin.

The server is mongoeco's wire-protocol server (an in-memory MongoDB look-alike) run in
its own process under a Python >= 3.13, so the code under test may run on 3.10-3.12::

    from anyodm.testing import mongodb_server

    with mongodb_server() as uri:          # $ANYODM_TEST_URI if set, else an embedded server
        client = pymongo.MongoClient(uri)

``python -m anyodm.testing`` runs one in the foreground and prints its URI.  The pytest
plugin (``anyodm.testing.plugin``, loaded automatically) provides the fixtures
``mongodb_uri``, ``mongo_client``, ``mongo_database``, ``anyodm_engine``,
``anyodm_sync_engine`` and ``failpoint``.

Environment: ``ANYODM_TEST_URI`` (use that server; ``MONGODB_URI`` is never read, as it
often names an application's production database), ``ANYODM_SERVER_PYTHON`` (the
interpreter for the embedded server), ``ANYODM_SERVER_STARTUP_TIMEOUT`` (seconds).
"""

from __future__ import annotations

from anyodm.testing._errors import EmbeddedServerError
from anyodm.testing._failpoint import FailPoint, fail_point
from anyodm.testing._python import resolve_server_python
from anyodm.testing._server import MongoServer, mongodb_server
from anyodm.testing._uri import check_uri

__all__ = [
    "EmbeddedServerError",
    "FailPoint",
    "MongoServer",
    "check_uri",
    "fail_point",
    "mongodb_server",
    "resolve_server_python",
]
