"""What CRM lookups said about customers: the ``EnrichmentLedger`` of one lookup job, and the reads
routing and the card use.

The event log is the record (``CustomerEnriched`` carries the facts, ``CustomerEnrichmentFailed`` the
reason); the ``customer_facts`` table is its projection, one row per looked-up conversation, so the
card and routing read facts with one indexed query. ``facts_for_contact`` answers "what do we know
about this customer" (the newest successful lookup), the ``Mapping[str, str]`` routing rules take.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.domain import EventType
from bridge.enrichment import LookupSubject
from store import events, jobs
from store.events import NewEvent
from store.tables import contacts, conversations, customer_facts


async def facts_for_contact(conn: AsyncConnection, contact_id: int) -> Mapping[str, str]:
    """The newest facts a successful lookup returned for this contact (empty when none)."""
    raw = await conn.scalar(
        select(customer_facts.c.facts)
        .where(customer_facts.c.contact_id == contact_id, customer_facts.c.problem.is_(None))
        .order_by(customer_facts.c.looked_up_at.desc())
        .limit(1)
    )
    return _decode(raw)


async def facts_for_conversation(conn: AsyncConnection, conversation_id: int) -> Mapping[str, str]:
    """This conversation's lookup result, or else the newest known facts of its contact."""
    row = (
        await conn.execute(
            select(customer_facts.c.facts, customer_facts.c.problem).where(
                customer_facts.c.conversation_id == conversation_id
            )
        )
    ).first()
    if row is not None and row.problem is None:
        return _decode(row.facts)
    contact_id = await conn.scalar(
        select(conversations.c.contact_id).where(conversations.c.id == conversation_id)
    )
    return await facts_for_contact(conn, int(contact_id)) if contact_id is not None else {}


def _decode(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    value = json.loads(raw)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class FactsLedger:
    """The database side of one ``enrich_customer`` job; each outcome commits and finishes the job."""

    def __init__(self, engine: AsyncEngine, job_id: int, clock: Callable[[], datetime]) -> None:
        self.engine, self.job_id, self.clock = engine, job_id, clock

    async def subject(self, conversation_id: int) -> LookupSubject:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        conversations.c.ref,
                        conversations.c.contact_id,
                        conversations.c.team_id,
                        contacts.c.wa_id,
                    )
                    .join(contacts, contacts.c.id == conversations.c.contact_id)
                    .where(conversations.c.id == conversation_id)
                )
            ).one()
        return LookupSubject(conversation_id, int(row.ref), int(row.contact_id), row.wa_id, row.team_id)

    async def enriched(self, subject: LookupSubject, facts: Mapping[str, str], found: bool) -> None:
        payload = {"contact_id": subject.contact_id, "found": found, "facts": dict(facts)}
        await self._record(subject, EventType.CUSTOMER_ENRICHED, payload, dict(facts), None)

    async def failed(self, subject: LookupSubject, reason: str) -> None:
        payload = {"contact_id": subject.contact_id, "reason": reason}
        await self._record(subject, EventType.CUSTOMER_ENRICHMENT_FAILED, payload, {}, reason)

    async def _record(
        self,
        subject: LookupSubject,
        kind: EventType,
        payload: dict[str, object],
        facts: dict[str, str],
        problem: str | None,
    ) -> None:
        now = self.clock()
        async with self.engine.begin() as conn:
            conv = (
                await conn.execute(
                    select(conversations.c.phone_number_id, conversations.c.slack_channel).where(
                        conversations.c.id == subject.conversation_id
                    )
                )
            ).one()
            await conn.execute(
                delete(customer_facts).where(customer_facts.c.conversation_id == subject.conversation_id)
            )
            await conn.execute(
                insert(customer_facts).values(
                    conversation_id=subject.conversation_id,
                    contact_id=subject.contact_id,
                    facts=json.dumps(facts, ensure_ascii=False),
                    problem=problem,
                    looked_up_at=now,
                )
            )
            await events.append(
                conn,
                [
                    NewEvent(
                        kind,
                        now,
                        subject.conversation_id,
                        subject.ref,
                        actor="crm",
                        team_id=subject.team_id,
                        phone_number_id=conv.phone_number_id,
                        payload=payload,
                    )
                ],
            )
            key = f"conv:{subject.conversation_id}"
            if not await jobs.pending_kinds(conn, key, "update_card"):
                await jobs.enqueue(
                    conn,
                    key,
                    "update_card",
                    {"conversation_id": subject.conversation_id},
                    now,
                    slack_channel=conv.slack_channel,
                )
            await jobs.finish(conn, self.job_id)
