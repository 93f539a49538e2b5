"""Checking a MongoDB URI: that it parses, and that a server answers ``hello`` there."""

from __future__ import annotations

import re

import pymongo
from pymongo.errors import ConfigurationError, PyMongoError, ServerSelectionTimeoutError
from pymongo.uri_parser import parse_uri

from anyodm.testing._errors import EmbeddedServerError

#: The variable naming a server for tests (anyodm's own name: never an application's
#: ``MONGODB_URI``, which may well point at production).
TEST_URI_ENV = "ANYODM_TEST_URI"
DEFAULT_PING_TIMEOUT = 5.0

_PASSWORD = re.compile(r"^(mongodb(?:\+srv)?://[^:/@]*):[^@/]*@")


def redact(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (for error messages)."""
    return _PASSWORD.sub(r"\1:***@", uri)


def _short(exc: BaseException) -> str:
    text = str(exc).split(", Timeout:")[0].split(", Topology Description:")[0]
    return text if len(text) <= 200 else text[:197] + "..."


def ping(uri: str, timeout: float) -> None:
    """Send ``hello`` to ``uri``; raise :class:`PyMongoError` if nothing answers in time."""
    ms = max(1, int(timeout * 1000))
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms
    )
    try:
        client.admin.command("hello")
    finally:
        client.close()


def check_uri(
    uri: str, *, source: str = TEST_URI_ENV, timeout: float = DEFAULT_PING_TIMEOUT
) -> str:
    """Return ``uri`` once it parses and a server there answers; otherwise raise.

    ``source`` names where the URI came from in the error message.
    """
    shown = f"{source}={redact(uri)!r}"
    try:
        parse_uri(uri)
    except (ConfigurationError, ValueError) as exc:
        raise EmbeddedServerError(
            f"{shown} is not a valid MongoDB URI ({_short(exc)}); "
            f"fix it (mongodb://host:port/) or unset {source} to use the embedded server"
        ) from None
    try:
        ping(uri, timeout)
    except ServerSelectionTimeoutError as exc:
        raise EmbeddedServerError(
            f"{shown}: no server answered within {timeout:g}s ({_short(exc)}); "
            f"start that server, fix the URI, or unset {source} to use the embedded server"
        ) from None
    except PyMongoError as exc:
        raise EmbeddedServerError(
            f"{shown}: the server refused 'hello' ({_short(exc)}); "
            f"fix the URI or credentials, or unset {source} to use the embedded server"
        ) from None
    return uri
