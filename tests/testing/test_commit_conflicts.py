"""The embedded server's commit conflicts behave like MongoDB's write conflicts.

mongoeco refuses the commit of a transaction when another commit happened since it
began; the launcher's patch makes that a ``TransientTransactionError`` (code 112) and
discards the transaction, so ``with_transaction`` retries it cleanly.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from pymongo.errors import OperationFailure

from anyodm import Engine, Model

pytestmark = pytest.mark.embedded_only(reason="exercises the embedded server's patch")


class Counter(Model):
    name: str
    value: int = 0


def test_a_conflicting_commit_is_a_transient_write_conflict(
    mongo_client: Any, mongo_database: Any
) -> None:
    a, b = mongo_database.a, mongo_database.b
    a.insert_one({"_id": 1, "v": 0})
    b.insert_one({"_id": 1, "v": 0})
    with mongo_client.start_session() as s1, mongo_client.start_session() as s2:
        s1.start_transaction()
        s2.start_transaction()
        a.update_one({"_id": 1}, {"$set": {"v": 1}}, session=s1)
        b.update_one({"_id": 1}, {"$set": {"v": 2}}, session=s2)
        s1.commit_transaction()
        with pytest.raises(OperationFailure) as info:
            s2.commit_transaction()
        assert info.value.code == 112
        assert info.value.has_error_label("TransientTransactionError")
        s2.start_transaction()  # the failed transaction left nothing behind
        assert b.find_one({"_id": 1}, session=s2) == {"_id": 1, "v": 0}
        s2.abort_transaction()


async def test_concurrent_with_transactions_all_commit(
    mongo_client: Any, mongo_database: Any
) -> None:
    engine = Engine(client=mongo_client, database=mongo_database.name)
    counters = await engine.save_all([Counter(name=f"c{i}") for i in range(4)])

    async def bump(tx: Any, name: str) -> None:
        counter = await tx.find_one(Counter, Counter.name == name)
        counter.value += 1
        await tx.save(counter)
        await anyio.sleep(0.01)  # overlap with the other transactions

    async with anyio.create_task_group() as tg:
        for counter in counters:
            for _ in range(3):
                tg.start_soon(engine.with_transaction, bump, counter.name)
    values = sorted(c.value for c in await engine.find(Counter))
    assert values == [3, 3, 3, 3]
