"""asyncio's own cancellation (``task.cancel()``, as ``asyncio.TaskGroup`` and
``asyncio.timeout`` do) must not cut a commit short either: anyio's shielded scopes do
not hold it back, so the worker runner waits for the thread through it and re-raises it
afterwards.  (Found while writing examples/asyncio_transfers.py.)

anyio's cancellation is covered by
``tests/sessions/test_aborts.py::test_a_deadline_during_the_commit_does_not_cut_it_short``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from pymongo.client_session import ClientSession

from anyodm import Engine, Model, TransactionPhase


class NativeCancelPlayer(Model):
    name: str


def test_native_asyncio_cancel_during_commit_keeps_the_outcome_known(
    mongo_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = ClientSession.commit_transaction

    def slow_commit(self: ClientSession) -> None:
        real_commit(self)
        time.sleep(0.5)  # the reply is still on its way when the task is cancelled

    monkeypatch.setattr(ClientSession, "commit_transaction", slow_commit)
    name = "anyodm_test_native_" + uuid.uuid4().hex[:8]
    engine = Engine(client=mongo_client, database=name)
    seen: dict[str, Any] = {}

    async def block() -> None:
        async with engine.transaction() as tx:
            seen["tx"] = tx
            await tx.save(NativeCancelPlayer(name="a"))

    async def main() -> None:
        task = asyncio.create_task(block())
        await asyncio.sleep(0)
        # Cancel the task once the commit has been sent (the save takes a few ms).
        asyncio.get_running_loop().call_later(0.2, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            seen["cancelled"] = True

    try:
        asyncio.run(main())
        stored = engine.get_collection(NativeCancelPlayer).count_documents({})
    finally:
        mongo_client.drop_database(name)
    # What the server did and what anyodm says must agree; the commit ran to its end.
    assert stored == 1
    assert seen["tx"].phase is TransactionPhase.COMMITTED
    assert seen.get("cancelled")  # ... and the cancellation still reached the task


@pytest.mark.skipif(not hasattr(asyncio, "timeout"), reason="asyncio.timeout is 3.11+")
def test_asyncio_timeout_inside_a_transaction_aborts_it(mongo_client: Any) -> None:
    name = "anyodm_test_native_" + uuid.uuid4().hex[:8]
    engine = Engine(client=mongo_client, database=name)
    seen: dict[str, Any] = {}

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                async with engine.transaction() as tx:
                    seen["tx"] = tx
                    seen["driver"] = tx.get_driver_session()
                    await tx.save(NativeCancelPlayer(name="a"))
                    await asyncio.sleep(5)

    try:
        asyncio.run(main())
        stored = engine.get_collection(NativeCancelPlayer).count_documents({})
    finally:
        mongo_client.drop_database(name)
    assert stored == 0
    assert seen["tx"].phase is TransactionPhase.ABORTED
    assert seen["driver"].has_ended
    assert engine.thread_limiter.borrowed_tokens == 0
