"""anyodm in ASGI web applications (FastAPI, Starlette, any ASGI app; trio or asyncio).

- :class:`CancelOnDisconnect`: a middleware that cancels the handling of a request whose
  client disconnects before the response is complete, so a transaction it runs is
  aborted instead of committed for nobody.
- :class:`EngineLifespan`: an application lifespan (``FastAPI(lifespan=...)``) that
  opens an :class:`~anyodm.Engine`, runs ``configure_database`` (indexes, migrations)
  at start-up, hands the engine to handlers and closes it at shutdown.

Neither needs FastAPI or Starlette installed.  See the "Web applications" page of the
documentation.
"""

from __future__ import annotations

from anyodm.asgi.disconnect import DEFAULT_READ_AHEAD, CancelOnDisconnect
from anyodm.asgi.lifespan import EngineLifespan, EngineOptions
from anyodm.asgi.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEFAULT_READ_AHEAD",
    "ASGIApp",
    "CancelOnDisconnect",
    "EngineLifespan",
    "EngineOptions",
    "Message",
    "Receive",
    "Scope",
    "Send",
]
