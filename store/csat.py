"""The CSAT question on close and its answer, recorded on the closed conversation.

On close, a team with ``csat.enabled`` queues ``send_csat``: while the 24-hour window is open the
customer gets the question as WhatsApp reply buttons (or a 1–5 list) whose ids name the conversation
(``csat:<ref>:<score>``); a ``CsatRequested`` event records it (or why it was not sent). The answer
arrives as an ordinary inbound message; ``record_answer`` recognises it during ingest and records a
``CsatAnswered`` event on the conversation it names — it never opens a new conversation — and shows
the rating in the thread. The metrics (``store.reports``) read both events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge import codec
from bridge.config import TrazaConfig
from bridge.domain import ConversationView, EventType
from bridge.i18n import t
from bridge.inbound import ChoiceBody, InboundMessage
from bridge.ports import WhatsAppSender
from bridge.teamtools import parse_csat_answer
from store import events, jobs
from store.conversations import load_view
from store.events import NewEvent
from store.jobs import Job
from store.tables import contacts, conversations, message_links

CSAT_JOB = "send_csat"


async def queue_question(
    conn: AsyncConnection, config: TrazaConfig, view: ConversationView, now: datetime
) -> None:
    if config.csat_for(view.team_id).enabled:
        await jobs.enqueue(conn, f"conv:{view.id}", CSAT_JOB, {"conversation_id": view.id}, now)


async def send_question(
    engine: AsyncEngine, config: TrazaConfig, job: Job, sender: WhatsAppSender, clock: Callable[[], datetime]
) -> None:
    conversation_id = int(job.payload["conversation_id"])
    async with engine.connect() as conn:
        view = await load_view(conn, config, conversation_id)
        row = (
            await conn.execute(
                select(conversations.c.phone_number_id, contacts.c.wa_id, contacts.c.user_id)
                .join(contacts, contacts.c.id == conversations.c.contact_id)
                .where(conversations.c.id == conversation_id)
            )
        ).one()
    policy = config.csat_for(view.team_id)
    payload: dict[str, object] = {"scale": policy.scale, "question": policy.question}
    if not view.window_open(clock()):
        payload.update(sent=False, reason="window_closed")
    else:
        to = {"to": f"+{row.wa_id}"} if row.wa_id else {"recipient": row.user_id or ""}
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **to,
            "type": "interactive",
            "interactive": policy.body(int(view.ref)),
        }
        payload.update(sent=True, wa_message_id=await sender.send(row.phone_number_id, body))
    async with engine.begin() as conn:
        await events.append(
            conn,
            [
                NewEvent(
                    EventType.CSAT_REQUESTED,
                    clock(),
                    view.id,
                    view.ref,
                    "traza",
                    view.team_id,
                    row.phone_number_id,
                    payload,
                )
            ],
        )
        await jobs.finish(conn, job.id)


async def record_answer(
    conn: AsyncConnection,
    config: TrazaConfig,
    now: datetime,
    msg: InboundMessage,
    contact_id: int,
    new_events: list[NewEvent],
) -> bool:
    """Record a tap on a CSAT choice on the conversation it names; False when ``msg`` is not one."""
    body = msg.body
    answer = parse_csat_answer(body.choice_id) if isinstance(body, ChoiceBody) else None
    if answer is None:
        return False
    ref, score = answer
    row = (
        await conn.execute(
            select(conversations.c.id, conversations.c.team_id, conversations.c.slack_channel).where(
                conversations.c.ref == ref,
                conversations.c.contact_id == contact_id,
                conversations.c.phone_number_id == msg.phone_number_id,
            )
        )
    ).first()
    if row is None:
        return False  # not this customer's question: an ordinary message after all
    assert isinstance(body, ChoiceBody)
    top = config.csat_for(row.team_id).top
    await conn.execute(
        insert(message_links).values(
            conversation_id=row.id,
            direction="inbound",
            kind="csat",
            wa_message_id=msg.wa_message_id,
            slack_channel=row.slack_channel,
            body=body.title,
            payload=json.dumps(codec.encode(msg)),
            status="received",
            status_at=now,
            sent_at=msg.sent_at,
            created_at=now,
        )
    )
    payload = {"score": score, "top": top, "title": body.title, "wa_message_id": msg.wa_message_id}
    new_events.append(
        NewEvent(
            EventType.CSAT_ANSWERED,
            msg.sent_at,
            row.id,
            ref,
            f"contact:{contact_id}",
            row.team_id,
            msg.phone_number_id,
            payload,
        )
    )
    text = t(
        "⭐ The customer rated #{ref}: {title} ({score}/{top}).",
        ref=ref,
        title=body.title,
        score=score,
        top=top,
    )
    await jobs.enqueue(
        conn,
        f"conv:{row.id}",
        "thread_notice",
        {"conversation_id": row.id, "text": text},
        now,
        slack_channel=row.slack_channel,
    )
    return True
