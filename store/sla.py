"""The SLA sweep: find conversations past their team's targets and record each breach exactly once.

Cheap: per team and target, one query over the not-closed conversations older than the target that
have no breach recorded yet (partial index ``ix_conversations_not_closed`` and the ``sla_breaches``
primary key, migration 0007), at most ``batch`` at a time. Safe with several workers: the worker runs
the sweep under the ``sla`` lease, so normally one process sweeps; should two sweeps ever overlap (a
lease lost in the middle of a slow sweep), the ``sla_breaches`` primary key lets only one record the
breach. The breach row, its ``SlaBreached`` event, the nudge job and the card update commit in one
transaction, so a crash leaves all of them or none, and the next sweep finds what is still missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.config import TrazaConfig
from bridge.domain import ConversationState, EventType, SlaTarget
from bridge.sla import nudge_text
from store import events, jobs
from store.conversations import load_view
from store.events import NewEvent
from store.tables import conversations, sla_breaches
from store.upsert import insert_ignore

BATCH = 200


@dataclass(frozen=True, slots=True)
class Breach:
    conversation_id: int
    ref: int
    team_id: str
    target: SlaTarget


async def sweep(
    engine: AsyncEngine, config: TrazaConfig, now: datetime, *, batch: int = BATCH
) -> list[Breach]:
    """Record every breach due at ``now`` that is not recorded yet; the breaches this call recorded."""
    recorded: list[Breach] = []
    for team in config.teams:
        for target in SlaTarget:
            limit = team.sla.of(target) if team.sla else None
            if limit is None:
                continue
            # With business hours the clock stops while the team is closed: what is overdue now
            # opened at or before the latest start that has accumulated the target in open time.
            cutoff = team.hours.open_since(now, limit.total_seconds()) if team.hours else now - limit
            if cutoff is None:
                continue
            async with engine.connect() as conn:
                due = await _overdue(conn, team.id, target, cutoff, batch)
            for conversation_id in due:
                breach = await _record(engine, config, conversation_id, target, now)
                if breach is not None:
                    recorded.append(breach)
    return recorded


async def _overdue(
    conn: AsyncConnection, team_id: str, target: SlaTarget, opened_before: datetime, batch: int
) -> list[int]:
    c = conversations.c
    conditions = [
        c.state != ConversationState.CLOSED.value,
        c.team_id == team_id,
        c.opened_at <= opened_before,
        ~exists().where(sla_breaches.c.conversation_id == c.id, sla_breaches.c.target == target.value),
    ]
    if target is SlaTarget.FIRST_RESPONSE:
        conditions += [c.first_response_at.is_(None), c.last_customer_message_at.is_not(None)]
    query = select(c.id).where(*conditions).order_by(c.opened_at).limit(batch)
    return [int(i) for i in (await conn.execute(query)).scalars().all()]


async def _record(
    engine: AsyncEngine, config: TrazaConfig, conversation_id: int, target: SlaTarget, now: datetime
) -> Breach | None:
    async with engine.begin() as conn:
        view = await load_view(conn, config, conversation_id)
        due = view.sla_due(target)
        limit = view.sla.of(target) if view.sla else None
        if due is None or limit is None or now < due:
            return None  # answered, closed or moved to a team without this target since the query
        first = await insert_ignore(
            conn,
            sla_breaches,
            {
                "conversation_id": view.id,
                "target": target.value,
                "team_id": view.team_id,
                "due_at": due,
                "breached_at": now,
            },
        )
        if not first:
            return None  # another sweeper recorded it
        team = config.team(view.team_id)
        leads = sorted(team.leads) if team else []
        await events.append(
            conn,
            [
                NewEvent(
                    EventType.SLA_BREACHED,
                    now,
                    view.id,
                    int(view.ref),
                    actor="traza",
                    team_id=view.team_id,
                    payload={
                        "target": target.value,
                        "target_seconds": limit.total_seconds(),
                        "due_at": due.isoformat(),
                        "leads": leads,
                    },
                ),
            ],
        )
        queue = f"conv:{view.id}"
        text = nudge_text(int(view.ref), target, limit, leads)
        payload = {"conversation_id": view.id, "target": target.value, "text": text}
        await jobs.enqueue(conn, queue, "sla_nudge", payload, now, slack_channel=view.slack_channel)
        if view.slack_thread_ts and not await jobs.pending_kinds(conn, queue, "update_card"):
            await jobs.enqueue(
                conn,
                queue,
                "update_card",
                {"conversation_id": view.id},
                now,
                slack_channel=view.slack_channel,
            )
    return Breach(view.id, int(view.ref), view.team_id, target)
