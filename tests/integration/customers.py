"""Customers written into a migrated database the way production does it: signed-webhook bodies
stored in ``webhook_inbox`` and applied by the real ingester, plus an agent reply and a note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.domain import EventType
from store import events
from store.events import NewEvent
from store.ingest import ingest_pending
from store.tables import conversations, message_links, webhook_inbox
from tests.fakes import whatsapp_payloads as wp
from tests.harness import load_test_config

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)
ANA = "5215512345678"  # typed as +52 1 55 1234 5678
BRUNO = "5491100000101"


async def customer_writes(engine: AsyncEngine, wa_id: str, name: str, items: list[Any], at: datetime) -> None:
    """One webhook from ``wa_id`` (no BSUID) carrying ``items``, received and applied at ``at``."""
    stamped = [
        wp.text_message(i, wa_id=wa_id, user_id=None, ts=int(at.timestamp()))
        if isinstance(i, str)
        else {**i, "timestamp": str(int(at.timestamp()))}
        for i in items
    ]
    body = wp.inbound_webhook(stamped, name=name, wa_id=wa_id, user_id=None)
    async with engine.begin() as conn:
        await conn.execute(insert(webhook_inbox).values(received_at=at, body=orjson.dumps(body)))
    assert await ingest_pending(engine, load_test_config(), lambda: at) == 1


async def agent_answers(engine: AsyncEngine, wa_id: str, text: str, at: datetime) -> int:
    """A reply and a note by an agent in the customer's latest conversation; returns its ref."""
    async with engine.begin() as conn:
        conv = (
            await conn.execute(
                select(conversations.c.id, conversations.c.ref, conversations.c.team_id)
                .where(conversations.c.contact_id == select_contact(wa_id))
                .order_by(conversations.c.id.desc())
                .limit(1)
            )
        ).one()
        common: dict[str, Any] = {
            "conversation_id": conv.id,
            "direction": "outbound",
            "kind": "text",
            "author": "U0AGENT003",
            "status": "sent",
            "sent_at": at,
            "created_at": at,
        }
        link = await conn.scalar(
            insert(message_links).values(body=text, payload="{}", **common).returning(message_links.c.id)
        )
        where = {"conversation_id": conv.id, "ref": conv.ref, "team_id": conv.team_id}
        await events.append(
            conn,
            [
                NewEvent(
                    EventType.REPLY_RECEIVED,
                    at,
                    actor="U0AGENT003",
                    payload={"text": text, "links": [link]},
                    **where,
                ),
                NewEvent(
                    EventType.NOTE_ADDED, at, actor="U0AGENT003", payload={"text": f"// {text}"}, **where
                ),
            ],
        )
    return int(conv.ref)


def select_contact(wa_id: str) -> Any:
    from store.tables import contacts

    return select(contacts.c.id).where(contacts.c.wa_id == wa_id).scalar_subquery()


async def two_customers(engine: AsyncEngine) -> None:
    """Ana wrote a year and more ago (text and a captioned photo) and again this week; Bruno this week."""
    photo = wp.media_message(
        "image", "MEDIA-ANA-1", "image/jpeg", caption="foto del recibo secreto", wa_id=ANA, user_id=None
    )
    await customer_writes(engine, ANA, "Ana Pérez", ["mi pedido antiguo secreto", photo], OLD)
    await agent_answers(engine, ANA, "respuesta antigua confidencial", OLD + timedelta(minutes=5))
    await customer_writes(engine, ANA, "Ana Pérez", ["pedido nuevo de Ana"], NOW - timedelta(days=2))
    await customer_writes(engine, BRUNO, "Bruno Díaz", ["pedido nuevo de Bruno"], NOW - timedelta(days=1))
