"""Money transfers on trio: nursery-scoped workers, a crash mid-transfer, a deadline.

    MONGODB_URI=mongodb://... python examples/trio_transfers.py

(`./dev demo` runs this against an embedded server it starts itself.)  The server must
support transactions.  What it shows:

1. Three workers in a nursery, each moving money with ``engine.with_transaction``.
2. A worker crashes between a debit and its credit.  Its transaction is aborted, and
   trio cancels the sibling workers, one of them in the middle of its own transaction:
   that transaction is aborted too, by the cancellation.
3. A transfer under ``trio.move_on_after``: the deadline cancels it mid-transaction.
4. The audit: balances and ledger agree, the total is conserved, and nothing of the
   failed or cancelled transfers was committed.
"""

from __future__ import annotations

import sys

import trio
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


async def run(uri: str, database: str = "anyodm_example_trio") -> bool:
    async with Engine(uri, database=database) as engine:
        await open_bank(engine)
        embedded = await is_embedded_server(engine)
        teller = Teller(engine)
        print(f"server: {'embedded' if embedded else uri}")

        print("== 1. three workers in a nursery, each with its own two accounts")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(teller.worker, "w1", "alice", "bob", [10, 20, 5])
            nursery.start_soon(teller.worker, "w2", "carol", "dave", [7, 3, 12])
            nursery.start_soon(teller.worker, "w3", "erin", "frank", [30, 1, 4])

        print("\n== 2. a worker crashes between a debit and its credit")
        slow_is_inside = trio.Event()

        async def slow() -> None:
            # Debits carol, then waits 30 s for a "fraud check": it is still inside its
            # transaction when its sibling crashes, so the nursery cancels it there.
            await teller.run(
                "slow#1", "slow", "carol", "dave", 40, slow_check=30, inside=slow_is_inside.set
            )

        async def faulty() -> None:
            await slow_is_inside.wait()
            await trio.sleep(0.2)  # let "steady" commit a few transfers first
            await teller.run("faulty#1", "faulty", "erin", "frank", 25, crash=True)

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(teller.worker, "steady", "alice", "bob", [1] * 1000)
                nursery.start_soon(slow)
                nursery.start_soon(faulty)
        except ExceptionGroup as group:
            crashes = group.subgroup(CardReaderCrashed)
            if crashes is None:
                raise
            say("nursery", f"raised {crashes.exceptions[0]!r}; siblings were cancelled")

        print("\n== 3. a transfer under trio.move_on_after(0.5) with a 10 s fraud check")
        with trio.move_on_after(0.5) as scope:
            await teller.run("late#1", "late", "bob", "carol", 50, slow_check=10)
        say("main", f"deadline passed: cancelled_caught={scope.cancelled_caught}")

        return await audit(engine, teller.never_committed)


def main() -> int:
    return 0 if trio.run(run, mongodb_uri_or_exit()) else 1


if __name__ == "__main__":
    sys.exit(main())
