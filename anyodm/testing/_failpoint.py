"""The ``failCommand`` fail point: make the server fail or stall chosen commands."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

from pymongo import MongoClient

FailPointMode = Literal["alwaysOn", "off"] | Mapping[str, int]


def fail_command_data(
    commands: Iterable[str],
    *,
    error_code: int | None = None,
    error_labels: Sequence[str] | None = None,
    block_ms: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``data`` document of a ``configureFailPoint failCommand``."""
    names = [commands] if isinstance(commands, str) else list(commands)
    if not names:
        raise ValueError("failCommand needs at least one command name, e.g. ['find']")
    data: dict[str, Any] = {"failCommands": names}
    if error_code is not None:
        data["errorCode"] = error_code
    if error_labels is not None:
        data["errorLabels"] = list(error_labels)
    if block_ms is not None:
        data.update(blockConnection=True, blockTimeMS=block_ms)
    data.update(extra or {})
    return data


class FailPoint:
    """An armed ``failCommand`` fail point; :meth:`disable` (or leaving ``with``) disarms it.

    The server has one ``failCommand`` fail point: arming again replaces it.
    """

    def __init__(
        self, client: MongoClient[Any], mode: FailPointMode, data: Mapping[str, Any]
    ) -> None:
        self.client = client
        self.mode: FailPointMode = mode
        self.data: dict[str, Any] = dict(data)
        self.active: bool = False

    def enable(self) -> FailPoint:
        """Arm the fail point on the server."""
        self.client.admin.command(
            "configureFailPoint", "failCommand", mode=self.mode, data=self.data
        )
        self.active = True
        return self

    def disable(self) -> None:
        """Disarm (mode ``"off"``); harmless if it already is."""
        self.active = False
        disable_fail_command(self.client)

    def __enter__(self) -> FailPoint:
        return self if self.active else self.enable()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disable()


def disable_fail_command(client: MongoClient[Any]) -> None:
    """Turn the server's ``failCommand`` fail point off."""
    client.admin.command("configureFailPoint", "failCommand", mode="off")


def fail_point(
    client: MongoClient[Any],
    commands: Iterable[str],
    *,
    mode: FailPointMode | None = None,
    error_code: int | None = None,
    error_labels: Sequence[str] | None = None,
    block_ms: int | None = None,
    **extra: Any,
) -> FailPoint:
    """Arm ``failCommand`` for ``commands`` and return it (use it as a context manager).

    ``mode`` is ``{"times": n}`` (default ``{"times": 1}``), ``{"skip": n}`` or
    ``"alwaysOn"``; ``error_code`` / ``error_labels`` shape the error, ``block_ms``
    stalls the command first; other keywords go into ``data`` as given (``appName=``,
    ``writeConcernError=``...).
    """
    data = fail_command_data(
        commands, error_code=error_code, error_labels=error_labels, block_ms=block_ms, extra=extra
    )
    return FailPoint(client, {"times": 1} if mode is None else mode, data).enable()
