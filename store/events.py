"""The append-only, hash-chained event log: how every event is written and how the chain is verified.

Each event stores ``content_hash`` = SHA-256 of its canonical JSON payload and ``hash`` = SHA-256 over
its sequence number, time, type, conversation, actor, team, number, ``content_hash`` and the previous
event's ``hash``. Hashing the content separately lets a retention job erase a body while the chain
stays verifiable. Appends lock the single ``event_chain_head`` row, so the chain is a total order
even with several writers; the database refuses UPDATE/DELETE on ``events`` (see migration 0001),
except the one UPDATE an erasure makes (migration 0004, store/erasure.py): a payload replaced by a
tombstone whose hash the later erasure event named in ``erased_by`` recorded. ``verify`` accepts
such a payload as erased and reports any other payload change as altered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.domain import EventType
from store.tables import event_chain_head, events

ERASURE_TYPES = frozenset({EventType.MESSAGE_BODIES_ERASED, EventType.CUSTOMER_DATA_ERASED})

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: EventType
    occurred_at: datetime
    conversation_id: int | None = None
    ref: int | None = None
    actor: str | None = None
    team_id: str | None = None
    phone_number_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def canonical_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(payload_json: str) -> str:
    return hashlib.sha256(payload_json.encode()).hexdigest()


def chain_hash(row: dict[str, Any]) -> str:
    parts = [
        str(row["seq"]),
        row["occurred_at"].isoformat(),
        row["type"],
        str(row["conversation_id"] or ""),
        str(row["ref"] or ""),
        row["actor"] or "",
        row["team_id"] or "",
        row["phone_number_id"] or "",
        row["content_hash"],
        row["prev_hash"],
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


async def append(conn: AsyncConnection, new_events: Sequence[NewEvent]) -> None:
    """Append events inside the caller's transaction, extending the chain."""
    if not new_events:
        return
    head = (
        await conn.execute(
            select(event_chain_head.c.seq, event_chain_head.c.hash)
            .where(event_chain_head.c.id == 1)
            .with_for_update()
        )
    ).one()
    seq, prev = int(head.seq), str(head.hash)
    rows = []
    for ev in new_events:
        seq += 1
        payload = canonical_json(ev.payload)
        row: dict[str, Any] = {
            "seq": seq,
            "occurred_at": ev.occurred_at,
            "type": str(ev.type),
            "conversation_id": ev.conversation_id,
            "ref": ev.ref,
            "actor": ev.actor,
            "team_id": ev.team_id,
            "phone_number_id": ev.phone_number_id,
            "payload": payload,
            "content_hash": content_hash(payload),
            "prev_hash": prev,
        }
        # Hash what the database will hand back: the same instant, in UTC.
        row["occurred_at"] = row["occurred_at"].astimezone(UTC)
        row["hash"] = prev = chain_hash(row)
        rows.append(row)
    await conn.execute(insert(events), rows)
    await conn.execute(update(event_chain_head).where(event_chain_head.c.id == 1).values(seq=seq, hash=prev))


@dataclass(frozen=True, slots=True)
class ChainBreak:
    seq: int
    reason: str


async def verify(conn: AsyncConnection, ref: int | None = None, batch: int = 5000) -> ChainBreak | None:
    """The first broken event, or ``None`` when the chain (or one conversation's part of it) holds."""
    if ref is not None:
        return await _verify_ref(conn, ref)
    prev, expected_seq, last = GENESIS, 1, 0
    while True:
        rows = (
            (
                await conn.execute(
                    select(events).where(events.c.seq > last).order_by(events.c.seq).limit(batch)
                )
            )
            .mappings()
            .all()
        )
        erasures = await _erasures(conn, rows)
        for row in rows:
            if row["seq"] != expected_seq:
                return ChainBreak(expected_seq, f"event {expected_seq} is missing (next is {row['seq']})")
            if problem := _check_row(dict(row), prev, erasures):
                return ChainBreak(row["seq"], problem)
            prev, expected_seq, last = row["hash"], expected_seq + 1, row["seq"]
        if len(rows) < batch:
            break
    head = (await conn.execute(select(event_chain_head).where(event_chain_head.c.id == 1))).one()
    if head.seq != last or head.hash != prev:
        return ChainBreak(last + 1, f"events after {last} are missing (the chain head says {head.seq})")
    return None


async def _verify_ref(conn: AsyncConnection, ref: int) -> ChainBreak | None:
    rows = (
        (await conn.execute(select(events).where(events.c.ref == ref).order_by(events.c.seq)))
        .mappings()
        .all()
    )
    erasures = await _erasures(conn, rows)
    for row in rows:
        before = (
            await conn.execute(select(events.c.seq, events.c.hash).where(events.c.seq == row["seq"] - 1))
        ).first()
        prev = GENESIS if row["seq"] == 1 else (before.hash if before else None)
        if prev is None:
            return ChainBreak(row["seq"] - 1, f"event {row['seq'] - 1} before event {row['seq']} is missing")
        if problem := _check_row(dict(row), prev, erasures):
            return ChainBreak(row["seq"], problem)
    return None


async def _erasures(conn: AsyncConnection, rows: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """The erasure events named by ``rows``' ``erased_by``, by seq."""
    wanted = {int(r["erased_by"]) for r in rows if r["erased_by"] is not None}
    if not wanted:
        return {}
    found = (await conn.execute(select(events).where(events.c.seq.in_(sorted(wanted))))).mappings().all()
    return {int(r["seq"]): dict(r) for r in found}


def _check_row(row: dict[str, Any], prev: str, erasures: dict[int, dict[str, Any]]) -> str | None:
    if row["prev_hash"] != prev:
        return "its link to the previous event does not match (events removed or reordered)"
    if content_hash(row["payload"]) != row["content_hash"] and not _erased(row, erasures):
        return "its content was altered"
    if chain_hash(row) != row["hash"]:
        return "its recorded fields were altered"
    return None


def _erased(row: dict[str, Any], erasures: dict[int, dict[str, Any]]) -> bool:
    """True when the payload is exactly the tombstone a later, intact erasure event recorded."""
    erasure = erasures.get(int(row["erased_by"])) if row["erased_by"] is not None else None
    if erasure is None or erasure["type"] not in ERASURE_TYPES or erasure["seq"] <= row["seq"]:
        return False
    intact = (
        content_hash(erasure["payload"]) == erasure["content_hash"] and chain_hash(erasure) == erasure["hash"]
    )
    try:
        listed = json.loads(erasure["payload"]).get("erased", {})
    except (ValueError, AttributeError):
        return False
    return intact and isinstance(listed, dict) and listed.get(str(row["seq"])) == content_hash(row["payload"])


async def count_erased(conn: AsyncConnection, ref: int | None = None) -> int:
    """How many events (of conversation ``ref``) carry an erased body."""
    query = select(func.count()).select_from(events).where(events.c.erased_by.is_not(None))
    if ref is not None:
        query = query.where(events.c.ref == ref)
    return int(await conn.scalar(query) or 0)
