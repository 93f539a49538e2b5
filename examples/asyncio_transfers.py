"""The transfers of ``trio_transfers.py``, on asyncio: a task group, a crash, a deadline.

    MONGODB_URI=mongodb://... python examples/asyncio_transfers.py

Same bank (``bank.py``), same story, on ``asyncio.run``.  The task group and the
deadline are anyio's (``anyio.create_task_group``, ``anyio.move_on_after``), which run
natively on asyncio and are what anyodm's guarantees are built on: the deadline reaches
the driver, and a commit already on its way is never cut short.  Native
``asyncio.TaskGroup``/``asyncio.timeout`` cancellation also aborts an open transaction
and never cuts a commit short, but an ``asyncio.timeout`` deadline does not reach the
driver (see docs/cancellation.md, "asyncio's own cancellation").
"""

from __future__ import annotations

import asyncio
import sys

import anyio
from bank import (
    CardReaderCrashed,
    Teller,
    audit,
    is_embedded_server,
    mongodb_uri_or_exit,
    open_bank,
    say,
)

from anyodm import Engine

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup


async def run(uri: str, database: str = "anyodm_example_asyncio") -> bool:
    async with Engine(uri, database=database) as engine:
        await open_bank(engine)
        embedded = await is_embedded_server(engine)
        teller = Teller(engine)
        print(f"server: {'embedded' if embedded else uri}")

        print("== 1. three workers in a task group, each with its own two accounts")
        async with anyio.create_task_group() as tg:
            tg.start_soon(teller.worker, "w1", "alice", "bob", [10, 20, 5])
            tg.start_soon(teller.worker, "w2", "carol", "dave", [7, 3, 12])
            tg.start_soon(teller.worker, "w3", "erin", "frank", [30, 1, 4])

        print("\n== 2. a worker crashes between a debit and its credit")
        slow_is_inside = anyio.Event()

        async def slow() -> None:
            # Debits carol, then waits 30 s for a "fraud check": it is still inside its
            # transaction when its sibling crashes, so the task group cancels it there.
            await teller.run(
                "slow#1", "slow", "carol", "dave", 40, slow_check=30, inside=slow_is_inside.set
            )

        async def faulty() -> None:
            await slow_is_inside.wait()
            await anyio.sleep(0.2)  # let "steady" commit a few transfers first
            await teller.run("faulty#1", "faulty", "erin", "frank", 25, crash=True)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(teller.worker, "steady", "alice", "bob", [1] * 1000)
                tg.start_soon(slow)
                tg.start_soon(faulty)
        except ExceptionGroup as group:
            crashes = group.subgroup(CardReaderCrashed)
            if crashes is None:
                raise
            say("group", f"raised {crashes.exceptions[0]!r}; siblings were cancelled")

        print("\n== 3. a transfer under anyio.move_on_after(0.5) with a 10 s fraud check")
        with anyio.move_on_after(0.5) as scope:
            await teller.run("late#1", "late", "bob", "carol", 50, slow_check=10)
        say("main", f"deadline passed: cancelled_caught={scope.cancelled_caught}")

        return await audit(engine, teller.never_committed)


def main() -> int:
    return 0 if asyncio.run(run(mongodb_uri_or_exit())) else 1


if __name__ == "__main__":
    sys.exit(main())
