"""The one error of anyodm.testing."""

from __future__ import annotations


class EmbeddedServerError(RuntimeError):
    """The test server cannot be used; the message names the cause and the fix."""
