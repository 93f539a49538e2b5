"""``failCommand`` for the commands mongoeco 4.11.0's wire server answers on its own.

mongoeco consumes its ``failCommand`` fail point in ``AsyncDatabaseCommandService.
execute_document``, the path of ordinary commands.  Two kinds of command never take
that path, so a fail point armed for them never fired:

* ``getMore``: the wire server answers it from its own cursor store (find and aggregate
  cursors), and the change-stream patch answers it for change-stream cursors;
* ``aggregate`` with a ``$changeStream`` first stage, answered by the change-stream
  patch (``_change_stream_patch.py``) before mongoeco sees it.

This patch wraps ``WireCommandExecutor.execute_prepared`` (outside the change-stream
patch's wrapper) and, for those commands only, consumes the same fail point state
mongoeco's own path does (``_command_failpoint_state`` on the engine, reached as
``executor._client._engine``) before the command runs, then does what mongoeco does
with it: wait ``blockTimeMS``, then raise the configured error (``errorCode``, default
10107; ``errorLabels``; ``errorMessage``; ``writeConcernError``; ``closeConnection`` as
mongoeco raises it).  ``{"times": n}`` counts these commands with the others, and
``namespace``/``namespaces`` filter them: a getMore's namespace is its database and
``collection``, a change-stream aggregate's its database and collection (none for
``aggregate: 1``, as mongoeco does for every database-level command).  As on MongoDB the
fail point fires before the command runs, so a failed getMore leaves its cursor open
and in place.  Ordinary aggregates still take mongoeco's path (and consume the fail
point there, once).  Loaded by ``_child.py`` after the change-stream patch; needs
nothing of anyodm.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any

PATCHED_FOR = "4.11.0"
_MARK = "__anyodm_fail_command__"


def is_change_stream(command: dict[str, Any]) -> bool:
    """Whether ``command`` is an aggregate whose first stage is ``$changeStream``."""
    pipeline = command.get("pipeline")
    return (
        isinstance(pipeline, list)
        and bool(pipeline)
        and isinstance(pipeline[0], dict)
        and "$changeStream" in pipeline[0]
    )


def namespace_of(db_name: str, command_name: str, command: dict[str, Any]) -> str | None:
    """The namespace a fail point's ``namespace`` filter compares with."""
    target = command.get("collection") if command_name == "getMore" else command.get(command_name)
    if not isinstance(target, str) or not target:
        return None
    return target if "." in target else f"{db_name}.{target}"


def apply() -> str | None:
    """Make ``failCommand`` reach getMore and change-stream aggregates; None on success."""
    try:
        version = importlib.metadata.version("mongoeco")
    except importlib.metadata.PackageNotFoundError:
        return "mongoeco is not installed"
    if version != PATCHED_FOR:
        return f"mongoeco {version} is not {PATCHED_FOR}, which the patch was written for"

    from mongoeco.api._async import database_commands
    from mongoeco.error_catalog import SERVER_CODE_NAMES as code_names
    from mongoeco.errors import ConnectionFailure, OperationFailure
    from mongoeco.wire.executor import WireCommandExecutor

    executor: Any = WireCommandExecutor
    if getattr(executor.execute_prepared, _MARK, False):
        return None
    state_class = getattr(database_commands, "_CommandFailPointState", None)
    consume = getattr(state_class, "consume_fail_command", None)
    if state_class is None or consume is None:
        return "mongoeco's failCommand internals changed; patch skipped"

    def armed_state(self: Any) -> Any:
        engine = getattr(getattr(self, "_client", None), "_engine", None)
        state = getattr(engine, "_command_failpoint_state", None)
        return state if isinstance(state, state_class) else None

    async def fire(injection: Any, command_name: str) -> None:
        if injection.block_time_ms > 0:
            await asyncio.sleep(injection.block_time_ms / 1000)
        if injection.close_connection:
            raise ConnectionFailure(injection.error_message, error_labels=injection.error_labels)
        details: dict[str, Any] = {"failPoint": "failCommand", "commandName": command_name}
        code = injection.error_code
        message = injection.error_message
        if injection.write_concern_error is not None:
            concern = dict(injection.write_concern_error)
            details["writeConcernError"] = concern
            code = int(concern.get("code", code))
            message = str(concern.get("errmsg", message))
        details["codeName"] = code_names.get(code, f"Location{code}")  # as mongoeco names it
        raise OperationFailure(
            message, code=code, details=details, error_labels=injection.error_labels
        )

    original = executor.execute_prepared

    async def execute_prepared(self: Any, context: Any) -> dict[str, Any]:
        name = context.command_name
        command = context.command_document
        if name == "getMore" or (
            name == "aggregate"
            and is_change_stream(command)
            and getattr(type(self), "anyodm_change_streams", None) is not None
        ):
            state = armed_state(self)
            if state is not None:
                injection = state.consume_fail_command(
                    name, namespace=namespace_of(context.db_name, name, command)
                )
                if injection is not None:
                    await fire(injection, name)
        result: dict[str, Any] = await original(self, context)
        return result

    setattr(execute_prepared, _MARK, True)
    executor.execute_prepared = execute_prepared
    return None
