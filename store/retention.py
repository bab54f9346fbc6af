"""The retention pass: erase message bodies older than ``retention.message_bodies_days``.

One pass erases, in batches of ``erasure.BATCH``, the bodies of body-bearing events (each batch one
``MessageBodiesErased`` event, see store/erasure.py), blanks old message links (text, captions,
media references) and deletes processed raw webhooks of the same age from ``webhook_inbox``. The
work lists are partial indexes (migration 0004) holding only what is not erased yet, so a pass with
nothing to do is three index probes. Several workers may run passes at once: the worker takes the
``retention`` lease first, and every batch locks the chain head before choosing its events, so two
passes never erase the same event twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.domain import EventType
from store.erasure import BATCH, BODY_KEYS, erase_events, erase_links, lock_chain
from store.events import NewEvent
from store.tables import BODY_EVENT_TYPES, events, message_links, webhook_inbox


@dataclass(frozen=True, slots=True)
class RetentionResult:
    events: int = 0
    links: int = 0
    webhooks: int = 0

    def __add__(self, other: RetentionResult) -> RetentionResult:
        return RetentionResult(
            self.events + other.events, self.links + other.links, self.webhooks + other.webhooks
        )


async def erase_expired(
    engine: AsyncEngine, now: datetime, days: int, *, batch: int = BATCH
) -> RetentionResult:
    """Erase everything older than ``days`` days before ``now``; returns what was erased."""
    cutoff = now - timedelta(days=days)
    total = RetentionResult()
    while True:
        done = await _erase_batch(engine, now, cutoff, batch)
        total += done
        if max(done.events, done.links, done.webhooks) < batch:
            return total


async def _erase_batch(engine: AsyncEngine, now: datetime, cutoff: datetime, batch: int) -> RetentionResult:
    async with engine.begin() as conn:
        await lock_chain(conn)
        old_events = (
            await conn.execute(
                select(events.c.seq, events.c.payload)
                .where(
                    events.c.erased_by.is_(None),
                    events.c.type.in_(BODY_EVENT_TYPES),
                    events.c.occurred_at < cutoff,
                )
                .order_by(events.c.occurred_at)
                .limit(batch)
            )
        ).all()
        erasure = NewEvent(
            EventType.MESSAGE_BODIES_ERASED,
            now,
            actor="traza",
            payload={"why": "retention", "before": cutoff.isoformat()},
        )
        erased = await erase_events(
            conn, [(int(r.seq), str(r.payload)) for r in old_events], erasure, BODY_KEYS, always=True
        )
        link_ids = (
            await conn.execute(
                select(message_links.c.id)
                .where(message_links.c.erased_at.is_(None), message_links.c.sent_at < cutoff)
                .order_by(message_links.c.sent_at)
                .limit(batch)
            )
        ).scalars()
        links = await erase_links(conn, [int(i) for i in link_ids], "retention", now)
        inbox_ids = select(webhook_inbox.c.id).where(
            webhook_inbox.c.processed_at.is_not(None), webhook_inbox.c.received_at < cutoff
        )
        gone = await conn.execute(delete(webhook_inbox).where(webhook_inbox.c.id.in_(inbox_ids.limit(batch))))
    return RetentionResult(erased, links, int(gone.rowcount or 0))
