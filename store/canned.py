"""Canned replies: one picked from the menu goes to the customer through the one-voice path.

The picker must be able to speak for the conversation exactly as with a reply typed in the thread
(``bridge.replies.decide_reply``): the holder speaks, the first reply in an unassigned conversation
claims it, anyone else is refused with the reason, and nothing free-form goes out once the 24-hour
window is closed. The reply becomes outbox entries (``deliver_reply`` sends them with the stamp) and
a ``post_canned`` job shows the text in the thread first, so delivery marks land on that message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig
from bridge.domain import EventType, SlackTs
from bridge.errors import InvalidInput
from bridge.formatting import split_text
from bridge.i18n import t
from bridge.replies import ReplyOutcome, decide_reply
from store import events, jobs
from store.control import record_claim
from store.conversations import find_by_ref
from store.events import NewEvent
from store.replies import PART_LIMIT
from store.tables import conversations, message_links

CANNED_JOB = "post_canned"


async def send_canned(
    engine: AsyncEngine,
    config: TrazaConfig,
    clock: Callable[[], datetime],
    ref: int,
    user: str,
    canned_id: str,
) -> str:
    async with engine.begin() as conn:
        await conn.execute(select(conversations.c.id).where(conversations.c.ref == ref).with_for_update())
        view = await find_by_ref(conn, config, ref)
        if view is None:
            raise InvalidInput(t("There is no conversation #{ref}.", ref=ref))
        reply = next((c for c in config.canned_for(view.team_id) if c.id == canned_id), None)
        if reply is None:
            raise InvalidInput(
                t("There is no canned reply {id} for team {team}.", id=repr(canned_id), team=view.team_name)
            )
        now = clock()
        decision = decide_reply(config, view, user, reply.text, now)
        if decision.outcome is not ReplyOutcome.SEND:
            raise InvalidInput(decision.reason or t("Canned replies cannot be sent as notes."))
        if decision.claims:
            await record_claim(conn, view, user, now, "canned reply")
        parts = split_text(reply.text, PART_LIMIT)
        link_ids = []
        for n, part in enumerate(parts):
            result = await conn.execute(
                insert(message_links)
                .values(
                    conversation_id=view.id,
                    direction="outbound",
                    kind="text",
                    slack_channel=view.slack_channel,
                    author=user,
                    body=part,
                    payload=json.dumps({"part": n + 1, "parts": len(parts), "canned": reply.id}),
                    status="pending",
                    status_at=now,
                    sent_at=now,
                    created_at=now,
                )
                .returning(message_links.c.id)
            )
            link_ids.append(int(result.scalar_one()))
        payload = {"text": reply.text, "links": link_ids, "canned": reply.id, "title": reply.title}
        await events.append(
            conn,
            [NewEvent(EventType.REPLY_RECEIVED, now, view.id, view.ref, user, view.team_id, payload=payload)],
        )
        values: dict[str, object] = {"last_agent_message_at": now}
        if view.first_response_at is None:
            values["first_response_at"] = now
        await conn.execute(update(conversations).where(conversations.c.id == view.id).values(**values))
        queue = f"conv:{view.id}"
        quoted = "\n".join(f"> {line}" for line in reply.text.splitlines())
        shown = {
            "conversation_id": view.id,
            "link_ids": link_ids,
            "text": t("📋 <@{user}> sent the canned reply “{title}”:", user=user, title=reply.title)
            + f"\n{quoted}",
        }
        await jobs.enqueue(conn, queue, CANNED_JOB, shown, now, slack_channel=view.slack_channel)
        for link_id in link_ids:
            await jobs.enqueue(conn, queue, "deliver_reply", {"link_id": link_id}, now)
        if not await jobs.pending_kinds(conn, queue, "update_card"):
            await jobs.enqueue(
                conn,
                queue,
                "update_card",
                {"conversation_id": view.id},
                now,
                slack_channel=view.slack_channel,
            )
    return t(
        "Sending “{title}” to {customer} in #{ref}.", title=reply.title, customer=view.contact_name, ref=ref
    )


async def canned_posted(
    engine: AsyncEngine, job_id: int, link_ids: list[int], channel: str, ts: SlackTs
) -> None:
    """The canned reply is shown in the thread: delivery marks will react on that message."""
    async with engine.begin() as conn:
        await conn.execute(
            update(message_links)
            .where(message_links.c.id.in_(link_ids))
            .values(slack_channel=channel, slack_ts=ts)
        )
        await jobs.finish(conn, job_id)
