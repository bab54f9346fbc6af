"""Recording what agents do in a conversation's thread: replies, notes, edits and deletions.

Runs while Slack waits for its answer, in one transaction: the Slack ``event_id`` is claimed in
``processed_keys`` (a redelivery finds it and does nothing), the reply is written to the outbox as
message links (one per part or file) with a ``deliver_reply`` job each, and every decision lands in
the event log. Only after the commit does Slack get its 200, so an acknowledged reply is never lost.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.config import TrazaConfig
from bridge.domain import ConversationState, ConversationView, EventType
from bridge.formatting import MAX_PARTS, split_text
from bridge.i18n import t
from bridge.outbound import ReplyDeleted, ReplyEdited, ThreadEvent, ThreadReply, plan_media
from bridge.replies import ReplyOutcome, decide_reply
from store import events, jobs
from store.conversations import find_by_thread, load_view
from store.events import NewEvent
from store.tables import conversation_threads, conversations, message_links, processed_keys
from store.upsert import insert_ignore

PART_LIMIT = 3500  # leaves room for the stamp within WhatsApp's 4096 characters


async def record_thread_event(
    engine: AsyncEngine, config: TrazaConfig, item: ThreadEvent, event_id: str | None, now: datetime
) -> bool:
    """Record one thread event; False when it is a redelivery or not in a conversation's thread."""
    async with engine.begin() as conn:
        if event_id and not await insert_ignore(
            conn, processed_keys, {"key": f"slack:{event_id}", "created_at": now}
        ):
            return False
        # Lock the conversation first: two first replies at once must not both claim it.
        await conn.execute(
            select(conversations.c.id)
            .where(
                conversations.c.slack_channel == item.channel,
                conversations.c.slack_thread_ts == item.thread_ts,
            )
            .with_for_update()
        )
        view = await find_by_thread(conn, config, item.channel, item.thread_ts)
        if view is None:
            moved_to = await former_thread_owner(conn, item.channel, item.thread_ts)
            if moved_to is None or not isinstance(item, ThreadReply):
                return False
            await _tell_moved(conn, config, moved_to, item, now)
            return True
        recorder = _Recorder(conn, config, view, now)
        if isinstance(item, ThreadReply):
            await recorder.reply(item)
        else:
            await recorder.edit_or_delete(item)
        await events.append(conn, recorder.new_events)
    return True


async def former_thread_owner(conn: AsyncConnection, channel: str, thread_ts: str) -> int | None:
    """The conversation a thread used to carry before a transfer moved it to a new card."""
    found = await conn.scalar(
        select(conversation_threads.c.conversation_id).where(
            conversation_threads.c.slack_channel == channel,
            conversation_threads.c.slack_thread_ts == thread_ts,
        )
    )
    return int(found) if found is not None else None


async def _tell_moved(
    conn: AsyncConnection, config: TrazaConfig, conversation_id: int, item: ThreadReply, now: datetime
) -> None:
    view = await load_view(conn, config, conversation_id)
    link = (
        f"https://slack.com/archives/{view.slack_channel}/p{view.slack_thread_ts.replace('.', '')}"
        if view.slack_thread_ts
        else f"<#{view.slack_channel}>"
    )
    recorder = _Recorder(conn, config, view, now)
    await recorder._link(item, "note", item.text, "note", {"old_thread": True})
    recorder.event(
        EventType.NOTE_ADDED,
        item.user,
        {"text": item.text, "slack_ts": item.ts, "why": "written in the thread it had before a transfer"},
    )
    await recorder.tell(
        item.user,
        t(
            "#{ref} moved to team {team}: <{link}|continue in its new "
            "thread>. Your message was kept as an internal note and not sent.",
            ref=view.ref,
            team=view.team_name,
            link=link,
        ),
        where=(item.channel, item.thread_ts),
    )
    await events.append(conn, recorder.new_events)


class _Recorder:
    def __init__(
        self, conn: AsyncConnection, config: TrazaConfig, view: ConversationView, now: datetime
    ) -> None:
        self.conn, self.config, self.view, self.now = conn, config, view, now
        self.new_events: list[NewEvent] = []
        self.queue = f"conv:{view.id}"

    def event(self, kind: EventType, actor: str, payload: dict[str, Any]) -> None:
        self.new_events.append(
            NewEvent(
                kind,
                self.now,
                self.view.id,
                self.view.ref,
                actor=actor,
                team_id=self.view.team_id,
                payload=payload,
            )
        )

    async def tell(self, user: str, text: str, where: tuple[str, str | None] | None = None) -> None:
        channel, thread_ts = where or (self.view.slack_channel, self.view.slack_thread_ts)
        await jobs.enqueue(
            self.conn,
            self.queue,
            "notify_agent",
            {
                "channel": channel,
                "thread_ts": thread_ts,
                "user": user,
                "text": text,
            },
            self.now,
        )

    async def reply(self, item: ThreadReply) -> None:
        decision = decide_reply(self.config, self.view, item.user, item.text, self.now)
        if decision.outcome is ReplyOutcome.NOTE:
            await self._link(item, "note", item.text, "note", {})
            self.event(
                EventType.NOTE_ADDED,
                item.user,
                {"text": item.text, "slack_ts": item.ts, "why": decision.reason or "marked with //"},
            )
            if decision.reason:
                await self.tell(item.user, decision.reason)
            return
        if decision.claims:
            await self._claim(item.user)
        if decision.outcome is ReplyOutcome.REFUSED:
            await self._link(item, "outbound", item.text, "refused", {})
            self.event(
                EventType.REPLY_REFUSED,
                item.user,
                {"text": item.text, "slack_ts": item.ts, "reason": "window_closed"},
            )
            await self.tell(item.user, decision.reason)
            return
        await self._outbox(item)

    async def _outbox(self, item: ThreadReply) -> None:
        parts = split_text(item.text, PART_LIMIT) if item.text.strip() else []
        problems = [
            f"`{f.name}`: {plan.problem}"
            for f in item.files
            if (plan := plan_media(f.mimetype, f.size)).kind is None
        ]
        if len(parts) > MAX_PARTS:
            await self.tell(
                item.user,
                t(
                    "Not sent: the message is {length} characters long; WhatsApp takes "
                    "{parts} parts of about {limit} at most. Shorten it and send again.",
                    length=len(item.text),
                    parts=MAX_PARTS,
                    limit=PART_LIMIT,
                ),
            )
            self.event(EventType.REPLY_REFUSED, item.user, {"text": item.text, "reason": "too_long"})
            return
        if problems:
            await self.tell(item.user, t("Not sent: {problems}.", problems="; ".join(problems)))
            self.event(
                EventType.REPLY_REFUSED,
                item.user,
                {"text": item.text, "reason": "file_limits", "problems": problems},
            )
            return
        # Short words travel as the first file's caption; otherwise as messages of their own, first.
        caption_on_file = bool(item.files) and len(parts) == 1 and len(item.text) <= 1000
        specs: list[tuple[str, dict[str, Any]]] = []
        if not caption_on_file:
            specs += [(part, {"part": n + 1, "parts": len(parts)}) for n, part in enumerate(parts)]
        for n, shared in enumerate(item.files):
            file = {
                "id": shared.id,
                "name": shared.name,
                "mimetype": shared.mimetype,
                "size": shared.size,
                "url": shared.url,
                "kind": plan_media(shared.mimetype, shared.size).kind,
            }
            specs.append((item.text if caption_on_file and n == 0 else "", {"file": file}))
        link_ids = [await self._link(item, "outbound", body, "pending", payload) for body, payload in specs]
        self.event(
            EventType.REPLY_RECEIVED,
            item.user,
            {
                "text": item.text,
                "slack_ts": item.ts,
                "links": link_ids,
                "files": [f.name for f in item.files],
            },
        )
        for link_id in link_ids:
            await jobs.enqueue(self.conn, self.queue, "deliver_reply", {"link_id": link_id}, self.now)
        values: dict[str, Any] = {"last_agent_message_at": self.now}
        if self.view.first_response_at is None:
            values["first_response_at"] = self.now
        await self.conn.execute(
            update(conversations).where(conversations.c.id == self.view.id).values(**values)
        )
        await self._card_update()

    async def _link(
        self, item: ThreadReply, direction: str, body: str, status: str, payload: dict[str, Any]
    ) -> int:
        kind = "note" if direction == "note" else ("file" if "file" in payload else "text")
        result = await self.conn.execute(
            insert(message_links)
            .values(
                conversation_id=self.view.id,
                direction=direction,
                kind=kind,
                slack_channel=item.channel,
                slack_ts=item.ts,
                author=item.user,
                body=body,
                payload=json.dumps(payload),
                status=status,
                status_at=self.now,
                sent_at=self.now,
                created_at=self.now,
            )
            .returning(message_links.c.id)
        )
        return int(result.scalar_one())

    async def _claim(self, user: str) -> None:
        await self.conn.execute(
            update(conversations)
            .where(conversations.c.id == self.view.id, conversations.c.assignee.is_(None))
            .values(assignee=user, state=ConversationState.ASSIGNED)
        )
        self.event(EventType.CONVERSATION_CLAIMED, user, {"assignee": user, "how": "first reply"})

    async def _card_update(self) -> None:
        if self.view.slack_thread_ts and not await jobs.pending_kinds(self.conn, self.queue, "update_card"):
            await jobs.enqueue(
                self.conn,
                self.queue,
                "update_card",
                {"conversation_id": self.view.id},
                self.now,
                slack_channel=self.view.slack_channel,
            )

    async def edit_or_delete(self, item: ReplyEdited | ReplyDeleted) -> None:
        sent = (
            await self.conn.execute(
                select(message_links.c.id, message_links.c.status, message_links.c.direction).where(
                    message_links.c.slack_channel == item.channel, message_links.c.slack_ts == item.ts
                )
            )
        ).all()
        if not sent:
            return
        outbound = [r for r in sent if r.direction == "outbound" and r.status not in ("refused",)]
        if isinstance(item, ReplyEdited):
            self.event(
                EventType.REPLY_EDIT_ATTEMPTED,
                item.user,
                {
                    "slack_ts": item.ts,
                    "old_text": item.old_text,
                    "new_text": item.new_text,
                    "note": not outbound,
                },
            )
            what = t("edit")
        else:
            self.event(
                EventType.REPLY_DELETE_ATTEMPTED,
                item.user or "unknown",
                {"slack_ts": item.ts, "old_text": item.old_text, "note": not outbound},
            )
            what = t("deletion")
        if outbound and item.user:
            await self.tell(
                item.user,
                t(
                    "WhatsApp messages cannot be changed once sent: the customer keeps the "
                    "original text. Your {what} is recorded in the history of #{ref}.",
                    what=what,
                    ref=self.view.ref,
                ),
            )
