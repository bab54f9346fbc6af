"""Reading conversations as the domain sees them (``ConversationView``) and small shared writes."""

from __future__ import annotations

import json
from dataclasses import replace

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.config import TrazaConfig
from bridge.contacts import display_phone
from bridge.domain import (
    ConversationState,
    ConversationView,
    EarlierConversation,
    Ref,
    SlackChannel,
    SlackTs,
    SlackUserId,
    TeamId,
)
from bridge.teamtools import decode_labels
from store.tables import business_numbers, contacts, conversations, customer_facts

EARLIER_ON_CARD = 5


def view_query() -> Select[tuple[object, ...]]:
    """A conversation with its contact and business number: what every read of one needs."""
    return (
        select(
            conversations,
            contacts.c.profile_name,
            contacts.c.wa_id,
            contacts.c.username,
            contacts.c.user_id,
            business_numbers.c.display_phone_number,
            customer_facts.c.facts.label("crm_facts"),
            customer_facts.c.problem.label("crm_problem"),
        )
        .join(contacts, contacts.c.id == conversations.c.contact_id)
        .join(business_numbers, business_numbers.c.phone_number_id == conversations.c.phone_number_id)
        .outerjoin(customer_facts, customer_facts.c.conversation_id == conversations.c.id)
    )


async def load_view(conn: AsyncConnection, config: TrazaConfig, conversation_id: int) -> ConversationView:
    row = (await conn.execute(view_query().where(conversations.c.id == conversation_id))).mappings().one()
    return to_view(row, config)


async def load_card_view(
    conn: AsyncConnection, config: TrazaConfig, conversation_id: int
) -> ConversationView:
    """``load_view`` plus what only the card shows: the customer's earlier conversations."""
    view = await load_view(conn, config, conversation_id)
    c = conversations.c
    rows = (
        await conn.execute(
            select(c.ref, c.opened_at, c.state, c.slack_channel, c.slack_thread_ts)
            .where(
                c.contact_id == select(c.contact_id).where(c.id == conversation_id).scalar_subquery(),
                c.id < conversation_id,
            )
            .order_by(c.id.desc())
            .limit(EARLIER_ON_CARD)
        )
    ).all()
    earlier = tuple(
        EarlierConversation(
            Ref(r.ref),
            r.opened_at,
            ConversationState(r.state),
            SlackChannel(r.slack_channel),
            SlackTs(r.slack_thread_ts) if r.slack_thread_ts else None,
        )
        for r in rows
    )
    return replace(view, earlier=earlier)


async def find_by_ref(conn: AsyncConnection, config: TrazaConfig, ref: int) -> ConversationView | None:
    row = (await conn.execute(view_query().where(conversations.c.ref == ref))).mappings().first()
    return to_view(row, config) if row else None


async def find_by_thread(
    conn: AsyncConnection, config: TrazaConfig, channel: str, thread_ts: str
) -> ConversationView | None:
    row = (
        (
            await conn.execute(
                view_query()
                .where(
                    conversations.c.slack_channel == channel,
                    conversations.c.slack_thread_ts == thread_ts,
                )
                .order_by(conversations.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return to_view(row, config) if row else None


def to_view(row: object, config: TrazaConfig) -> ConversationView:
    r = dict(row)  # type: ignore[call-overload]
    team = config.team(r["team_id"])
    phone = display_phone(r["wa_id"])
    name = r["profile_name"] or r["username"] or phone or r["user_id"] or "WhatsApp customer"
    return ConversationView(
        id=r["id"],
        ref=Ref(r["ref"]),
        state=ConversationState(r["state"]),
        team_id=TeamId(r["team_id"]),
        team_name=team.name if team else r["team_id"],
        slack_channel=SlackChannel(r["slack_channel"]),
        slack_thread_ts=SlackTs(r["slack_thread_ts"]) if r["slack_thread_ts"] else None,
        assignee=SlackUserId(r["assignee"]) if r["assignee"] else None,
        contact_name=name,
        contact_display=phone or (f"@{r['username']}" if r["username"] else ""),
        business_number=display_phone(r["display_phone_number"]) or r["phone_number_id"],
        opened_at=r["opened_at"],
        last_customer_message_at=r["last_customer_message_at"],
        last_agent_message_at=r["last_agent_message_at"],
        window_ends_at=r["window_ends_at"],
        closed_at=r["closed_at"],
        closed_by=SlackUserId(r["closed_by"]) if r["closed_by"] else None,
        first_response_at=r["first_response_at"],
        close_reason=r["close_reason"],
        customer_facts=_facts(r["crm_facts"]),
        crm_problem=r["crm_problem"],
        labels=decode_labels(r.get("labels")),
        sla=team.sla if team else None,
        hours=team.hours if team else None,
        routing_rule=r.get("routing_rule"),
    )


def _facts(raw: str | None) -> tuple[tuple[str, str], ...]:
    """The CRM facts in the order the lookup returned them (the configured order)."""
    value = json.loads(raw) if raw else {}
    return tuple((str(k), str(v)) for k, v in value.items()) if isinstance(value, dict) else ()
