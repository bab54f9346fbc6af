"""The outbound webhook outbox: a cursor per endpoint over the event log, and the deliveries still owed.

*Fan-out* reads events past the lowest cursor, turns each one an endpoint wants into a delivery row
and moves that endpoint's cursor, all in one transaction (the cursor moves by compare-and-set, and
``(endpoint, seq)`` is unique, so two workers can never owe the same event twice). The chain head's
row lock makes event commits follow ``seq`` order, so reading ``seq > cursor`` never skips a late
commit. *Delivery* takes the head of each ``(endpoint, queue_key)`` queue — ``conv:<id>`` per
conversation, ``global`` for events of none — under a lease, like the job queue: a conversation's
next event waits until the previous one was delivered (or dead-lettered) to that endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased

from bridge.domain import EventType
from bridge.integrations import WebhookEndpoint
from bridge.webhooks import NEVER_SENT, EventRecord
from store import events as event_log
from store.events import NewEvent
from store.tables import event_chain_head, events, webhook_cursors, webhook_deliveries
from store.upsert import insert_ignore

LEASE = timedelta(seconds=60)
FAN_OUT_BATCH = 500


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    endpoint: str
    seq: int
    queue_key: str
    attempts: int
    created_at: datetime


async def ensure_cursors(engine: AsyncEngine, endpoints: Sequence[WebhookEndpoint], now: datetime) -> None:
    """Give a newly configured endpoint its cursor: the chain head, or 0 with ``backfill``.

    Called at start-up before any work runs, so "from now on" means from this start.
    """
    async with engine.begin() as conn:
        head = int(await conn.scalar(select(event_chain_head.c.seq).where(event_chain_head.c.id == 1)) or 0)
        for ep in endpoints:
            start = 0 if ep.backfill else head
            await insert_ignore(conn, webhook_cursors, {"endpoint": ep.id, "seq": start, "updated_at": now})


async def fan_out(
    engine: AsyncEngine, endpoints: Sequence[WebhookEndpoint], now: datetime, limit: int = FAN_OUT_BATCH
) -> int:
    """Turn up to ``limit`` new events into deliveries; returns how many events were scanned."""
    async with engine.begin() as conn:
        head = int(await conn.scalar(select(event_chain_head.c.seq).where(event_chain_head.c.id == 1)) or 0)
        cursors = {r.endpoint: int(r.seq) for r in (await conn.execute(select(webhook_cursors))).all()}
        for ep in endpoints:
            if ep.id not in cursors:
                start = 0 if ep.backfill else head
                await insert_ignore(
                    conn, webhook_cursors, {"endpoint": ep.id, "seq": start, "updated_at": now}
                )
                cursors[ep.id] = start
        low = min(cursors[ep.id] for ep in endpoints)
        if low >= head:
            return 0
        rows = (
            await conn.execute(
                select(events.c.seq, events.c.type, events.c.team_id, events.c.conversation_id)
                .where(events.c.seq > low)
                .order_by(events.c.seq)
                .limit(limit)
            )
        ).all()
        if not rows:
            return 0
        last = int(rows[-1].seq)
        for ep in endpoints:
            if cursors[ep.id] >= last:
                continue
            moved = await conn.execute(
                update(webhook_cursors)
                .where(webhook_cursors.c.endpoint == ep.id, webhook_cursors.c.seq == cursors[ep.id])
                .values(seq=last, updated_at=now)
            )
            if moved.rowcount != 1:
                continue  # another worker moved it first and owns these deliveries
            wanted = [
                {
                    "endpoint": ep.id,
                    "seq": int(r.seq),
                    "queue_key": f"conv:{r.conversation_id}" if r.conversation_id else "global",
                    "available_at": now,
                    "attempts": 0,
                    "created_at": now,
                }
                for r in rows
                if r.seq > cursors[ep.id] and r.type not in NEVER_SENT and ep.wants(r.type, r.team_id)
            ]
            if wanted:
                await conn.execute(insert(webhook_deliveries), wanted)
        return len(rows)


async def behind(engine: AsyncEngine, endpoint_ids: Sequence[str]) -> bool:
    """True when some endpoint's cursor is behind the chain head (or has none yet): fan-out has work."""
    async with engine.connect() as conn:
        head = int(await conn.scalar(select(event_chain_head.c.seq).where(event_chain_head.c.id == 1)) or 0)
        rows = (
            await conn.execute(
                select(webhook_cursors.c.seq).where(webhook_cursors.c.endpoint.in_(endpoint_ids))
            )
        ).all()
    return len(rows) < len(endpoint_ids) or any(int(r.seq) < head for r in rows)


async def candidates(
    engine: AsyncEngine, endpoint_ids: Sequence[str], now: datetime, limit: int
) -> list[Delivery]:
    """Runnable heads of their ``(endpoint, queue_key)`` queues, oldest first."""
    d, older = webhook_deliveries, aliased(webhook_deliveries)
    query = (
        select(d)
        .where(
            d.c.endpoint.in_(endpoint_ids),
            d.c.available_at <= now,
            or_(d.c.locked_until.is_(None), d.c.locked_until < now),
            ~exists().where(
                and_(
                    older.c.endpoint == d.c.endpoint, older.c.queue_key == d.c.queue_key, older.c.id < d.c.id
                )
            ),
        )
        .order_by(d.c.id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [_delivery(r) for r in rows]


async def claim_many(
    engine: AsyncEngine, wanted: list[Delivery], holder: str, now: datetime
) -> list[Delivery]:
    if not wanted:
        return []
    d = webhook_deliveries
    async with engine.begin() as conn:
        got = set(
            (
                await conn.execute(
                    update(d)
                    .where(
                        d.c.id.in_([w.id for w in wanted]),
                        or_(d.c.locked_until.is_(None), d.c.locked_until < now),
                    )
                    .values(locked_until=now + LEASE, locked_by=holder, attempts=d.c.attempts + 1)
                    .returning(d.c.id)
                )
            )
            .scalars()
            .all()
        )
    return [
        Delivery(w.id, w.endpoint, w.seq, w.queue_key, w.attempts + 1, w.created_at)
        for w in wanted
        if w.id in got
    ]


async def renew(engine: AsyncEngine, ids: list[int], holder: str, now: datetime) -> None:
    if ids:
        async with engine.begin() as conn:
            await conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id.in_(ids), webhook_deliveries.c.locked_by == holder)
                .values(locked_until=now + LEASE)
            )


async def event(engine: AsyncEngine, seq: int) -> EventRecord:
    """The event as it reads now: a body erased since the fan-out goes out erased."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(events).where(events.c.seq == seq))).mappings().one()
    try:
        payload = json.loads(row["payload"])
    except ValueError:
        payload = None
    return EventRecord(
        seq=int(row["seq"]),
        type=row["type"],
        occurred_at=row["occurred_at"],
        ref=row["ref"],
        team_id=row["team_id"],
        phone_number_id=row["phone_number_id"],
        actor=row["actor"],
        payload=payload if isinstance(payload, dict) else None,
    )


async def delivered(engine: AsyncEngine, delivery_id: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id))


async def retry_later(engine: AsyncEngine, delivery_id: int, now: datetime, delay: float, error: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(
                available_at=now + timedelta(seconds=delay),
                locked_until=None,
                locked_by=None,
                last_error=error[:2000],
            )
        )


async def dead_letter(
    engine: AsyncEngine,
    delivery: Delivery,
    record: EventRecord,
    reason: str,
    status: int | None,
    now: datetime,
) -> None:
    """Give up on one delivery: record ``WebhookDeadLettered`` and free the conversation's queue."""
    payload: dict[str, Any] = {
        "endpoint": delivery.endpoint,
        "seq": delivery.seq,
        "event_type": record.type,
        "reason": reason,
        "status": status,
        "attempts": delivery.attempts,
        "first_queued_at": delivery.created_at.isoformat(),
    }
    async with engine.begin() as conn:
        conversation_id = await conn.scalar(
            select(events.c.conversation_id).where(events.c.seq == delivery.seq)
        )
        await event_log.append(
            conn,
            [
                NewEvent(
                    EventType.WEBHOOK_DEAD_LETTERED,
                    now,
                    conversation_id,
                    record.ref,
                    actor="traza",
                    team_id=record.team_id,
                    phone_number_id=record.phone_number_id,
                    payload=payload,
                )
            ],
        )
        await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.id == delivery.id))


async def release_locks(engine: AsyncEngine, holders: Sequence[str]) -> None:
    """Free the leases of crashed holders so their deliveries resume at once."""
    if holders:
        async with engine.begin() as conn:
            await conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.locked_by.in_(list(holders)))
                .values(locked_until=None, locked_by=None)
            )


async def lock_holders(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(webhook_deliveries.c.locked_by)
            .where(webhook_deliveries.c.locked_by.is_not(None))
            .distinct()
        )
        return [str(h) for h in rows.scalars().all()]


async def backlog(engine: AsyncEngine) -> dict[str, tuple[int, datetime | None]]:
    """Per endpoint: deliveries owed and when the oldest was queued (for ``/metrics``)."""
    d = webhook_deliveries
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(d.c.endpoint, func.count(), func.min(d.c.created_at)).group_by(d.c.endpoint)
            )
        ).all()
    return {str(r[0]): (int(r[1]), r[2]) for r in rows}


def _delivery(r: Any) -> Delivery:
    return Delivery(
        int(r["id"]), r["endpoint"], int(r["seq"]), r["queue_key"], int(r["attempts"]), r["created_at"]
    )
