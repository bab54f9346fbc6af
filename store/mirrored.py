"""Mirrored customer messages: recording their Slack posts many jobs per transaction (group commit)
and finding the messages queued behind one (what a coalesced post may carry).

A mirror job's outcome (the post's ts on every message link it carried, one
``customer_message_mirrored`` event each, and the deletion of its jobs) must commit in one
transaction, so "posted" and "done" never disagree after a crash. Under load many jobs finish at
once, and each taking its own transaction (and the event chain's lock) in turn is what limits a
worker; ``MirroredBatch`` lets the jobs that finish while one transaction is being written share
the next one. A job still returns only after its own outcome is committed; a crash before the
commit leaves its job queued, and the retry finds the post by its Slack metadata.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge import codec
from bridge.config import TrazaConfig
from bridge.domain import ConversationView, EventType
from bridge.inbound import InboundMessage
from bridge.ports import InboundToMirror
from store import events
from store.conversations import load_view
from store.events import NewEvent
from store.tables import conversations, jobs, message_links


@dataclass(frozen=True, slots=True)
class Mirrored:
    """One Slack post: the links it carried (in order), its ts and channel, and the jobs it ends."""

    link_ids: tuple[int, ...]
    ts: str
    channel: str
    job_ids: tuple[int, ...]


async def write(conn: AsyncConnection, posts: list[Mirrored], now: datetime) -> None:
    """Record ``posts`` inside the caller's transaction (the event chain is locked last)."""
    await conn.execute(
        update(message_links)
        .where(message_links.c.id == bindparam("link"))
        .values(slack_ts=bindparam("ts"), slack_channel=bindparam("channel")),
        [{"link": link, "ts": p.ts, "channel": p.channel} for p in posts for link in p.link_ids],
    )
    await conn.execute(delete(jobs).where(jobs.c.id.in_([j for p in posts for j in p.job_ids])))
    rows = {
        row.id: row
        for row in (
            await conn.execute(
                select(
                    message_links.c.id,
                    message_links.c.wa_message_id,
                    conversations.c.id.label("conversation_id"),
                    conversations.c.ref,
                    conversations.c.team_id,
                    conversations.c.phone_number_id,
                )
                .join(conversations, conversations.c.id == message_links.c.conversation_id)
                .where(message_links.c.id.in_([link for p in posts for link in p.link_ids]))
            )
        ).all()
    }
    new_events = []
    for post in posts:
        extra = {"coalesced": len(post.link_ids)} if len(post.link_ids) > 1 else {}
        for link in post.link_ids:
            row = rows[link]
            new_events.append(
                NewEvent(
                    EventType.CUSTOMER_MESSAGE_MIRRORED,
                    now,
                    row.conversation_id,
                    row.ref,
                    actor="traza",
                    team_id=row.team_id,
                    phone_number_id=row.phone_number_id,
                    payload={
                        "link_id": link,
                        "slack_ts": post.ts,
                        "wa_message_id": row.wa_message_id,
                        "slack_channel": post.channel,
                        **extra,
                    },
                )
            )
    await events.append(conn, new_events)


async def queued_behind(
    engine: AsyncEngine, config: TrazaConfig, job_id: int, limit: int
) -> tuple[dict[int, int], list[InboundToMirror]]:
    """The run of not-yet-started mirror jobs right behind ``job_id`` in its queue, as
    ``{link id: job id}`` and the messages to mirror (candidates for one coalesced post)."""
    own = select(jobs.c.queue_key).where(jobs.c.id == job_id).scalar_subquery()
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts, jobs.c.locked_by)
                .where(jobs.c.queue_key == own, jobs.c.id > job_id)
                .order_by(jobs.c.id)
                .limit(limit)
            )
        ).all()
        run: dict[int, int] = {}
        for row in rows:
            if row.kind != "mirror_inbound" or row.attempts or row.locked_by:
                break
            run[int(json.loads(row.payload)["link_id"])] = int(row.id)
        if not run:
            return {}, []
        links = (
            (await conn.execute(select(message_links).where(message_links.c.id.in_(list(run)))))
            .mappings()
            .all()
        )
        by_id = {int(link["id"]): link for link in links}
        views: dict[int, ConversationView] = {}
        items = []
        for link_id in run:
            link = by_id[link_id]
            conversation_id = int(link["conversation_id"])
            if conversation_id not in views:
                views[conversation_id] = await load_view(conn, config, conversation_id)
            message = codec.decode(json.loads(link["payload"]))
            assert isinstance(message, InboundMessage)
            # A message pointing at another one is never coalesced, so its target is not looked up.
            items.append(InboundToMirror(link_id, views[conversation_id], message, None, link["slack_ts"]))
    return run, items


class MirroredBatch:
    """Shares one transaction among the posts recorded while the previous one was being written."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self.engine, self.clock = engine, clock
        self._pending: list[tuple[Mirrored, asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()
        self.transactions = 0

    async def record(self, post: Mirrored) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((post, done))
        async with self._lock:
            if not done.done():
                batch, self._pending = self._pending, []
                try:
                    async with self.engine.begin() as conn:
                        await write(conn, [p for p, _ in batch], self.clock())
                    self.transactions += 1
                except asyncio.CancelledError:
                    _fail(batch, RuntimeError("the recording transaction was cancelled"))
                    done.exception()  # this job is cancelled: its own outcome is not awaited
                    raise
                except Exception as exc:
                    _fail(batch, exc)  # each job sees the error (and is retried) below
                else:
                    for _, waiting in batch:
                        waiting.set_result(None)
        await done


def _fail(batch: list[tuple[Mirrored, asyncio.Future[None]]], exc: Exception) -> None:
    for _, waiting in batch:
        if not waiting.done():
            waiting.set_exception(exc)
