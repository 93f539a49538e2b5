"""Adversarial review of issue 10's redesign: one regression test per bug it found.

Each test failed on the code it reviewed; all pass since the fixes (numbers as in the
review: #1 session end relabelling a commit, #2/#3 cleanup behind a slot-waiting
operation, #3b last-chance abort beside the lock holder, #4 abort racing a commit, #5
aclose beside a reading thread, #6 handed-over abort under an expired deadline, #7
unknown commit outcome reported ABORTED, #8 SystemExit escaping asyncio's loop, #9
concurrent saves of one instance, #10 raw-session turn ignoring the deadline, #11 abort
during a session end claiming ABORTED early).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from typing import Any

import anyio
import pytest
from pymongo.client_session import ClientSession

from anyodm import Engine, SessionStateError, TransactionPhase
from tests.sessions.models import Player
from tests.sessions.probes import HeldCalls, SessionUseProbe

SLACK = 1.5


@pytest.fixture
def players(anyodm_engine: Engine) -> Any:
    return anyodm_engine.get_collection(Player)


def small_engine(mongo_client: Any, mongo_database: Any, **options: Any) -> Engine:
    return Engine(client=mongo_client, database=mongo_database.name, **options)


async def wait_event(event: threading.Event) -> None:
    assert await anyio.to_thread.run_sync(event.wait, 10)


class HeldCommit:
    """Makes ClientSession.commit_transaction wait in its thread until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        real = ClientSession.commit_transaction

        @functools.wraps(real)
        def held(session: ClientSession) -> None:
            self.entered.set()
            self.released.wait(20)
            real(session)

        monkeypatch.setattr(ClientSession, "commit_transaction", held)


# -- 1. Session.end racing Transaction.commit ---------------------------------------------


async def test_session_end_during_a_commit_does_not_relabel_it_aborted(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldCommit(monkeypatch)
    session = anyodm_engine.session()
    await session.start()
    tx = session.transaction()
    await tx.start()
    player = await tx.save(Player(name="a", game="g"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(tx.commit)
        await wait_event(held.entered)  # the commit is in its thread
        tg.start_soon(session.end)
        await anyio.sleep(0.1)  # let end() reach its wait for the session lock
        held.released.set()
    assert players.count_documents({}) == 1  # the commit went through...
    assert tx.phase is TransactionPhase.COMMITTED  # ...so the phase must say so
    # and the instance counts as saved: saving again sends nothing new
    player.name = "b"
    await anyodm_engine.save(player)
    assert players.find_one({})["game"] == "g"


# -- 2/3. cleanup waits for the session lock held by an operation queued for a slot --------


async def test_closing_a_session_cursor_does_not_wait_for_a_queued_operation(
    mongo_client: Any,
    mongo_database: Any,
    players: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    players.insert_many([{"name": f"p{i}", "game": "g"} for i in range(500)])
    engine = small_engine(mongo_client, mongo_database, max_threads=1, cleanup_timeout=4)
    held = HeldCalls(monkeypatch, "count_documents")
    async with engine.session() as session, anyio.create_task_group() as tg:
        cursor = session.find(Player)
        async with cursor:
            async for _ in cursor:
                break  # the server cursor is open
            tg.start_soon(engine.count, Player)  # not in the session: takes the only slot
            await wait_event(held.entered)
            tg.start_soon(session.find_one, Player)  # takes the session lock, waits for a slot
            await anyio.sleep(0.1)
            started = time.monotonic()
        took = time.monotonic() - started  # closing the cursor has reserved capacity
        held.release()
    assert "did not finish" not in caplog.text
    assert took < SLACK
    assert engine.thread_limiter.borrowed_tokens == 0


async def test_abort_does_not_wait_for_a_session_operation_queued_for_a_slot(
    mongo_client: Any, mongo_database: Any, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = small_engine(mongo_client, mongo_database, max_threads=1, cleanup_timeout=4)
    held = HeldCalls(monkeypatch, "count_documents")
    outcome: list[BaseException] = []

    async def save_in(session: Any) -> None:
        try:
            await session.save(Player(name="late", game="g"))
        except Exception as exc:
            outcome.append(exc)

    async with engine.session() as session, anyio.create_task_group() as tg:
        tx = session.transaction()
        await tx.start()
        await tx.save(Player(name="a", game="g"))
        tg.start_soon(engine.count, Player)  # not in the session: takes the only slot
        await wait_event(held.entered)
        tg.start_soon(save_in, session)  # a save in the session (so in the transaction)
        await anyio.sleep(0.1)  # ... holding the session lock, waiting for a slot
        started = time.monotonic()
        await tx.abort()
        took = time.monotonic() - started
        assert tx.phase is TransactionPhase.ABORTED
        held.release()
    # the save issued into the transaction must not land after its abort
    assert players.count_documents({"name": "late"}) == 0, outcome
    assert took < SLACK  # cleanup has reserved capacity: no wait behind ordinary work
    assert engine.thread_limiter.borrowed_tokens == 0


# -- 4. Transaction.abort racing Transaction.commit ---------------------------------------


async def test_abort_during_a_commit_does_not_claim_the_committed_transaction_aborted(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldCommit(monkeypatch)
    refused: list[BaseException] = []

    async def abort_or_refused(tx: Any) -> None:
        try:
            await tx.abort()
        except SessionStateError as exc:  # "while the transaction is committing"
            refused.append(exc)

    async with anyodm_engine.transaction() as tx:
        await tx.save(Player(name="a", game="g"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(tx.commit)
            await wait_event(held.entered)  # the commit is in its thread
            tg.start_soon(abort_or_refused, tx)  # another task aborts meanwhile
            await anyio.sleep(0.1)
            held.released.set()
    stored = players.count_documents({})
    # Either the abort won (nothing stored, ABORTED) or the commit did (stored,
    # COMMITTED), never a stored document with a phase saying ABORTED.
    assert (stored, tx.phase) in ((0, TransactionPhase.ABORTED), (1, TransactionPhase.COMMITTED))


async def test_last_chance_abort_never_shares_the_driver_session_with_a_queued_operation(
    mongo_client: Any, mongo_database: Any, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The abort gives up waiting for the session lock (held by an operation queued for a
    slot) and runs without it; the queued operation then gets its slot: two threads in one
    ClientSession (S5)."""
    from pymongo.collection import Collection

    engine = small_engine(mongo_client, mongo_database, max_threads=1, cleanup_timeout=0.5)
    held = HeldCalls(monkeypatch, "count_documents")
    abort_entered = threading.Event()
    insert_entered = threading.Event()
    real_abort = ClientSession.abort_transaction
    real_insert = Collection.insert_one

    def slow_abort(session: ClientSession) -> None:
        abort_entered.set()
        insert_entered.wait(3)  # widen the window; returns at once without the bug
        real_abort(session)

    def noted_insert(collection: Any, *args: Any, **kwargs: Any) -> Any:
        insert_entered.set()
        return real_insert(collection, *args, **kwargs)

    monkeypatch.setattr(ClientSession, "abort_transaction", slow_abort)
    monkeypatch.setattr(Collection, "insert_one", noted_insert)
    probe = SessionUseProbe(monkeypatch)

    async def save_in(session: Any) -> None:
        with contextlib.suppress(Exception):
            await session.save(Player(name="late", game="g"))

    async def release_when_aborting() -> None:
        await wait_event(abort_entered)
        held.release()

    async with engine.session() as session, anyio.create_task_group() as tg:
        tx = session.transaction()
        await tx.start()
        tg.start_soon(engine.count, Player)  # takes the only ordinary slot
        await wait_event(held.entered)
        tg.start_soon(save_in, session)  # holds the session lock, queued for a slot
        await anyio.sleep(0.1)
        tg.start_soon(release_when_aborting)
        await tx.abort()
    assert probe.overlaps == 0
    assert engine.thread_limiter.borrowed_tokens == 0


# -- 5. two tasks on one cursor without a session -----------------------------------------


async def test_aclose_from_another_task_waits_for_the_thread_reading_the_cursor(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymongo.synchronous.cursor import Cursor

    players.insert_many([{"name": f"p{i}", "game": "g"} for i in range(500)])
    reading = threading.Event()
    release = threading.Event()
    lock = threading.Lock()
    inside: dict[int, int] = {}
    overlaps = 0
    real_to_list, real_close = Cursor.to_list, Cursor.close

    def enter(cursor: Any) -> None:
        nonlocal overlaps
        with lock:
            inside[id(cursor)] = inside.get(id(cursor), 0) + 1
            overlaps += inside[id(cursor)] > 1

    def leave(cursor: Any) -> None:
        with lock:
            inside[id(cursor)] -= 1

    def to_list(cursor: Any, *args: Any, **kwargs: Any) -> Any:
        enter(cursor)
        try:
            if reading.is_set():  # the second batch: hold it
                release.wait(3)
            reading.set()
            return real_to_list(cursor, *args, **kwargs)
        finally:
            leave(cursor)

    def close(cursor: Any) -> None:
        enter(cursor)
        try:
            release.set()
            real_close(cursor)
        finally:
            leave(cursor)

    monkeypatch.setattr(Cursor, "to_list", to_list)
    monkeypatch.setattr(Cursor, "close", close)
    cursor = anyodm_engine.find(Player)

    async def read_all() -> None:
        try:
            async for _ in cursor:
                pass
        except Exception:
            pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_all)
        await wait_event(reading)
        await anyio.sleep(0.2)  # the reader is in its thread for the second batch
        await cursor.aclose()  # a watchdog task closes it
    assert overlaps == 0
    assert anyodm_engine.thread_limiter.borrowed_tokens == 0


# -- 6. a handed-over abort runs under the operation's expired driver timeout -------------


def command_listener() -> Any:
    from pymongo import monitoring

    class Listener(monitoring.CommandListener):
        def __init__(self) -> None:
            self.ok: list[str] = []
            self.bad: list[str] = []

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            pass

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            self.ok.append(event.command_name)

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            self.bad.append(event.command_name)

    return Listener()


async def test_an_abort_handed_to_an_operation_thread_reaches_the_server(
    mongodb_uri: str, mongo_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pymongo

    listener = command_listener()
    client: Any = pymongo.MongoClient(mongodb_uri, event_listeners=[listener])
    try:
        engine = Engine(client=client, database=mongo_database.name, cleanup_timeout=0.3)
        held = HeldCalls(monkeypatch, "count_documents")

        async def count_with_deadline(tx: Any) -> None:
            with anyio.move_on_after(0.4):
                with contextlib.suppress(Exception):
                    await tx.count(Player)

        async with anyio.create_task_group() as tg:
            with anyio.move_on_after(0.2):
                async with engine.transaction() as tx:
                    driver = tx.get_driver_session()
                    await tx.save(Player(name="a", game="g"))
                    tg.start_soon(count_with_deadline, tx)
                    await wait_event(held.entered)
                    await anyio.sleep_forever()
            assert tx.phase is TransactionPhase.ABORTING  # handed to the count's thread
            await anyio.sleep(0.6)  # the count's own deadline passes while it is held
            held.release()
        assert tx.phase is TransactionPhase.ABORTED
        assert not driver.in_transaction
        # ABORTED must mean the server was told: the abort really reached it
        assert "abortTransaction" in listener.ok, (listener.ok, listener.bad)
    finally:
        client.close()


# -- 7. a commit that timed out server-side (MaxTimeMSExpired) is reported ABORTED ----------


async def test_a_commit_whose_outcome_is_unknown_is_not_reported_aborted(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server applied the commit but the reply says MaxTimeMSExpired (e.g. the
    majority write concern wait ran out), labelled UnknownTransactionCommitResult: the
    outcome is unknown (MongoDB's transactions spec), never "nothing committed"."""
    from pymongo.errors import OperationFailure

    real = ClientSession.commit_transaction

    def applied_then_timed_out(session: ClientSession) -> None:
        real(session)
        raise OperationFailure(
            "operation exceeded time limit",
            50,
            {
                "ok": 0,
                "code": 50,
                "errmsg": "operation exceeded time limit",
                "errorLabels": ["UnknownTransactionCommitResult"],
            },
        )

    monkeypatch.setattr(ClientSession, "commit_transaction", applied_then_timed_out)
    player = Player(name="a", game="g")
    with pytest.raises(OperationFailure):
        async with anyodm_engine.transaction() as tx:
            await tx.save(player)
    monkeypatch.setattr(ClientSession, "commit_transaction", real)
    assert players.count_documents({}) == 1
    assert tx.phase is TransactionPhase.COMMIT_UNKNOWN
    # S8: saving the instance again must work (an upsert), whatever the outcome was
    player.game = "h"
    await anyodm_engine.save(player)
    assert players.find_one({})["game"] == "h"


def test_sync_a_commit_whose_outcome_is_unknown_is_not_reported_aborted(
    anyodm_sync_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymongo.errors import OperationFailure

    real = ClientSession.commit_transaction

    def applied_then_timed_out(session: ClientSession) -> None:
        real(session)
        raise OperationFailure(
            "operation exceeded time limit",
            50,
            {"ok": 0, "code": 50, "errorLabels": ["UnknownTransactionCommitResult"]},
        )

    monkeypatch.setattr(ClientSession, "commit_transaction", applied_then_timed_out)
    player = Player(name="a", game="g")
    with pytest.raises(OperationFailure), anyodm_sync_engine.transaction() as tx:
        tx.save(player)
    monkeypatch.setattr(ClientSession, "commit_transaction", real)
    assert tx.phase is TransactionPhase.COMMIT_UNKNOWN
    player.game = "h"
    anyodm_sync_engine.save(player)  # an upsert, not an insert of a stored _id
    assert anyodm_sync_engine.get_collection(Player).find_one({})["game"] == "h"


# -- 8. a BaseException raised in a worker thread escapes asyncio's loop -------------------

_SYSTEM_EXIT_SCRIPT = """
import sys, anyio
from pydantic import field_validator
from anyodm import Engine, Model


class Boom(Model):
    name: str

    @field_validator("name")
    @classmethod
    def boom(cls, v):
        if v == "boom":
            raise SystemExit("validator exits")
        return v


async def main(uri, database):
    engine = Engine(client=uri, database=database)
    engine.get_collection(Boom).insert_one({"name": "boom"})
    try:
        async with engine.transaction() as tx:
            await tx.find_one(Boom)
    except BaseException as exc:
        print("block raised", type(exc).__name__, tx.phase.value, flush=True)
        raise


try:
    anyio.run(main, sys.argv[1], sys.argv[2], backend=sys.argv[3])
except SystemExit:
    pass
"""


async def test_a_system_exit_from_a_worker_thread_comes_out_of_the_block_as_itself(
    anyio_backend: str, mongodb_uri: str, mongo_database: Any
) -> None:
    import sys

    result = await anyio.run_process(
        [
            sys.executable,
            "-c",
            _SYSTEM_EXIT_SCRIPT,
            mongodb_uri,
            mongo_database.name,
            anyio_backend,
        ],
        check=False,
    )
    out = result.stdout.decode()
    # as on trio: the caller sees the SystemExit itself (not a CancelledError caused by
    # the loop dying under it), and the transaction was aborted
    assert "block raised SystemExit aborted" in out, (out, result.stderr.decode()[-2000:])


# -- 9. two tasks saving one instance: the earlier state is recorded last ------------------


async def test_two_tasks_saving_one_instance_never_leave_it_looking_saved_when_it_is_not(
    anyodm_engine: Engine, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymongo.collection import Collection

    player = await anyodm_engine.save(Player(name="a", game="g0"))
    a_entered, b_landed, a_done = threading.Event(), threading.Event(), threading.Event()
    real = Collection.update_one
    calls = 0

    def update_one(collection: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # task A's save: sent after B's
            a_entered.set()
            b_landed.wait(5)
            return real(collection, *args, **kwargs)
        result = real(collection, *args, **kwargs)  # task B's save lands first...
        b_landed.set()
        a_done.wait(5)  # ...and records its state after A recorded its own
        return result

    monkeypatch.setattr(Collection, "update_one", update_one)
    a_finished = anyio.Event()

    async def save_a() -> None:
        await anyodm_engine.save(player)
        a_finished.set()

    async with anyio.create_task_group() as tg:
        player.game = "g1"
        tg.start_soon(save_a)
        await wait_event(a_entered)
        player.game = "g2"  # a second task changes and saves the same instance
        tg.start_soon(anyodm_engine.save, player)
        await a_finished.wait()
        a_done.set()
    monkeypatch.setattr(Collection, "update_one", real)
    assert player.game == "g2"
    await anyodm_engine.save(player)  # S8: saving again stores exactly the instance
    assert players.find_one({})["game"] == "g2"


# -- 10. a raw ClientSession: waiting for its turn ignores the caller's deadline -----------


async def test_a_deadline_stops_an_operation_waiting_for_its_turn_on_a_raw_session(
    anyodm_engine: Engine, mongo_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldCalls(monkeypatch, "count_documents", limit=4)  # A lets go after 4 s
    with mongo_client.start_session() as raw:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: anyodm_engine.count(Player, session=raw))
            await wait_event(held.entered)
            started = time.monotonic()
            with pytest.raises(TimeoutError), anyio.fail_after(0.3):
                await anyodm_engine.find_one(Player, session=raw)
            took = time.monotonic() - started
    assert took < 0.3 + SLACK  # S2: the deadline holds while waiting for the session
    assert anyodm_engine.thread_limiter.borrowed_tokens == 0


# -- 11. abort() while the session is ending claims ABORTED before the driver is out -------


async def test_abort_while_the_session_ends_does_not_claim_aborted_too_early(
    mongo_client: Any, mongo_database: Any, players: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = small_engine(mongo_client, mongo_database, cleanup_timeout=5)
    held = HeldCalls(monkeypatch, "count_documents")

    async def count_in(tx: Any) -> None:
        with contextlib.suppress(Exception):
            await tx.count(Player)

    session = engine.session()
    await session.start()
    tx = session.transaction()
    await tx.start()
    driver = tx.get_driver_session()
    await tx.save(Player(name="a", game="g"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(count_in, tx)  # another task's operation holds the driver session
        await wait_event(held.entered)
        tg.start_soon(session.end)  # waits for that operation's thread
        await anyio.sleep(0.1)
        assert not session.is_started
        await tx.abort()
        phase, in_transaction = tx.phase, driver.in_transaction
        held.release()
    # ABORTED only once the driver is out of the transaction (S9)
    assert not (phase is TransactionPhase.ABORTED and in_transaction)
    assert players.count_documents({}) == 0
