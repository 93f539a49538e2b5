"""Concurrent transfers through ``engine.with_transaction`` on the embedded server: how
many attempts each committed transfer takes (a load check run by hand, not a test).

    uv run --no-sync python -m benchmarks.embedded_write_conflicts
    ... python -m benchmarks.embedded_write_conflicts --accounts 10 --transfers 500 --tasks 500
    ... python -m benchmarks.embedded_write_conflicts --backend trio --uri mongodb://...

Each task runs transfers one after another: in a transaction, load two distinct random
accounts, move 1 from one to the other, save both.  The callback counts its runs, so
``attempts / transfers`` is the number of times a committed transfer ran (1.0: no
retry).  At the end the balances must add up to what they started at, and each
account's balance must be its start plus what the transfers moved to it.  By default a
fresh embedded server is started (``--plain-server``: without anyodm.testing's patches).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from typing import Any

import anyio
import pymongo

from anyodm import Engine, Model
from anyodm.testing import MongoServer

START_BALANCE = 1_000


class Account(Model):
    number: int
    balance: int


async def _run(args: argparse.Namespace, uri: str) -> dict[str, Any]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        uri, maxPoolSize=max(100, args.tasks)
    )
    database = f"write_conflicts_{int(time.time() * 1000)}"
    engine = Engine(client=client, database=database, transaction_time_limit=args.time_limit)
    await engine.save_all([Account(number=n, balance=START_BALANCE) for n in range(args.accounts)])
    rng = random.Random(args.seed)
    plan = [tuple(rng.sample(range(args.accounts), 2)) for _ in range(args.transfers)]
    expected: Counter[int] = Counter()
    for source, target in plan:
        expected[source] -= 1
        expected[target] += 1
    attempts = 0
    done = 0

    async def transfer(tx: Any, source: int, target: int) -> None:
        nonlocal attempts
        attempts += 1
        a = await tx.find_one(Account, Account.number == source)
        b = await tx.find_one(Account, Account.number == target)
        a.balance -= 1
        b.balance += 1
        await tx.save(a)
        await tx.save(b)

    queue = iter(plan)

    async def worker() -> None:
        nonlocal done
        for source, target in queue:
            await engine.with_transaction(transfer, source, target)
            done += 1

    began = time.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(args.tasks):
            tg.start_soon(worker)
    elapsed = time.monotonic() - began
    accounts = {a.number: a.balance for a in await engine.find(Account)}
    client.drop_database(database)
    client.close()
    correct = (
        all(accounts[n] == START_BALANCE + expected[n] for n in range(args.accounts))
        and sum(accounts.values()) == START_BALANCE * args.accounts
    )
    return {
        "transfers": done,
        "attempts": attempts,
        "attempts_per_commit": attempts / done if done else float("nan"),
        "seconds": elapsed,
        "commits_per_second": done / elapsed if elapsed else float("nan"),
        "balances_correct": correct,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--transfers", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=100, help="concurrent tasks")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--uri", help="use this server instead of starting one")
    parser.add_argument("--plain-server", action="store_true")
    args = parser.parse_args(argv)
    if args.uri:
        result = anyio.run(_run, args, args.uri, backend=args.backend)
    else:
        with MongoServer(patch=not args.plain_server) as server:
            result = anyio.run(_run, args, server.uri, backend=args.backend)
    print(
        f"{args.accounts} accounts, {args.transfers} transfers, {args.tasks} tasks "
        f"({args.backend}): {result['attempts']} attempts, "
        f"{result['attempts_per_commit']:.2f} attempts per committed transfer, "
        f"{result['seconds']:.1f} s, {result['commits_per_second']:.1f} commits/s, "
        f"balances {'correct' if result['balances_correct'] else 'WRONG'}"
    )
    return 0 if result["balances_correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
