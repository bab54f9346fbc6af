"""Running totals of delivery outcomes and SLA breaches, read from the event log for ``/metrics``.

These are facts every process can see (they are events, whoever's worker recorded them), so each
process reads them from the log rather than counting what happened to pass through itself: the
totals are the whole deployment's, and survive restarts. Reading is incremental — each scrape asks only
for events after the last ``seq`` it saw (the primary key), at most ``batch`` per scrape, so the first
scrapes after a start catch up on a large log a slice at a time instead of stalling one scrape.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.domain import EventType
from store.tables import events

OUTCOMES = {
    EventType.REPLY_SENT: "sent",
    EventType.REPLY_DELIVERED: "delivered",
    EventType.REPLY_READ: "read",
    EventType.REPLY_FAILED: "failed",
}
BATCH = 50_000


@dataclass
class EventCounts:
    deliveries: Counter[str] = field(default_factory=Counter)
    """By outcome: ``accepted`` (Graph API), then ``sent``, ``delivered``, ``read``, ``failed``."""
    sla_breaches: Counter[tuple[str, str]] = field(default_factory=Counter)
    """By (team, target)."""
    last_seq: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def refresh(self, engine: AsyncEngine, batch: int = BATCH) -> None:
        kinds = [str(k) for k in (*OUTCOMES, EventType.SLA_BREACHED)]
        async with self._lock:
            query = (
                select(events.c.seq, events.c.type, events.c.team_id, events.c.payload)
                .where(events.c.seq > self.last_seq, events.c.type.in_(kinds))
                .order_by(events.c.seq)
                .limit(batch)
            )
            async with engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            for row in rows:
                self._count(row.type, row.team_id, row.payload)
                self.last_seq = int(row.seq)

    def _count(self, kind: str, team: str | None, payload_json: str) -> None:
        try:
            payload = json.loads(payload_json)
        except ValueError:
            payload = {}
        payload = payload if isinstance(payload, dict) else {}
        if kind == EventType.SLA_BREACHED:
            self.sla_breaches[(team or "", str(payload.get("target", "")))] += 1
        elif kind == EventType.REPLY_SENT and payload.get("accepted"):
            self.deliveries["accepted"] += 1
        else:
            self.deliveries[OUTCOMES[EventType(kind)]] += 1
