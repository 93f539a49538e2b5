"""A tiny bank shared by the transfer examples: accounts, a ledger, a transfer, an audit.

The domain code is backend-neutral (it only awaits anyodm and ``anyio.sleep``), so
``trio_transfers.py`` and ``asyncio_transfers.py`` run the very same transfers; each
script only supplies its own event loop, nursery/task group and deadlines.

Every committed transfer writes one ``LedgerEntry`` to the ledger in the same transaction as
the two balance changes, so the ledger is the proof: each balance must equal its opening
balance plus what the ledger says, and a transfer that was aborted must have left
neither a ledger entry nor a balance change behind.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import anyio

from anyodm import Engine, Field, Model, Transaction, TransactionPhase, query

OPENING_BALANCES = {
    "alice": 100,
    "bob": 100,
    "carol": 100,
    "dave": 100,
    "erin": 100,
    "frank": 100,
}


class Account(Model):
    owner: str = Field(unique=True)
    balance: int


class LedgerEntry(Model):
    """One committed transfer (written in the same transaction as the balances)."""

    ref: str = Field(unique=True)  # e.g. "steady#3": worker and sequence number
    worker: str
    source: str
    target: str
    amount: int


class InsufficientFunds(Exception):
    pass


class CardReaderCrashed(Exception):
    """What the faulty worker raises in the middle of its transaction."""


_started = time.monotonic()


def say(who: str, message: str) -> None:
    """Print one line of the story: elapsed seconds, who, what."""
    print(f"[{time.monotonic() - _started:5.2f}s] {who:<8} {message}", flush=True)


async def open_bank(engine: Engine) -> None:
    """Fresh accounts and an empty ledger."""
    await engine.remove(Account)
    await engine.remove(LedgerEntry)
    await engine.configure_database([Account, LedgerEntry])
    await engine.save_all(
        [Account(owner=owner, balance=amount) for owner, amount in OPENING_BALANCES.items()]
    )


async def transfer(
    tx: Transaction,
    ref: str,
    worker: str,
    source: str,
    target: str,
    amount: int,
    *,
    slow_check: float = 0.0,
    crash: bool = False,
    inside: Callable[[], object] | None = None,
) -> None:
    """Move ``amount`` from ``source`` to ``target`` inside ``tx``.

    The debit is written first; then an optional "fraud check" takes ``slow_check``
    seconds (time during which a cancellation can arrive), and ``crash=True`` makes the
    worker fail right there, between the debit and the credit.  ``inside`` is set once
    the debit is written, so a script can fail a sibling at that exact moment.
    """
    src = await tx.find_one(Account, Account.owner == source)
    dst = await tx.find_one(Account, Account.owner == target)
    if src is None or dst is None:
        raise LookupError(f"no account {source!r} or {target!r}: open_bank() first")
    if src.balance < amount:
        raise InsufficientFunds(f"{source} has {src.balance}, cannot send {amount}")
    src.balance -= amount
    await tx.save(src)  # written, but only inside the transaction
    say(worker, f"{ref}: debited {source} by {amount} (inside the transaction)")
    if inside is not None:
        inside()
    if slow_check:
        await anyio.sleep(slow_check)
    if crash:
        raise CardReaderCrashed(f"{ref}: card reader crashed after the debit")
    dst.balance += amount
    await tx.save(dst)
    await tx.save(LedgerEntry(ref=ref, worker=worker, source=source, target=target, amount=amount))


async def is_embedded_server(engine: Engine) -> bool:
    """Whether the server is anyodm's embedded test server (mongoeco)."""
    hello = await anyio.to_thread.run_sync(engine.client.admin.command, "hello")
    return bool(hello.get("gitVersion") == "mongoeco")


class Teller:
    """Runs transfers with ``engine.with_transaction`` and tells what became of each.

    Transfers that conflict are retried by ``with_transaction`` (MongoDB's write
    conflicts are ``TransientTransactionError``s; the embedded test server, which
    refuses a commit whenever another one happened meanwhile, reports its refusals the
    same way).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.never_committed: list[str] = []  # refs of transfers that did not commit

    async def run(
        self, ref: str, who: str, source: str, target: str, amount: int, **how: Any
    ) -> None:
        """One transfer in its own transaction, with ``engine.with_transaction``."""
        attempts: list[Transaction] = []

        async def body(tx: Transaction) -> None:
            attempts.append(tx)
            await transfer(tx, ref, who, source, target, amount, **how)

        try:
            await self.engine.with_transaction(body)
        except BaseException as exc:
            self._failed(ref, who, exc, attempts)
            raise
        say(who, f"{ref}: committed ({source} -> {target}: {amount})")

    def _failed(self, ref: str, who: str, exc: BaseException, attempts: list[Transaction]) -> None:
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            why = "CANCELLED"
        else:
            why = f"FAILED ({type(exc).__name__}: {exc})"
        phase = attempts[-1].phase if attempts else None
        if phase is TransactionPhase.COMMITTED:
            # The cancellation arrived while the commit was on its way: anyodm lets a
            # commit finish (shielded), then delivers the cancellation.
            say(who, f"{ref}: {why} after its commit went through -> transaction COMMITTED")
            return
        self.never_committed.append(ref)
        say(who, f"{ref}: {why} -> transaction {phase.value.upper() if phase else 'NEVER STARTED'}")

    async def worker(
        self, who: str, source: str, target: str, amounts: list[int], pause: float = 0.05
    ) -> None:
        """Transfers one after another, each in its own transaction."""
        try:
            for number, amount in enumerate(amounts, 1):
                await self.run(f"{who}#{number}", who, source, target, amount)
                await anyio.sleep(pause)
        except anyio.get_cancelled_exc_class():
            say(who, "stopped by the cancellation")
            raise
        say(who, "done")


async def audit(engine: Engine, never_committed: list[str]) -> bool:
    """Print balances and ledger, and prove what must hold. True when everything does."""
    accounts = {a.owner: a.balance for a in await engine.find(Account, sort=Account.owner)}
    ledger = await engine.find(LedgerEntry, sort=LedgerEntry.ref)
    print()
    print(f"ledger: {len(ledger)} committed transfers")
    for entry in ledger:
        print(f"  {entry.ref:<18} {entry.source:>6} -> {entry.target:<6} {entry.amount:>4}")
    expected = dict(OPENING_BALANCES)
    for entry in ledger:
        expected[entry.source] -= entry.amount
        expected[entry.target] += entry.amount
    print("balances (stored / opening + ledger):")
    for owner, balance in accounts.items():
        mark = "ok" if balance == expected[owner] else "MISMATCH"
        print(f"  {owner:<6} {balance:>4} / {expected[owner]:>4}  {mark}")

    total, opening_total = sum(accounts.values()), sum(OPENING_BALANCES.values())
    checks = {
        "every balance = opening balance + committed ledger entries": accounts == expected,
        f"total conserved: {total} == {opening_total}": total == opening_total,
        "no ledger entry of the failed/cancelled transfers "
        f"({', '.join(never_committed)})": await engine.count(
            LedgerEntry, query.in_(LedgerEntry.ref, never_committed)
        )
        == 0,
    }
    print()
    for claim, holds in checks.items():
        print(f"{'PROVED' if holds else 'FAILED'}: {claim}")
    return all(checks.values())


def mongodb_uri_or_exit() -> str:
    """``$MONGODB_URI``; the examples need a server (``just demo`` starts one itself)."""
    uri = os.environ.get("MONGODB_URI", "").strip()
    if not uri:
        print(
            "set MONGODB_URI to a MongoDB with transactions (a replica set), or run "
            "'./dev demo', which starts an embedded server",
            file=sys.stderr,
        )
        sys.exit(2)
    return uri
