"""The webhook outbox shared by several workers (SQLite and PostgreSQL): fan-out owes each event
once per endpoint however many workers race, and two dispatchers deliver every event exactly once,
each conversation in order, even with failures in between."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.domain import EventType
from bridge.integrations import WebhookEndpoint
from store import events
from store import webhook_outbox as outbox
from store.events import NewEvent
from store.tables import webhook_deliveries
from tests.e2e.integrations_support import fake_receiver, receiver
from tests.fakes.receiver import FakeReceiver
from tests.harness import eventually
from traza.webhooks import WebhookDispatcher

__all__ = ["fake_receiver", "receiver"]
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CONVERSATIONS = 4


async def seed(engine: AsyncEngine, n: int, start: int = 0) -> None:
    async with engine.begin() as conn:
        await events.append(
            conn,
            [
                NewEvent(
                    EventType.CUSTOMER_MESSAGE_RECEIVED,
                    T0 + timedelta(seconds=i),
                    conversation_id=1 + i % CONVERSATIONS,
                    ref=1001 + i % CONVERSATIONS,
                    actor="contact:1",
                    team_id="soporte",
                    payload={"text": f"mensaje {i}"},
                )
                for i in range(start, start + n)
            ],
        )


async def test_racing_fan_outs_owe_each_event_once(engine: AsyncEngine) -> None:
    endpoint = WebhookEndpoint("crm", "http://127.0.0.1:9/hooks", "S", backfill=True)
    await seed(engine, 30)
    await outbox.ensure_cursors(engine, [endpoint], T0)
    await asyncio.gather(*(outbox.fan_out(engine, [endpoint], T0, limit=7) for _ in range(6)))
    while await outbox.behind(engine, ["crm"]):
        await outbox.fan_out(engine, [endpoint], T0, limit=7)
    async with engine.connect() as conn:
        owed = (
            (await conn.execute(select(webhook_deliveries.c.seq).order_by(webhook_deliveries.c.seq)))
            .scalars()
            .all()
        )
        keys = await conn.scalar(select(func.count(func.distinct(webhook_deliveries.c.queue_key))))
    assert list(owed) == list(range(1, 31)) and keys == CONVERSATIONS


async def test_two_workers_deliver_every_event_once_and_each_conversation_in_order(
    engine: AsyncEngine, receiver: FakeReceiver
) -> None:
    endpoint = WebhookEndpoint("crm", f"{receiver.url}/hooks/crm", "HOOK_SECRET", backfill=True)
    receiver.plan("crm", [500, 503, 500, 429])
    await seed(engine, 24)
    workers = [
        WebhookDispatcher(engine, [endpoint], {"HOOK_SECRET": "s3cret"}, concurrency=3, backoff_base=0.05)
        for _ in range(2)
    ]
    workers[0].holder, workers[1].holder = "worker-a:1", "worker-b:2"
    stop = asyncio.Event()
    for worker in workers:
        await worker.prepare()
    running = [asyncio.create_task(w.run(stop)) for w in workers]
    await seed(engine, 16, start=24)
    try:
        await eventually(
            lambda: len({r.seq for r in receiver.deliveries("crm", ok_only=True)}) >= 40,
            30,
            "40 events delivered",
        )
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*running)
    ok = receiver.deliveries("crm", ok_only=True)
    assert sorted(r.seq for r in ok) == list(range(1, 41)), "each event delivered exactly once"
    by_ref: dict[int, list[int]] = defaultdict(list)
    for request in ok:
        by_ref[request.json["ref"]].append(request.seq)
    assert all(seqs == sorted(seqs) for seqs in by_ref.values())
    assert sum(w.outcomes[("crm", "retry")] for w in workers) == 4


async def test_deliveries_held_by_a_crashed_worker_resume_at_once_on_restart(
    engine: AsyncEngine, receiver: FakeReceiver
) -> None:
    endpoint = WebhookEndpoint("crm", f"{receiver.url}/hooks/crm", "HOOK_SECRET", backfill=True)
    await seed(engine, 3)
    await outbox.ensure_cursors(engine, [endpoint], T0)
    await outbox.fan_out(engine, [endpoint], T0)
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()
    crashed = f"{socket.gethostname()}:{gone.pid}"
    now = datetime.now(UTC)
    held = await outbox.claim_many(engine, await outbox.candidates(engine, ["crm"], now, 10), crashed, now)
    assert len(held) == 3  # one head per conversation, leased for a minute by a process now dead
    worker = WebhookDispatcher(engine, [endpoint], {"HOOK_SECRET": "s3cret"}, backoff_base=0.05)
    stop = asyncio.Event()
    await worker.prepare()
    running = asyncio.create_task(worker.run(stop))
    try:
        await eventually(lambda: len(receiver.deliveries("crm", ok_only=True)) == 3, 10, "3 deliveries")
    finally:
        stop.set()
        await running
    assert sorted(r.seq for r in receiver.deliveries("crm")) == [1, 2, 3]
    assert {r.headers["x-traza-attempt"] for r in receiver.deliveries("crm")} == {"2"}
