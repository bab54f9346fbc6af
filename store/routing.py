"""Routing inside the ingest transaction: facts about a new conversation, the decision recorded with
the rule that made it, the menu wait, and the card's channel among the team's channels.

``bridge.routing.route`` decides; this module gathers what it decides on (the first message, its
time, the customer's phone, stage and facts — CRM lookups' and traza.yml's), writes the outcome and
queues the jobs it implies:

- routed: the conversation gets its team and channel, a ``ConversationRouted`` event naming the
  rule, every rule tried and why; an automatic reply (after hours, or the rule's ``reply``) is
  queued first so the customer is not kept waiting by Slack, then the card and held messages;
- menu: the conversation is opened *held* (``menu_until`` set, no card) with a ``MenuOffered``
  event and the menu queued to the customer; its messages are stored but not mirrored. An answer
  (a tap, the option's number or title) routes it; ``expire_menus`` routes the ones whose time ran
  out, or whose menu could not be delivered, as if nobody answered.

Everything here runs under the ingest lease (one writer applies webhooks and expiries in order), so
an answer and an expiry can never route the same conversation twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.automatic import menu_message
from bridge.config import TrazaConfig
from bridge.domain import ConversationState, EventType
from bridge.inbound import ChoiceBody, InboundMessage, TextBody, plain_text
from bridge.routing import MenuPending, RoutingDecision, route
from bridge.rules import Menu, RoutingFacts, human_duration
from store import assignment, events, jobs
from store.channels import channel_for
from store.customer_facts import facts_for_contact
from store.events import NewEvent
from store.tables import contacts, conversations, message_links

AUTOMATIC_KIND = "send_automatic"


class Router:
    """Routes conversations inside one transaction; events go to the caller's ``new_events``."""

    def __init__(
        self, conn: AsyncConnection, config: TrazaConfig, now: datetime, new_events: list[NewEvent]
    ) -> None:
        self.conn, self.config, self.now, self.new_events = conn, config, now, new_events

    async def facts(self, contact_id: int, msg: InboundMessage) -> RoutingFacts:
        """What routes a new conversation: its first message, when it was written, who wrote it."""
        wa_id = await self.conn.scalar(select(contacts.c.wa_id).where(contacts.c.id == contact_id))
        earlier = await self.conn.scalar(select(func.count()).where(conversations.c.contact_id == contact_id))
        return RoutingFacts(msg.phone_number_id, plain_text(msg.body), msg.sent_at, wa_id, bool(earlier))

    async def customer(self, contact_id: int, phone: str | None) -> dict[str, str]:
        """The customer's facts: what the newest CRM lookup said about them (a lookup runs for each
        new conversation, so a returning customer's are known at once and a held conversation's are
        usually known by the time its menu is answered), under traza.yml's ``customers`` and
        ``routing.vip``, which a lead writes on purpose and so win."""
        return {**await facts_for_contact(self.conn, contact_id), **self.config.customer_facts(phone)}

    async def decide(self, contact_id: int, facts: RoutingFacts) -> RoutingDecision | MenuPending:
        return route(self.config, facts, await self.customer(contact_id, facts.phone))

    async def opened(self, conv: dict[str, Any], outcome: RoutingDecision | MenuPending) -> dict[str, Any]:
        """A new conversation's routing: apply the decision, or hold it for the menu."""
        if isinstance(outcome, RoutingDecision):
            return await self.routed(conv, outcome, held=False)
        return await self._offer_menu(conv, outcome)

    async def routed(self, conv: dict[str, Any], decision: RoutingDecision, *, held: bool) -> dict[str, Any]:
        team = self.config.team(decision.team_id)
        assert team is not None, "routing only returns configured teams"
        channel = await channel_for(self.conn, team, int(conv["id"]))
        rule_line = f"{decision.label}: {decision.detail}"
        values = {
            "team_id": team.id,
            "slack_channel": channel,
            "routing_rule": rule_line[:200],
            "menu_until": None,
        }
        await self.conn.execute(
            update(conversations).where(conversations.c.id == conv["id"]).values(**values)
        )
        conv = {**conv, **values}
        self.new_events.append(
            self._event(conv, EventType.CONVERSATION_ROUTED, _routed_payload(decision, channel))
        )
        if decision.reply:
            await self._automatic(conv, "reply", decision.reply, None)
        key = f"conv:{conv['id']}"
        await jobs.enqueue(
            self.conn, key, "post_card", {"conversation_id": conv["id"]}, self.now, slack_channel=channel
        )
        # Routed (at once, by a menu answer or by its timeout): the team's assignment rule picks an agent.
        await assignment.queue_assignment(
            self.conn, self.config, int(conv["id"]), team.id, self.now, "opened"
        )
        if held:
            for link_id in await self._held_links(int(conv["id"])):
                await jobs.enqueue(
                    self.conn, key, "mirror_inbound", {"link_id": link_id}, self.now, slack_channel=channel
                )
        return conv

    async def _offer_menu(self, conv: dict[str, Any], pending: MenuPending) -> dict[str, Any]:
        until = self.now + pending.menu.timeout
        values = {
            "menu_rule": pending.rule.index,
            "menu_until": until,
            "routing_rule": f"{pending.label}: menu asked",
        }
        await self.conn.execute(
            update(conversations).where(conversations.c.id == conv["id"]).values(**values)
        )
        payload = {
            "rule": f"rules[{pending.rule.index}]",
            "name": pending.rule.name,
            "options": [{"number": o.number, "title": o.title, "team": o.team} for o in pending.menu.options],
            "until": until.isoformat(),
            "tried": [{"rule": t.rule, "matched": t.matched, "why": t.why} for t in pending.trials],
        }
        self.new_events.append(self._event(conv, EventType.MENU_OFFERED, payload))
        await self._automatic(conv, "menu", pending.menu.body_text(), pending.menu)
        return {**conv, **values}

    async def held_message(self, conv: dict[str, Any], msg: InboundMessage) -> dict[str, Any]:
        """A message on a conversation waiting for its menu: route it when it answers the menu.
        Returns the conversation as it is now (routed, or still held)."""
        rule = next((r for r in self.config.rules if r.index == conv["menu_rule"] and r.menu), None)
        if rule is None or rule.menu is None:
            return await self.expire(conv, "the menu is no longer configured")
        body = msg.body
        choice = body.choice_id if isinstance(body, ChoiceBody) else None
        text = (
            body.text
            if isinstance(body, TextBody)
            else (body.title if isinstance(body, ChoiceBody) else None)
        )
        option = rule.menu.answer(text, choice)
        if option is None:
            return conv  # not an answer: keep waiting (the message is mirrored once routed)
        facts = await self._stored_facts(conv)
        answered = replace(facts, menu_rule=rule.index, menu_answer=option.number)
        outcome = await self.decide(int(conv["contact_id"]), answered)
        assert isinstance(outcome, RoutingDecision), "a menu rule decides once it has an answer"
        return await self.routed(conv, outcome, held=True)

    async def expire(self, conv: dict[str, Any], why: str) -> dict[str, Any]:
        facts = await self._stored_facts(conv)
        expired = replace(facts, menu_rule=conv["menu_rule"], menu_closed=why)
        outcome = await self.decide(int(conv["contact_id"]), expired)
        assert isinstance(outcome, RoutingDecision), "an expired menu never asks again"
        return await self.routed(conv, outcome, held=True)

    async def _stored_facts(self, conv: dict[str, Any]) -> RoutingFacts:
        first = (
            await self.conn.execute(
                select(message_links.c.body, message_links.c.sent_at)
                .where(message_links.c.conversation_id == conv["id"], message_links.c.direction == "inbound")
                .order_by(message_links.c.id)
                .limit(1)
            )
        ).first()
        wa_id = await self.conn.scalar(select(contacts.c.wa_id).where(contacts.c.id == conv["contact_id"]))
        earlier = await self.conn.scalar(
            select(func.count()).where(
                conversations.c.contact_id == conv["contact_id"], conversations.c.id < conv["id"]
            )
        )
        at = first.sent_at if first else conv["opened_at"]
        return RoutingFacts(conv["phone_number_id"], first.body if first else None, at, wa_id, bool(earlier))

    async def _held_links(self, conversation_id: int) -> list[int]:
        rows = await self.conn.execute(
            select(message_links.c.id)
            .where(
                message_links.c.conversation_id == conversation_id,
                message_links.c.direction == "inbound",
                message_links.c.slack_ts.is_(None),
            )
            .order_by(message_links.c.id)
        )
        return [int(r.id) for r in rows]

    async def _automatic(self, conv: dict[str, Any], purpose: str, text: str, menu: Menu | None) -> None:
        payload: dict[str, Any] = {"automatic": purpose}
        if menu is not None:
            payload["interactive"] = menu_message(menu)
        link_id = (
            await self.conn.execute(
                message_links.insert()
                .values(
                    conversation_id=conv["id"],
                    direction="outbound",
                    kind="interactive" if menu else "text",
                    body=text,
                    payload=json.dumps(payload),
                    status="pending",
                    sent_at=self.now,
                    created_at=self.now,
                )
                .returning(message_links.c.id)
            )
        ).scalar_one()
        await jobs.enqueue(self.conn, f"conv:{conv['id']}", AUTOMATIC_KIND, {"link_id": link_id}, self.now)

    def _event(self, conv: dict[str, Any], kind: EventType, payload: dict[str, Any]) -> NewEvent:
        return NewEvent(
            kind,
            self.now,
            conv["id"],
            conv.get("ref"),
            actor="traza",
            team_id=conv["team_id"],
            phone_number_id=conv["phone_number_id"],
            payload=payload,
        )


def _routed_payload(decision: RoutingDecision, channel: str) -> dict[str, Any]:
    return {
        "rule": decision.rule,
        "name": decision.name,
        "reason": decision.reason,
        "detail": decision.detail,
        "team": decision.team_id,
        "slack_channel": channel,
        "chosen_team": decision.chosen_team,
        "closed": decision.closed,
        "reply": decision.reply,
        "tried": [{"rule": t.rule, "matched": t.matched, "why": t.why} for t in decision.trials],
    }


async def menu_failed(conn: AsyncConnection, conversation_id: int, now: datetime) -> None:
    """The menu never reached the customer: stop waiting (the next expiry pass routes it)."""
    await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id, conversations.c.menu_until > now)
        .values(menu_until=now)
    )


async def expire_menus(engine: AsyncEngine, config: TrazaConfig, clock: Callable[[], datetime]) -> int:
    """Route every held conversation whose menu time ran out; returns how many were routed."""
    now = clock()
    async with engine.begin() as conn:
        rows = (
            (
                await conn.execute(
                    select(conversations)
                    .where(
                        conversations.c.menu_until <= now,
                        conversations.c.state != ConversationState.CLOSED,
                    )
                    .order_by(conversations.c.id)
                    .limit(100)
                )
            )
            .mappings()
            .all()
        )
        if not rows:
            return 0
        new_events: list[NewEvent] = []
        router = Router(conn, config, now, new_events)
        for row in rows:
            conv = dict(row)
            await router.expire(conv, await _why_expired(conn, conv, config))
        await events.append(conn, new_events)
    return len(rows)


async def _why_expired(conn: AsyncConnection, conv: dict[str, Any], config: TrazaConfig) -> str:
    failed = (
        await conn.execute(
            select(message_links.c.error_code, message_links.c.error_text).where(
                message_links.c.conversation_id == conv["id"],
                message_links.c.direction == "outbound",
                message_links.c.kind == "interactive",
                message_links.c.status == "failed",
            )
        )
    ).first()
    if failed is not None:
        return f"the menu could not be delivered ({failed.error_text or f'error {failed.error_code}'})"
    rule = next((r for r in config.rules if r.index == conv["menu_rule"]), None)
    waited = rule.menu.timeout if rule and rule.menu else conv["menu_until"] - conv["opened_at"]
    return f"no answer within {human_duration(waited)}"
