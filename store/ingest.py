"""Ingest: turn stored webhooks into conversations, message links, events and jobs.

This is the database half of the inbound use case (``mirror_inbound`` is the Slack half, run later
from the jobs this module enqueues). It is a transaction script over SQL rather than a bridge use
case behind a repository port: every step is a read or write of these tables, and one transaction
per webhook is what makes "acted on once" true — a webhook row is marked processed in the same
transaction that records its effects, and a wamid already linked is skipped, so redeliveries,
duplicates inside one batch and a crash half-way all end in exactly one message link and one job.
Only the worker holding the ``ingest`` lease runs this, which keeps webhooks in arrival order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge import codec
from bridge.config import TrazaConfig
from bridge.contacts import contact_key
from bridge.domain import CUSTOMER_SERVICE_WINDOW, ConversationState, DeliveryStatus, EventType
from bridge.inbound import (
    InboundMessage,
    ParsedWebhook,
    RevokeBody,
    Sender,
    StatusUpdate,
    SystemBody,
    body_kind,
    plain_text,
)
from bridge.routing import RoutingDecision
from bridge.whatsapp.parsing import MalformedWebhook, parse_webhook
from store import csat, events, jobs
from store.events import NewEvent
from store.lookups import BatchLookups
from store.routing import Router, menu_failed
from store.tables import business_numbers, contacts, conversations, message_links, webhook_inbox
from store.tables import jobs as jobs_table

log = logging.getLogger("traza.ingest")
REF_OFFSET = 1000
STATUS_EVENTS = {
    DeliveryStatus.SENT: EventType.REPLY_SENT,
    DeliveryStatus.DELIVERED: EventType.REPLY_DELIVERED,
    DeliveryStatus.READ: EventType.REPLY_READ,
    DeliveryStatus.PLAYED: EventType.REPLY_READ,
    DeliveryStatus.FAILED: EventType.REPLY_FAILED,
}


BATCH = 50
SQLITE_BATCH = 4


async def ingest_pending(
    engine: AsyncEngine, config: TrazaConfig, clock: Callable[[], datetime], limit: int = 200
) -> int:
    """Apply up to ``limit`` stored webhooks in arrival order; returns how many were applied.

    Webhooks are applied ``BATCH`` at a time in one transaction (one lock on the event chain, one
    commit); when a batch fails for any reason but the database being away, its webhooks are applied
    one by one so a single bad webhook is parked with its error instead of blocking the rest.
    """
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(webhook_inbox.c.id, webhook_inbox.c.body)
                .where(webhook_inbox.c.processed_at.is_(None))
                .order_by(webhook_inbox.c.id)
                .limit(limit)
            )
        ).all()
    parsed = [(int(row.id), *_parse(int(row.id), row.body)) for row in rows]
    # SQLite has one writer at a time: short transactions let webhooks being stored slip in between.
    batch = SQLITE_BATCH if engine.dialect.name == "sqlite" else BATCH
    for start in range(0, len(parsed), batch):
        chunk = parsed[start : start + batch]
        try:
            await _apply(engine, config, clock, chunk)
        except (OperationalError, InterfaceError, IntegrityError):
            raise  # the database is away (or raced another ingester): the loop retries these webhooks
        except Exception:
            log.warning("a batch of %d webhooks failed; applying them one by one", len(chunk), exc_info=True)
            for item in chunk:
                await _apply_alone(engine, config, clock, item)
    return len(rows)


def _parse(inbox_id: int, body: bytes) -> tuple[ParsedWebhook, str | None]:
    try:
        return parse_webhook(orjson.loads(body)), None
    except (orjson.JSONDecodeError, MalformedWebhook) as exc:
        log.error("webhook %s could not be parsed: %s", inbox_id, exc)
        return ParsedWebhook(), f"unreadable webhook: {exc}"


async def _apply_alone(
    engine: AsyncEngine,
    config: TrazaConfig,
    clock: Callable[[], datetime],
    item: tuple[int, ParsedWebhook, str | None],
) -> None:
    try:
        await _apply(engine, config, clock, [item])
    except (OperationalError, InterfaceError, IntegrityError):
        raise
    except Exception as exc:
        # A bug must not block every later webhook: park this one (its body stays stored) and go on.
        log.exception("webhook %s could not be applied; parked with its error for replay", item[0])
        async with engine.begin() as conn:
            await conn.execute(
                update(webhook_inbox)
                .where(webhook_inbox.c.id == item[0])
                .values(processed_at=clock(), error=f"ingest failed: {exc!r}"[:2000])
            )


async def _apply(
    engine: AsyncEngine,
    config: TrazaConfig,
    clock: Callable[[], datetime],
    items: list[tuple[int, ParsedWebhook, str | None]],
) -> None:
    async with engine.begin() as conn:
        ingest = Ingest(conn, config, clock())
        readable = [inbox_id for inbox_id, _parsed, error in items if error is None]
        mine: set[int] = set()
        if readable:  # one statement marks the batch; rows another ingester took are not returned
            result = await conn.execute(
                update(webhook_inbox)
                .where(webhook_inbox.c.id.in_(readable), webhook_inbox.c.processed_at.is_(None))
                .values(processed_at=clock())
                .returning(webhook_inbox.c.id)
            )
            mine = set(result.scalars().all())
        await ingest.known_messages([m.wa_message_id for _, p, _ in items for m in p.messages])
        await ingest.lookups.load(conn, [m for _, p, _ in items for m in p.messages])
        for inbox_id, parsed, error in items:
            if error is not None:
                await conn.execute(
                    update(webhook_inbox)
                    .where(webhook_inbox.c.id == inbox_id, webhook_inbox.c.processed_at.is_(None))
                    .values(processed_at=clock(), error=error)
                )
            elif inbox_id in mine:
                await ingest.apply(parsed)
        await ingest.flush()


def _delivery_status(value: str) -> DeliveryStatus | None:
    """The stored status of an outbound entry; ``None`` for entries statuses never apply to."""
    try:
        return DeliveryStatus(value)
    except ValueError:
        return None


class Ingest:
    """Applies one parsed webhook inside one transaction."""

    def __init__(self, conn: AsyncConnection, config: TrazaConfig, now: datetime) -> None:
        self.conn, self.config, self.now = conn, config, now
        self.new_events: list[NewEvent] = []
        self.card_updates: set[int] = set()
        self.numbers_seen: dict[str, str] = {}
        self.seen: set[str] = set()  # wamids already linked, or linked earlier in this transaction
        self.lookups = BatchLookups()
        self.touched: dict[int, dict[str, Any]] = {}  # conversations whose times moved
        self.new_jobs: list[jobs.NewJob] = []

    def enqueue(
        self, queue_key: str, kind: str, payload: dict[str, Any], now: datetime, *, slack_channel: str | None
    ) -> None:
        """Queue a job; all of a batch's jobs are inserted at ``flush``, in this order."""
        self.new_jobs.append(jobs.NewJob(queue_key, kind, payload, now, slack_channel))

    async def apply(self, parsed: ParsedWebhook) -> None:
        for message in parsed.messages:
            await self.message(message)
        for status in parsed.statuses:
            await self.status(status)
        for err in parsed.errors:
            self.new_events.append(
                NewEvent(
                    EventType.WEBHOOK_ERROR_RECEIVED,
                    self.now,
                    phone_number_id=err.phone_number_id,
                    payload={"errors": [codec.encode(e) for e in err.errors]},
                )
            )
            log.warning(
                "Cloud API reported errors for %s: %s",
                err.phone_number_id,
                ", ".join(f"{e.code} {e.title}" for e in err.errors),
            )
        for skipped in parsed.skipped:
            self.new_events.append(
                NewEvent(
                    EventType.UPDATE_SKIPPED,
                    self.now,
                    payload={"where": skipped.where, "reason": skipped.reason},
                )
            )
            log.warning("webhook update skipped at %s: %s", skipped.where, skipped.reason)

    async def flush(self) -> None:
        """Queue the card refreshes and append the events gathered by every ``apply``."""
        for conversation_id in self.card_updates:
            channel = await self.conn.scalar(
                select(conversations.c.slack_channel).where(conversations.c.id == conversation_id)
            )
            queued = any(
                j.kind == "update_card" and j.queue_key == f"conv:{conversation_id}" for j in self.new_jobs
            )
            if not queued and not await jobs.pending_kinds(
                self.conn, f"conv:{conversation_id}", "update_card"
            ):
                self.enqueue(
                    f"conv:{conversation_id}",
                    "update_card",
                    {"conversation_id": conversation_id},
                    self.now,
                    slack_channel=channel,
                )
        if self.touched:
            await self.conn.execute(
                update(conversations)
                .where(conversations.c.id == bindparam("conv"))
                .values(last_customer_message_at=bindparam("last"), window_ends_at=bindparam("window")),
                [
                    {"conv": cid, "last": c["last_customer_message_at"], "window": c["window_ends_at"]}
                    for cid, c in self.touched.items()
                ],
            )
        await jobs.enqueue_many(self.conn, self.new_jobs)
        await events.append(self.conn, self.new_events)

    async def known_messages(self, wamids: list[str]) -> None:
        """Learn in one query which of a batch's messages are already linked (redeliveries)."""
        if wamids:
            rows = await self.conn.execute(
                select(message_links.c.wa_message_id).where(message_links.c.wa_message_id.in_(wamids))
            )
            self.seen.update(str(w) for w in rows.scalars())

    async def message(self, msg: InboundMessage) -> None:
        if msg.wa_message_id in self.seen:
            log.info("duplicate message %s ignored", msg.wa_message_id)
            return
        self.seen.add(msg.wa_message_id)
        await self._business_number(msg.phone_number_id, msg.display_phone_number)
        contact_id = await self._contact(msg.sender, msg.body)
        if await csat.record_answer(self.conn, self.config, self.now, msg, contact_id, self.new_events):
            return  # a CSAT answer belongs to the conversation it rates, never opens a new one
        conv = await self._open_conversation(contact_id, msg)
        held = conv["menu_until"] is not None
        kind = body_kind(msg.body)
        text = plain_text(msg.body)
        link_id = (
            await self.conn.execute(
                insert(message_links)
                .values(
                    conversation_id=conv["id"],
                    direction="inbound",
                    kind=kind,
                    wa_message_id=msg.wa_message_id,
                    slack_channel=conv["slack_channel"],
                    body=text,
                    payload=json.dumps(codec.encode(msg)),
                    status="received",
                    status_at=self.now,
                    sent_at=msg.sent_at,
                    created_at=self.now,
                )
                .returning(message_links.c.id)
            )
        ).scalar_one()
        await self._touch_conversation(conv, msg)
        self.new_events.append(
            NewEvent(
                EventType.CUSTOMER_MESSAGE_RECEIVED,
                msg.sent_at,
                conv["id"],
                conv["ref"],
                actor=f"contact:{contact_id}",
                team_id=None if held else conv["team_id"],
                phone_number_id=msg.phone_number_id,
                payload={
                    "wa_message_id": msg.wa_message_id,
                    "kind": kind,
                    "text": text,
                    "received_at": self.now.isoformat(),
                },
            )
        )
        if held:  # waiting for the menu: mirrored with the others once routed
            router = Router(self.conn, self.config, self.now, self.new_events)
            self.lookups.remember_conversation(await router.held_message(conv, msg))
            return
        self.enqueue(
            f"conv:{conv['id']}",
            "mirror_inbound",
            {"link_id": link_id},
            self.now,
            slack_channel=conv["slack_channel"],
        )

    async def _business_number(self, phone_number_id: str, display: str) -> None:
        if self.numbers_seen.get(phone_number_id) == display:
            return  # already written in this transaction
        self.numbers_seen[phone_number_id] = display
        row = (
            await self.conn.execute(
                select(business_numbers).where(business_numbers.c.phone_number_id == phone_number_id)
            )
        ).first()
        configured = self.config.number(phone_number_id)
        default_team = configured.default_team if configured else None
        if row is None:
            await self.conn.execute(
                insert(business_numbers).values(
                    phone_number_id=phone_number_id,
                    display_phone_number=display,
                    default_team=default_team,
                )
            )
        elif row.display_phone_number != display and display:
            await self.conn.execute(
                update(business_numbers)
                .where(business_numbers.c.phone_number_id == phone_number_id)
                .values(display_phone_number=display)
            )

    async def _contact(self, sender: Sender, body: object) -> int:
        # The oldest contact matching any of the sender's keys, wa_id or user_id (read with the batch).
        row = self.lookups.contact(sender)
        wa_id, user_id = sender.wa_id, sender.user_id
        if isinstance(body, SystemBody):
            wa_id, user_id = body.new_wa_id or wa_id, body.new_user_id or user_id
        key = contact_key(Sender(wa_id, user_id))
        values = {"key": key, "wa_id": wa_id, "user_id": user_id, "updated_at": self.now}
        if sender.profile_name:
            values["profile_name"] = sender.profile_name
        if sender.username:
            values["username"] = sender.username
        if row is None:
            new_id = int(
                (
                    await self.conn.execute(
                        insert(contacts).values(created_at=self.now, **values).returning(contacts.c.id)
                    )
                ).scalar_one()
            )
            self.lookups.remember_contact(new_id, {"profile_name": None, "username": None, **values})
            return new_id
        values = {k: v for k, v in values.items() if v is not None}
        if any(row[k] != v for k, v in values.items() if k != "updated_at"):
            await self.conn.execute(update(contacts).where(contacts.c.id == row["id"]).values(**values))
            old_wa_id, old_user_id = row["wa_id"], row["user_id"]
            self.lookups.remember_contact(int(row["id"]), values)
            row = {**row, "wa_id": old_wa_id, "user_id": old_user_id}
            if isinstance(body, SystemBody):
                self.new_events.append(
                    NewEvent(
                        EventType.CONTACT_CHANGED_NUMBER,
                        self.now,
                        actor=f"contact:{row['id']}",
                        payload={
                            "old_wa_id": row["wa_id"],
                            "new_wa_id": wa_id,
                            "old_user_id": row["user_id"],
                            "new_user_id": user_id,
                        },
                    )
                )
        return int(row["id"])

    async def _open_conversation(self, contact_id: int, msg: InboundMessage) -> dict[str, Any]:
        found = self.lookups.conversation(contact_id, msg.phone_number_id)
        if found is not None:
            return found
        reopened = await self._reopen_within_grace(contact_id, msg.phone_number_id)
        if reopened is not None:
            return self.lookups.remember_conversation(reopened)
        router = Router(self.conn, self.config, self.now, self.new_events)
        outcome = await router.decide(contact_id, await router.facts(contact_id, msg))
        # Held for a menu, the conversation waits in the default team until the answer routes it.
        team_id = outcome.team_id if isinstance(outcome, RoutingDecision) else self.config.default_team
        team = self.config.team(team_id)
        assert team is not None, "routing only returns configured teams"
        previous = await self.conn.scalar(
            select(conversations.c.id)
            .where(
                conversations.c.contact_id == contact_id,
                conversations.c.phone_number_id == msg.phone_number_id,
            )
            .order_by(conversations.c.id.desc())
            .limit(1)
        )
        conv_id = (
            await self.conn.execute(
                insert(conversations)
                .values(
                    contact_id=contact_id,
                    phone_number_id=msg.phone_number_id,
                    team_id=team.id,
                    state=ConversationState.OPEN,
                    slack_channel=team.slack_channel,
                    opened_at=self.now,
                    previous_conversation_id=previous,
                )
                .returning(conversations.c.id)
            )
        ).scalar_one()
        ref = REF_OFFSET + int(conv_id)
        await self.conn.execute(update(conversations).where(conversations.c.id == conv_id).values(ref=ref))
        self.new_events.append(
            NewEvent(
                EventType.CONVERSATION_OPENED,
                self.now,
                conv_id,
                ref,
                actor=f"contact:{contact_id}",
                team_id=team.id if isinstance(outcome, RoutingDecision) else None,  # held: no team yet
                phone_number_id=msg.phone_number_id,
                payload={"contact_id": contact_id, "previous_conversation_id": previous},
            )
        )
        if self.config.enrichment is not None:
            # Its own queue: a slow CRM never holds up the card or the messages.
            await jobs.enqueue(
                self.conn, f"enrich:{conv_id}", "enrich_customer", {"conversation_id": conv_id}, self.now
            )
        row = (
            (await self.conn.execute(select(conversations).where(conversations.c.id == conv_id)))
            .mappings()
            .one()
        )
        return self.lookups.remember_conversation(await router.opened(dict(row), outcome))

    async def _reopen_within_grace(self, contact_id: int, phone_number_id: str) -> dict[str, Any] | None:
        grace = self.config.reopen_grace_minutes
        if grace <= 0:
            return None
        row = (
            (
                await self.conn.execute(
                    select(conversations)
                    .where(
                        conversations.c.contact_id == contact_id,
                        conversations.c.phone_number_id == phone_number_id,
                        conversations.c.state == ConversationState.CLOSED,
                        conversations.c.closed_at >= self.now - timedelta(minutes=grace),
                    )
                    .order_by(conversations.c.id.desc())
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        state = ConversationState.ASSIGNED if row["assignee"] else ConversationState.OPEN
        await self.conn.execute(
            update(conversations)
            .where(conversations.c.id == row["id"])
            .values(state=state, closed_at=None, closed_by=None, close_reason=None)
        )
        self.new_events.append(
            NewEvent(
                EventType.CONVERSATION_REOPENED,
                self.now,
                row["id"],
                row["ref"],
                actor=f"contact:{contact_id}",
                team_id=row["team_id"],
                phone_number_id=phone_number_id,
                payload={"reason": f"the customer wrote within {grace} min of the close"},
            )
        )
        self.card_updates.add(int(row["id"]))
        return {**dict(row), "state": state, "closed_at": None}

    async def _touch_conversation(self, conv: dict[str, Any], msg: InboundMessage) -> None:
        if isinstance(msg.body, (SystemBody, RevokeBody)):
            return
        last = conv["last_customer_message_at"]
        answered = conv["last_agent_message_at"]
        window = conv["window_ends_at"]
        values: dict[str, Any] = {}
        if not isinstance(last, datetime) or msg.sent_at > last:
            values["last_customer_message_at"] = msg.sent_at
        ends = msg.sent_at + CUSTOMER_SERVICE_WINDOW
        if not isinstance(window, datetime) or ends > window:
            values["window_ends_at"] = ends
        if values:  # written once per conversation at ``flush``; later messages see it here
            conv.update(values)
            self.touched[int(conv["id"])] = conv
        was_waiting = isinstance(last, datetime) and not (isinstance(answered, datetime) and answered >= last)
        window_reopened = isinstance(window, datetime) and window <= self.now
        if conv["slack_thread_ts"] is not None and (not was_waiting or window_reopened):
            self.card_updates.add(int(str(conv["id"])))

    async def status(self, st: StatusUpdate) -> None:
        clauses: list[ColumnElement[bool]] = [message_links.c.wa_message_id == st.wa_message_id]
        if st.biz_opaque_callback_data and st.biz_opaque_callback_data.startswith("link:"):
            link = st.biz_opaque_callback_data.removeprefix("link:")
            if link.isascii() and link.isdigit() and len(link) <= 18:  # a bigint, whatever arrives
                clauses.append(message_links.c.id == int(link))
        row = (
            (await self.conn.execute(select(message_links).where(or_(*clauses)).limit(1))).mappings().first()
        )
        try:
            new = DeliveryStatus(st.status)
        except ValueError:
            new = None
        payload = {
            "wa_message_id": st.wa_message_id,
            "status": st.status,
            "errors": [codec.encode(e) for e in st.errors],
        }
        if row is None or new is None:
            self.new_events.append(
                NewEvent(
                    EventType.STATUS_RECEIVED,
                    st.at,
                    phone_number_id=st.phone_number_id,
                    payload={**payload, "known_message": row is not None},
                )
            )
            return
        current = _delivery_status(row["status"])
        if current is None or not current.advances_to(new):
            return
        first = st.errors[0] if st.errors else None
        await self.conn.execute(
            update(message_links)
            .where(message_links.c.id == row["id"])
            .values(
                status=new,
                status_at=st.at,
                wa_message_id=row["wa_message_id"] or st.wa_message_id,
                error_code=first.code if first else None,
                error_text=(first.details or first.message or first.title) if first else None,
            )
        )
        if row["wa_message_id"] is None and row["direction"] == "outbound":
            # The status names a send whose answer was lost (a crash, a timeout): its delivery job,
            # waiting in doubt, can finish now instead of holding the conversation's queue.
            await self.conn.execute(
                update(jobs_table)
                .where(
                    jobs_table.c.queue_key == f"conv:{row['conversation_id']}",
                    jobs_table.c.kind == "deliver_reply",
                    jobs_table.c.locked_until.is_(None),
                    jobs_table.c.available_at > self.now,
                )
                .values(available_at=self.now)
            )
        conv = (
            await self.conn.execute(
                select(conversations.c.ref, conversations.c.team_id, conversations.c.slack_channel).where(
                    conversations.c.id == row["conversation_id"]
                )
            )
        ).one()
        if new is DeliveryStatus.FAILED and row["author"] is None:
            await menu_failed(self.conn, row["conversation_id"], self.now)
        self.new_events.append(
            NewEvent(
                STATUS_EVENTS[new],
                st.at,
                row["conversation_id"],
                conv.ref,
                actor="whatsapp",
                team_id=conv.team_id,
                phone_number_id=st.phone_number_id,
                payload=payload,
            )
        )
        self.enqueue(
            f"conv:{row['conversation_id']}",
            "mark_status",
            {"link_id": row["id"]},
            self.now,
            slack_channel=None,
        )
