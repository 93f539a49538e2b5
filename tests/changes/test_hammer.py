"""The delivery guarantee under attack: every event exactly once, in order, while the
reader is cut by resumable server errors, deadlines on single reads and cancellations
of the whole stream (reopened from the token of the last event it delivered)."""

from __future__ import annotations

import os
import random
from typing import Any

import anyio

from anyodm import Engine, Model
from anyodm.testing.plugin import ArmFailPoint

#: Events written; ANYODM_HAMMER_EVENTS overrides (the lowest-versions leg runs fewer).
EVENTS = int(os.environ.get("ANYODM_HAMMER_EVENTS", "10000"))
LABEL = {234: ["ResumableChangeStreamError"], 43: []}


class Tick(Model):
    seq: int


async def test_every_event_once_in_order_through_errors_and_cancellations(
    anyodm_engine: Engine, failpoint: ArmFailPoint, mongo_database: Any
) -> None:
    engine = anyodm_engine
    rng = random.Random(2112)
    collection = mongo_database[Tick.__anyodm__.collection]
    seen: list[int] = []
    cuts = {"errors": 0, "deadlines": 0, "reopened": 0}

    async with engine.watch(Tick) as changes:  # a start token: the marker's event
        await engine.save(Tick(seq=-1))
        marker = await changes.__anext__()
    token: Any = marker.resume_token

    async def write() -> None:
        written = 0
        while written < EVENTS:
            n = min(rng.randint(1, 300), EVENTS - written)
            docs = [{"seq": seq} for seq in range(written, written + n)]
            await anyio.to_thread.run_sync(collection.insert_many, docs)
            written += n
            await anyio.sleep(0)

    async def arm_resumable_error() -> None:
        # A labelled error (234: RetryChangeStream) or CursorNotFound: resumable, and not
        # a "not primary" code, after which the driver would rediscover the server first.
        code = rng.choice([234, 43])
        await anyio.to_thread.run_sync(
            lambda: failpoint(["getMore"], error_code=code, error_labels=LABEL[code])
        )

    async def read() -> None:
        nonlocal token
        while len(seen) < EVENTS:
            with anyio.CancelScope() as stream_scope:  # cancelled at random: reopened
                async with engine.watch(Tick, resume_after=token, batch_size=50) as changes:
                    while len(seen) < EVENTS:
                        roll = rng.random()
                        if roll < 0.02:
                            cuts["errors"] += 1
                            await arm_resumable_error()
                        elif roll < 0.03:
                            stream_scope.deadline = anyio.current_time() + rng.uniform(0, 0.05)
                        if roll > 0.85:  # a deadline on this one read only
                            with anyio.move_on_after(rng.uniform(0, 0.005)) as scope:
                                change = await changes.__anext__()
                            if scope.cancelled_caught:
                                cuts["deadlines"] += 1
                                continue
                        else:
                            change = await changes.__anext__()
                        assert change.document is not None
                        seen.append(change.document.seq)
                        token = changes.resume_token
            if stream_scope.cancelled_caught:
                cuts["reopened"] += 1
                token = changes.resume_token  # what it delivered, not what it read

    with anyio.fail_after(300):
        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            tg.start_soon(read)
    assert seen == list(range(EVENTS))
    assert all(cuts.values()), cuts  # every kind of cut happened
