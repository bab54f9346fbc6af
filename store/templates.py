"""``/traza start``: the business writes first, with an approved template.

Finds the customer's conversation (by ref, or by phone: their open one) or opens a new one on the
first business number, held by the agent who asked; then queues the template as an outbox entry
(``deliver_reply`` sends it) or, without a template name, queues the list of approved templates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.config import TrazaConfig
from bridge.contacts import display_phone, normalize_phone, phone_variants
from bridge.control import is_lead, team_of_agent
from bridge.domain import ConversationState, ConversationView, EventType, parse_ref
from bridge.errors import InvalidInput
from bridge.i18n import t
from bridge.replies import may_act_in_team
from store import events, jobs
from store.channels import channel_for
from store.control import record_claim
from store.conversations import find_by_ref, load_view
from store.events import NewEvent
from store.ingest import REF_OFFSET
from store.tables import business_numbers, contacts, conversations, message_links


async def start_conversation(
    engine: AsyncEngine,
    config: TrazaConfig,
    clock: Callable[[], datetime],
    user: str,
    target: str,
    template: str | None,
    params: list[str],
) -> str:
    async with engine.begin() as conn:
        now = clock()
        view = await _conversation_for(conn, config, now, user, target)
        if not may_act_in_team(config, view.team_id, user):
            raise InvalidInput(
                t(
                    "#{ref} belongs to team {team}; only its members can write to it.",
                    ref=view.ref,
                    team=view.team_name,
                )
            )
        if view.assignee not in (None, user) and not is_lead(config, view.team_id, user):
            raise InvalidInput(
                t("<@{holder}> holds #{ref}; one voice per conversation.", holder=view.assignee, ref=view.ref)
            )
        if view.assignee is None and template is not None:
            await record_claim(conn, view, user, now, "template")
        queue = f"conv:{view.id}"
        if template is None:
            await jobs.enqueue(conn, queue, "list_templates", {"conversation_id": view.id, "user": user}, now)
            return t(
                "Looking up the approved templates for #{ref}; they will appear in its thread.", ref=view.ref
            )
        body = f"[template {template}] " + " | ".join(params)
        link_id = (
            await conn.execute(
                insert(message_links)
                .values(
                    conversation_id=view.id,
                    direction="outbound",
                    kind="template",
                    author=user,
                    body=body.strip(),
                    payload=json.dumps({"template": template, "params": params}),
                    status="pending",
                    slack_channel=view.slack_channel,
                    status_at=now,
                    sent_at=now,
                    created_at=now,
                )
                .returning(message_links.c.id)
            )
        ).scalar_one()
        await events.append(
            conn,
            [
                NewEvent(
                    EventType.REPLY_RECEIVED,
                    now,
                    view.id,
                    view.ref,
                    actor=user,
                    team_id=view.team_id,
                    payload={"template": template, "params": params, "links": [link_id]},
                )
            ],
        )
        await jobs.enqueue(conn, queue, "deliver_reply", {"link_id": link_id}, now)
    return t(
        "Sending template `{template}` to {customer} in #{ref}.",
        template=template,
        customer=view.contact_display or view.contact_name,
        ref=view.ref,
    )


async def _conversation_for(
    conn: AsyncConnection, config: TrazaConfig, now: datetime, user: str, target: str
) -> ConversationView:
    ref = parse_ref(target)
    if ref is not None:
        view = await find_by_ref(conn, config, int(ref))
        if view is None:
            raise InvalidInput(t("There is no conversation #{ref}.", ref=ref))
        if view.state is ConversationState.CLOSED:
            raise InvalidInput(t("#{ref} is closed; reopen it or start with the customer's +phone.", ref=ref))
        return view
    digits = normalize_phone(target)
    if digits is None:
        raise InvalidInput(t("{phone} is not a phone number (use +country and number).", phone=repr(target)))
    contact_id = await conn.scalar(
        select(contacts.c.id)
        .where(contacts.c.wa_id.in_(phone_variants(digits)))
        .order_by(contacts.c.id)
        .limit(1)
    )
    if contact_id is None:
        contact_id = (
            await conn.execute(
                insert(contacts)
                .values(key=f"wa:{digits}", wa_id=digits, created_at=now, updated_at=now)
                .returning(contacts.c.id)
            )
        ).scalar_one()
    open_id = await conn.scalar(
        select(conversations.c.id)
        .where(conversations.c.contact_id == contact_id, conversations.c.state != ConversationState.CLOSED)
        .order_by(conversations.c.id.desc())
        .limit(1)
    )
    if open_id is not None:
        return await load_view(conn, config, int(open_id))
    return await _open(conn, config, now, user, int(contact_id), digits)


async def _open(
    conn: AsyncConnection, config: TrazaConfig, now: datetime, user: str, contact_id: int, digits: str
) -> ConversationView:
    number = await _business_number(conn, config)
    team = team_of_agent(config, user) or config.team(config.default_team)
    assert team is not None
    conv_id = (
        await conn.execute(
            insert(conversations)
            .values(
                contact_id=contact_id,
                phone_number_id=number,
                team_id=team.id,
                state=ConversationState.ASSIGNED,
                assignee=user,
                slack_channel=team.slack_channel,
                opened_at=now,
                routing_rule="started by the business",
            )
            .returning(conversations.c.id)
        )
    ).scalar_one()
    ref = REF_OFFSET + int(conv_id)
    channel = await channel_for(conn, team, int(conv_id))
    await conn.execute(
        update(conversations).where(conversations.c.id == conv_id).values(ref=ref, slack_channel=channel)
    )
    await events.append(
        conn,
        [
            NewEvent(
                EventType.CONVERSATION_OPENED,
                now,
                conv_id,
                ref,
                actor=user,
                team_id=team.id,
                phone_number_id=number,
                payload={"contact_id": contact_id, "started_by": user, "phone": display_phone(digits)},
            )
        ],
    )
    await jobs.enqueue(
        conn,
        f"conv:{conv_id}",
        "post_card",
        {"conversation_id": conv_id},
        now,
        slack_channel=channel,
    )
    return await load_view(conn, config, int(conv_id))


async def _business_number(conn: AsyncConnection, config: TrazaConfig) -> str:
    if config.numbers:
        pnid = config.numbers[0].phone_number_id
        known = await conn.scalar(
            select(business_numbers.c.phone_number_id).where(business_numbers.c.phone_number_id == pnid)
        )
        if known is None:
            await conn.execute(
                insert(business_numbers).values(
                    phone_number_id=pnid, display_phone_number="", default_team=config.numbers[0].default_team
                )
            )
        return pnid
    known_any = await conn.scalar(select(business_numbers.c.phone_number_id).limit(1))
    if known_any is None:
        raise InvalidInput(t("No business number is known yet: add `numbers:` to traza.yml."))
    return str(known_any)
