"""wheel-check's program: anyodm as installed from the wheel, on the embedded server.

Run from outside the source tree by scripts/wheel-check in each fresh environment.
Sync, asyncio and (when installed) trio: a unique index, a transaction retried by
with_transaction, a streamed find, the connection string's database, and the new
errors' importability.  Prints one line per check; any failure raises.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from importlib.metadata import version
from typing import Any

import anyodm
from anyodm import (
    DuplicateKeyError,
    Engine,
    Field,
    Model,
    SyncEngine,
    TransactionRetriesExhaustedError,
    TransactionsNotSupportedError,
)
from anyodm.testing import mongodb_server

HAS_TRIO = importlib.util.find_spec("trio") is not None


class Account(Model):
    owner: str = Field(unique=True)
    balance: int


def say(what: str) -> None:
    print(f"wheel-check: {what}", flush=True)


def sync_part(uri: str) -> None:
    with SyncEngine(uri) as engine:
        assert engine.database_name == "wheelcheck_sync", engine.database_name
        engine.configure_database([Account])
        engine.save_all([Account(owner="alice", balance=100), Account(owner="bob", balance=0)])
        try:
            engine.save(Account(owner="alice", balance=1))
        except DuplicateKeyError:
            pass
        else:
            raise AssertionError("the unique index did not hold")

        def move(tx: Any, source: str, target: str, amount: int) -> None:
            src = tx.find_one(Account, Account.owner == source)
            dst = tx.find_one(Account, Account.owner == target)
            src.balance -= amount
            dst.balance += amount
            tx.save_all([src, dst])

        engine.with_transaction(move, "alice", "bob", 30)
        balances = [(a.owner, a.balance) for a in engine.find(Account, sort=Account.owner)]
        assert balances == [("alice", 70), ("bob", 30)], balances
        engine.database.client.drop_database(engine.database_name)
    say("SyncEngine: save_all, unique index, with_transaction, find")


async def async_part(uri: str, backend: str) -> None:
    async with Engine(uri) as engine:
        assert engine.database_name.startswith("wheelcheck_"), engine.database_name
        await engine.configure_database([Account])
        await engine.save_all([Account(owner=f"o{i}", balance=i) for i in range(250)])

        async def bump(tx: Any) -> int:
            first = await tx.find_one(Account, Account.owner == "o1")
            first.balance += 1000
            await tx.save(first)
            return first.balance

        assert await engine.with_transaction(bump) == 1001
        total = 0
        async for account in engine.find(Account, Account.balance >= 0):
            total += account.balance
        assert total == sum(range(250)) + 1000, total
        assert await engine.count(Account) == 250
        await engine.remove(Account)
    say(f"Engine on {backend}: save_all, with_transaction, streamed find, remove")


def with_database(uri: str, name: str) -> str:
    base, sep, options = uri.partition("?")
    return f"{base.rstrip('/')}/{name}{sep}{options}"


def main() -> int:
    where = os.path.dirname(anyodm.__file__)
    assert "site-packages" in where, f"anyodm imported from {where}, not the installed wheel"
    assert anyodm.__version__ == version("anyodm"), (anyodm.__version__, version("anyodm"))
    versions = " ".join(
        f"{name}=={version(name)}"
        for name in ("pymongo", "pydantic", "anyio", "typing-extensions")
        + (("trio",) if HAS_TRIO else ())
    )
    say(f"anyodm {anyodm.__version__} on Python {sys.version.split()[0]}: {versions}")
    assert issubclass(TransactionsNotSupportedError, anyodm.AnyODMError)
    assert issubclass(TransactionRetriesExhaustedError, anyodm.AnyODMError)
    with mongodb_server() as uri:
        assert "production" not in uri, "the test server came from MONGODB_URI"
        say(f"embedded server at {uri}")
        sync_part(with_database(uri, "wheelcheck_sync"))
        asyncio.run(async_part(with_database(uri, "wheelcheck_asyncio"), "asyncio"))
        if HAS_TRIO:
            import trio

            trio.run(async_part, with_database(uri, "wheelcheck_trio"), "trio")
        else:
            say("trio is not installed here: skipped, as it is optional")
    say("program passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
