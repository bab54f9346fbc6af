"""``traza forget <+phone>``: erase one customer's personal data on request, and record it.

What goes: the contact's name, username, phone and business-scoped id; the body and payload (text,
captions, media references) of every message link of all their conversations; the bodies and
personal keys of their events (store/erasure.py tombstones); processed raw webhooks that mention
them. What stays: the conversations (refs, teams, times, states), the events with their types,
actors and times, and the chain, so metrics and ``traza audit verify`` still hold.

The contact row is kept (conversations point at it) under the key ``erased:<salt>:<scrypt>`` of its
phone, with a random salt per contact: the phone no longer finds anything (``/history``, search),
yet running ``forget`` again with the same phone can tell that it was already done (idempotent),
at the cost of one scrypt per forgotten contact. Everything happens in one transaction and is
recorded as ``CustomerDataErased`` events (one per batch of erased events plus a summary).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.contacts import normalize_phone, phone_variants
from bridge.domain import EventType
from bridge.errors import InvalidInput
from store import events
from store.erasure import BATCH, PERSONAL_KEYS, erase_events, erase_links, lock_chain, tombstone
from store.events import NewEvent
from store.tables import contacts, conversations, message_links, webhook_inbox
from store.tables import events as events_table

ERASED_PREFIX = "erased:"


@dataclass
class ForgetResult:
    digits: str
    contact_ids: list[int] = field(default_factory=list)
    refs: list[int] = field(default_factory=list)
    links: int = 0
    events: int = 0
    webhooks: int = 0
    recorded_seq: int | None = None
    already_forgotten: bool = False


def phone_digest(digits: str, salt: bytes) -> str:
    return hashlib.scrypt(digits.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32).hex()


def erased_key(digits: str) -> str:
    salt = secrets.token_bytes(16)
    return f"{ERASED_PREFIX}{salt.hex()}:{phone_digest(digits, salt)}"


async def forget_customer(
    engine: AsyncEngine, phone_text: str, *, actor: str, now: datetime, dry_run: bool = False
) -> ForgetResult | None:
    """Erase (or with ``dry_run`` count) the customer's data; ``None`` for a phone never seen."""
    digits = normalize_phone(phone_text)
    if digits is None:
        raise InvalidInput(f"{phone_text!r} is not a phone number (write it like +52 1 55 1234 5678)")
    variants = sorted(phone_variants(digits))
    async with engine.begin() as conn:
        await lock_chain(conn)
        people = (await conn.execute(select(contacts).where(contacts.c.wa_id.in_(variants)))).mappings().all()
        if not people:
            return (
                ForgetResult(digits, already_forgotten=True) if await _was_forgotten(conn, variants) else None
            )
        result = ForgetResult(digits, [int(p["id"]) for p in people])
        convs = (
            await conn.execute(
                select(conversations.c.id, conversations.c.ref)
                .where(conversations.c.contact_id.in_(result.contact_ids))
                .order_by(conversations.c.id)
            )
        ).all()
        conv_ids = [int(c.id) for c in convs]
        result.refs = [int(c.ref) for c in convs if c.ref is not None]
        await _erase(conn, result, people, conv_ids, actor, now, dry_run)
    return result


async def _erase(
    conn: AsyncConnection,
    result: ForgetResult,
    people: Any,
    conv_ids: list[int],
    actor: str,
    now: datetime,
    dry_run: bool,
) -> None:
    link_ids = [
        int(i)
        for i in (
            await conn.execute(
                select(message_links.c.id).where(
                    message_links.c.conversation_id.in_(conv_ids), message_links.c.erased_at.is_(None)
                )
            )
        ).scalars()
    ]
    rows = await _personal_events(conn, conv_ids, result.contact_ids)
    needles = [p[k] for p in people for k in ("wa_id", "user_id") if p[k]]
    if dry_run:  # count only: nothing below this branch has written yet
        result.links = len(link_ids)
        result.events = sum(1 for _, payload in rows if tombstone(payload, PERSONAL_KEYS, "request"))
        result.webhooks = int(
            await conn.scalar(select(func.count()).select_from(webhook_inbox).where(_mentions(conn, needles)))
            or 0
        )
        return
    result.links = await erase_links(conn, link_ids, "request", now)
    why = {"why": "request", "contacts": result.contact_ids}
    for start in range(0, len(rows), BATCH):
        erasure = NewEvent(EventType.CUSTOMER_DATA_ERASED, now, actor=actor, payload={**why, "part": True})
        result.events += await erase_events(conn, rows[start : start + BATCH], erasure, PERSONAL_KEYS)
    gone = await conn.execute(delete(webhook_inbox).where(_mentions(conn, needles)))
    result.webhooks = int(gone.rowcount or 0)
    for person in people:
        await conn.execute(
            update(contacts)
            .where(contacts.c.id == person["id"])
            .values(
                key=erased_key(str(person["wa_id"])),
                wa_id=None,
                user_id=None,
                username=None,
                profile_name=None,
                updated_at=now,
            )
        )
    summary = {
        **why,
        "conversations": result.refs,
        "message_links": result.links,
        "events": result.events,
        "webhooks": result.webhooks,
    }
    await events.append(conn, [NewEvent(EventType.CUSTOMER_DATA_ERASED, now, actor=actor, payload=summary)])
    result.recorded_seq = int(await conn.scalar(select(func.max(events_table.c.seq))) or 0)


async def _personal_events(
    conn: AsyncConnection, conv_ids: list[int], contact_ids: list[int]
) -> list[tuple[int, str]]:
    """Events of the customer's conversations, and their number changes, not erased yet."""
    number_changes = (events_table.c.type == str(EventType.CONTACT_CHANGED_NUMBER)) & (
        events_table.c.actor.in_([f"contact:{i}" for i in contact_ids])
    )
    rows = await conn.execute(
        select(events_table.c.seq, events_table.c.payload)
        .where(
            or_(events_table.c.conversation_id.in_(conv_ids), number_changes),
            events_table.c.erased_by.is_(None),
        )
        .order_by(events_table.c.seq)
    )
    return [(int(r.seq), str(r.payload)) for r in rows]


def _mentions(conn: AsyncConnection, needles: list[str]) -> Any:
    """Processed raw webhooks whose bytes contain one of ``needles`` as a JSON string."""
    if not needles:
        return text("1 = 0")
    clauses = []
    for n, needle in enumerate(needles):
        sql = f"position(:n{n} in webhook_inbox.body) > 0"
        if conn.dialect.name == "sqlite":
            sql = f"instr(webhook_inbox.body, :n{n}) > 0"
        clauses.append(text(sql).bindparams(**{f"n{n}": f'"{needle}"'.encode()}))
    return (webhook_inbox.c.processed_at.is_not(None)) & or_(*clauses)


async def _was_forgotten(conn: AsyncConnection, variants: list[str]) -> bool:
    keys = (
        await conn.execute(select(contacts.c.key).where(contacts.c.key.startswith(ERASED_PREFIX)))
    ).scalars()
    for key in keys:
        salt_hex, _, digest = key.removeprefix(ERASED_PREFIX).partition(":")
        salt = bytes.fromhex(salt_hex)
        if any(secrets.compare_digest(phone_digest(v, salt), digest) for v in variants):
            return True
    return False
