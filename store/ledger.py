"""The database side of one mirror job (the bridge's ``MirrorLedger`` port).

A ledger is bound to the job it serves: the call that records the job's outcome also deletes the
job, in the same transaction, so "posted to Slack" and "job done" can never disagree after a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge import codec
from bridge.config import TrazaConfig
from bridge.domain import ConversationView, EventType, SlackTs
from bridge.i18n import t
from bridge.inbound import EditBody, InboundMessage, ReactionBody, RevokeBody
from bridge.ports import InboundToMirror, OutboundItem
from store import events, jobs, mirrored
from store.conversations import load_card_view, load_view, to_view, view_query
from store.events import NewEvent
from store.mirrored import Mirrored, MirroredBatch
from store.tables import contacts, conversation_threads, conversations, message_links
from store.tables import jobs as jobs_table
from store.upsert import insert_ignore


class JobLedger:
    def __init__(
        self,
        engine: AsyncEngine,
        config: TrazaConfig,
        job_id: int,
        clock: Callable[[], datetime],
        batch: MirroredBatch | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        self.engine, self.config, self.job_id, self.clock = engine, config, job_id, clock
        self.batch, self.payload = batch, payload or {}
        self._followers: dict[int, int] = {}  # link id -> job id of messages queued behind this job

    async def view(self, conversation_id: int) -> ConversationView:
        # The card shows the customer's earlier conversations: one indexed query more per job.
        async with self.engine.connect() as conn:
            return await load_card_view(conn, self.config, conversation_id)

    async def inbound(self, link_id: int) -> InboundToMirror:
        async with self.engine.connect() as conn:
            link = (
                (
                    await conn.execute(
                        view_query()
                        .add_columns(
                            message_links.c.payload.label("link_payload"),
                            message_links.c.slack_ts.label("link_slack_ts"),
                        )
                        .join(message_links, message_links.c.conversation_id == conversations.c.id)
                        .where(message_links.c.id == link_id)
                    )
                )
                .mappings()
                .one()
            )
            view = to_view(link, self.config)
            message = codec.decode(json.loads(link["link_payload"]))
            assert isinstance(message, InboundMessage)
            target = _target_of(message)
            target_ts = None
            if target:
                target_ts = await conn.scalar(
                    select(message_links.c.slack_ts).where(message_links.c.wa_message_id == target)
                )
        return InboundToMirror(link_id, view, message, target_ts, link["link_slack_ts"])

    async def card_posted(self, conversation_id: int, ts: SlackTs, *, finish: bool = True) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id, conversations.c.slack_thread_ts.is_(None))
                .values(slack_thread_ts=ts)
            )
            if result.rowcount == 1:
                await self._thread_started(conn, conversation_id, ts, {})
            if finish:
                await jobs.finish(conn, self.job_id)

    async def _thread_started(
        self, conn: AsyncConnection, conversation_id: int, ts: str, extra: dict[str, object]
    ) -> None:
        """Record a new card (event, and the thread in ``conversation_threads``) for the current channel."""
        row = (
            await conn.execute(
                select(
                    conversations.c.ref,
                    conversations.c.team_id,
                    conversations.c.slack_channel,
                    conversations.c.phone_number_id,
                ).where(conversations.c.id == conversation_id)
            )
        ).one()
        payload = {"slack_channel": row.slack_channel, "slack_thread_ts": ts, **extra}
        await events.append(
            conn,
            [
                NewEvent(
                    EventType.CARD_POSTED,
                    self.clock(),
                    conversation_id,
                    row.ref,
                    actor="traza",
                    team_id=row.team_id,
                    phone_number_id=row.phone_number_id,
                    payload=payload,
                )
            ],
        )
        await insert_ignore(
            conn,
            conversation_threads,
            {
                "slack_channel": row.slack_channel,
                "slack_thread_ts": ts,
                "conversation_id": conversation_id,
                "created_at": self.clock(),
            },
        )

    async def transfer_card_posted(
        self, conversation_id: int, channel: str, ts: SlackTs, context: dict[str, object]
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(slack_channel=channel, slack_thread_ts=ts)
            )
            await self._thread_started(conn, conversation_id, ts, {"after": "transfer"})
            await jobs.enqueue(
                conn,
                f"conv:{conversation_id}",
                "transfer_context",
                {k: v for k, v in context.items()},
                self.clock(),
                slack_channel=channel,
            )
            await jobs.finish(conn, self.job_id)

    async def recent_messages(self, conversation_id: int, limit: int) -> list[str]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(message_links.c.direction, message_links.c.author, message_links.c.body)
                    .where(
                        message_links.c.conversation_id == conversation_id,
                        message_links.c.direction.in_(("inbound", "outbound")),
                    )
                    .order_by(message_links.c.id.desc())
                    .limit(limit)
                )
            ).all()
        lines = []
        for row in reversed(rows):
            who = (
                t("Customer")
                if row.direction == "inbound"
                else (f"<@{row.author}>" if row.author else "Traza")
            )
            body = (row.body or "").replace("\n", " ")
            lines.append(f"> {who}: {body[:200]}")
        return lines

    async def step_done(self, step: str) -> None:
        async with self.engine.begin() as conn:
            raw = await conn.scalar(select(jobs_table.c.payload).where(jobs_table.c.id == self.job_id))
            payload = json.loads(raw or "{}")
            payload["done"] = sorted({*payload.get("done", []), step})
            await conn.execute(
                update(jobs_table).where(jobs_table.c.id == self.job_id).values(payload=json.dumps(payload))
            )

    async def card_updated(self) -> None:
        async with self.engine.begin() as conn:
            await jobs.finish(conn, self.job_id)

    async def message_posted(self, link_id: int, ts: SlackTs) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(message_links).where(message_links.c.id == link_id).values(slack_ts=ts))

    async def message_mirrored(self, link_id: int, problem: str | None = None) -> None:
        async with self.engine.begin() as conn:
            link = (
                await conn.execute(
                    select(message_links.c.wa_message_id, message_links.c.slack_channel).where(
                        message_links.c.id == link_id
                    )
                )
            ).one()
            payload: dict[str, object] = {
                "wa_message_id": link.wa_message_id,
                "slack_channel": link.slack_channel,
            }
            kind = EventType.CUSTOMER_MESSAGE_MIRRORED
            if problem:
                payload["problem"] = problem
                kind = EventType.MIRROR_FAILED
            await self._link_event(conn, link_id, kind, payload)
            await jobs.finish(conn, self.job_id)

    async def queued_inbound(self, limit: int) -> list[InboundToMirror]:
        self._followers, items = await mirrored.queued_behind(self.engine, self.config, self.job_id, limit)
        return items

    async def coalesced_group(self) -> list[int] | None:
        # The payload was read when the job was claimed, after any earlier attempt wrote it.
        pairs = self.payload.get("group")
        if pairs is None:
            return None
        self._followers = {int(link): int(job) for link, job in pairs}
        return [int(link) for link, _job in pairs]

    async def fix_group(self, link_ids: list[int]) -> None:
        async with self.engine.begin() as conn:
            raw = await conn.scalar(select(jobs_table.c.payload).where(jobs_table.c.id == self.job_id))
            payload = json.loads(raw or "{}")
            payload["group"] = [[link, self._followers[link]] for link in link_ids]
            await conn.execute(
                update(jobs_table).where(jobs_table.c.id == self.job_id).values(payload=json.dumps(payload))
            )

    async def group_mirrored(self, link_ids: list[int], ts: SlackTs, channel: str) -> None:
        followers = tuple(self._followers[link] for link in link_ids[1:])
        post = Mirrored(tuple(link_ids), ts, channel, (self.job_id, *followers))
        if self.batch is not None:
            await self.batch.record(post)
            return
        async with self.engine.begin() as conn:
            await mirrored.write(conn, [post], self.clock())

    async def phone_number_of(self, conversation_id: int) -> str:
        async with self.engine.connect() as conn:
            return str(
                await conn.scalar(
                    select(conversations.c.phone_number_id).where(conversations.c.id == conversation_id)
                )
            )

    async def outbound(self, link_id: int) -> OutboundItem:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(
                            message_links,
                            contacts.c.wa_id,
                            contacts.c.user_id,
                            conversations.c.phone_number_id,
                        )
                        .join(conversations, conversations.c.id == message_links.c.conversation_id)
                        .join(contacts, contacts.c.id == conversations.c.contact_id)
                        .where(message_links.c.id == link_id)
                    )
                )
                .mappings()
                .one()
            )
            view = await load_view(conn, self.config, row["conversation_id"])
        payload = json.loads(row["payload"] or "{}")
        return OutboundItem(
            link_id=link_id,
            view=view,
            author=row["author"] or "",
            text=row["body"] or "",
            file=payload.get("file"),
            part=int(payload.get("part", 1)),
            parts=int(payload.get("parts", 1)),
            wa_message_id=row["wa_message_id"],
            status=row["status"],
            phone_number_id=row["phone_number_id"],
            wa_id=row["wa_id"],
            user_id=row["user_id"],
            slack_ts=row["slack_ts"],
            error_code=row["error_code"],
            error_text=row["error_text"],
            template=payload.get("template"),
            params=tuple(str(p) for p in payload.get("params", [])),
            sending_since=(
                datetime.fromisoformat(payload["sending_since"]) if payload.get("sending_since") else None
            ),
            interactive=payload.get("interactive"),
        )

    async def sending(self, link_id: int) -> None:
        await self._mark_sending(link_id, self.clock().isoformat())

    async def send_settled(self, link_id: int) -> None:
        await self._mark_sending(link_id, None)

    async def _mark_sending(self, link_id: int, since: str | None) -> None:
        """The mark lives in the entry's payload; only this conversation's running job writes it."""
        async with self.engine.begin() as conn:
            raw = await conn.scalar(select(message_links.c.payload).where(message_links.c.id == link_id))
            payload = json.loads(raw or "{}")
            if payload.get("sending_since") == since:
                return
            if since is None:
                payload.pop("sending_since", None)
            else:
                payload["sending_since"] = since
            await conn.execute(
                update(message_links).where(message_links.c.id == link_id).values(payload=json.dumps(payload))
            )

    async def reply_accepted(self, link_id: int, wa_message_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(message_links)
                .where(message_links.c.id == link_id)
                .values(wa_message_id=wa_message_id, status_at=self.clock())
            )
            await self._link_event(
                conn, link_id, EventType.REPLY_SENT, {"wa_message_id": wa_message_id, "accepted": True}
            )
            await jobs.finish(conn, self.job_id)

    async def reply_failed(self, link_id: int, code: str, reason: str, notice: str = "") -> None:
        async with self.engine.begin() as conn:
            if notice:
                await self._queue_notice(conn, link_id, notice)
            numeric = int(code) if code.lstrip("-").isdigit() else None
            await conn.execute(
                update(message_links)
                .where(message_links.c.id == link_id)
                .values(status="failed", status_at=self.clock(), error_code=numeric, error_text=reason)
            )
            await self._link_event(conn, link_id, EventType.REPLY_FAILED, {"code": code, "reason": reason})
            await jobs.finish(conn, self.job_id)

    async def _queue_notice(self, conn: AsyncConnection, link_id: int, text: str) -> None:
        """The failure notice and ❌ mark go out as their own job, so a Slack hiccup cannot lose them."""
        row = (
            await conn.execute(
                select(
                    message_links.c.conversation_id, message_links.c.slack_channel, message_links.c.slack_ts
                ).where(message_links.c.id == link_id)
            )
        ).one()
        await jobs.enqueue(
            conn,
            f"conv:{row.conversation_id}",
            "thread_notice",
            {
                "conversation_id": row.conversation_id,
                "text": text,
                "react": [row.slack_channel, row.slack_ts] if row.slack_ts else None,
            },
            self.clock(),
        )

    async def done(self) -> None:
        async with self.engine.begin() as conn:
            await jobs.finish(conn, self.job_id)

    async def _link_event(
        self, conn: AsyncConnection, link_id: int, kind: EventType, payload: dict[str, object]
    ) -> None:
        row = (
            await conn.execute(
                select(
                    message_links.c.author,
                    message_links.c.slack_ts,
                    conversations.c.id,
                    conversations.c.ref,
                    conversations.c.team_id,
                    conversations.c.phone_number_id,
                )
                .join(conversations, conversations.c.id == message_links.c.conversation_id)
                .where(message_links.c.id == link_id)
            )
        ).one()
        await events.append(
            conn,
            [
                NewEvent(
                    kind,
                    self.clock(),
                    row.id,
                    row.ref,
                    actor=row.author or "traza",
                    team_id=row.team_id,
                    phone_number_id=row.phone_number_id,
                    payload={"link_id": link_id, "slack_ts": row.slack_ts, **payload},
                )
            ],
        )


def _target_of(message: InboundMessage) -> str | None:
    body = message.body
    if isinstance(body, (ReactionBody, EditBody, RevokeBody)):
        return body.target
    return message.context.quoted if message.context else None
