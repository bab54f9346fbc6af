"""Assignment as transactions: pick a holder by the team's rule, send stale ones back, who is away.

``assign`` runs the pure rule (``bridge.assignment.choose``) inside one transaction that first locks
the team's ``team_assignment`` row: with several workers, two decisions for one team never read the
same loads, so ``capacity`` holds and the round robin never skips or repeats a turn. The
conversation's row is locked too and re-checked (still open, still nobody's), so a claim racing an
automatic pick wins or loses cleanly. Each decision is an event with its reason, candidates and
loads; a pick also refreshes the card and says who got it in the thread.

``sweep`` (run by the one worker holding the ``assign`` lease) returns conversations whose holder left
the customer waiting past ``return_after_minutes`` and queues a new pick for conversations still
waiting in automatic teams while somebody has room for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.assignment import AssignmentDecision, choose, unanswered_for
from bridge.config import Team, TrazaConfig
from bridge.domain import ConversationState, ConversationView, EventType
from bridge.i18n import t
from store import events, jobs
from store.away import manually_away
from store.conversations import load_view
from store.events import NewEvent
from store.tables import conversations, team_assignment
from store.upsert import insert_ignore

ASSIGN_JOB = "auto_assign"
SWEEP_LIMIT = 200


def candidates_of(team: Team) -> list[str]:
    """Who takes turns: the team's members, or its leads when it lists no members."""
    return sorted(team.members or team.leads)


async def loads_of(conn: AsyncConnection, users: Iterable[str]) -> dict[str, int]:
    """Open conversations each agent holds, across every team (an agent has one pair of hands)."""
    wanted = list(users)
    rows = await conn.execute(
        select(conversations.c.assignee, func.count())
        .where(conversations.c.assignee.in_(wanted), conversations.c.state == ConversationState.ASSIGNED)
        .group_by(conversations.c.assignee)
    )
    return {str(assignee): int(n) for assignee, n in rows}


async def queue_assignment(
    conn: AsyncConnection,
    config: TrazaConfig,
    conversation_id: int,
    team_id: str,
    now: datetime,
    why: str,
    exclude: Iterable[str] = (),
) -> bool:
    """Queue an automatic pick for a conversation whose team assigns automatically."""
    if not config.assignment_for(team_id).automatic:
        return False
    queue = f"conv:{conversation_id}"
    if await jobs.pending_kinds(conn, queue, ASSIGN_JOB):
        return False
    payload = {"conversation_id": conversation_id, "why": why, "exclude": sorted(exclude)}
    await jobs.enqueue(conn, queue, ASSIGN_JOB, payload, now)
    return True


async def assign(
    engine: AsyncEngine,
    config: TrazaConfig,
    conversation_id: int,
    now: datetime,
    *,
    present_away: set[str],
    exclude: set[str],
    why: str,
    job_id: int | None = None,
) -> AssignmentDecision | None:
    """Pick a holder for one waiting conversation (``None`` when it no longer waits for one)."""
    async with engine.begin() as conn:
        team_id = await conn.scalar(
            select(conversations.c.team_id).where(conversations.c.id == conversation_id)
        )
        team = config.team(str(team_id)) if team_id else None
        decision = None
        if team is not None and team.assignment.automatic:
            decision = await _decide(conn, config, team, conversation_id, now, present_away, exclude, why)
        if job_id is not None:
            await jobs.finish(conn, job_id)
    return decision


async def _decide(
    conn: AsyncConnection,
    config: TrazaConfig,
    team: Team,
    conversation_id: int,
    now: datetime,
    present_away: set[str],
    exclude: set[str],
    why: str,
) -> AssignmentDecision | None:
    await insert_ignore(conn, team_assignment, {"team_id": team.id, "last_agent": None, "updated_at": now})
    last = await conn.scalar(
        select(team_assignment.c.last_agent).where(team_assignment.c.team_id == team.id).with_for_update()
    )
    await conn.execute(
        select(conversations.c.id).where(conversations.c.id == conversation_id).with_for_update()
    )
    view = await load_view(conn, config, conversation_id)
    if view.state is not ConversationState.OPEN or view.assignee or view.team_id != team.id:
        return None
    members = candidates_of(team)
    away = (await manually_away(conn, members)) | (present_away & set(members))
    decision = choose(team.assignment, members, await loads_of(conn, members), away, last, exclude)
    decision.details["why"] = why
    if decision.agent is None:
        if why != "sweep":  # a periodic retry that changes nothing is not news
            await _event(conn, view, EventType.ASSIGNMENT_DEFERRED, now, decision)
        return decision
    await conn.execute(
        update(conversations)
        .where(conversations.c.id == view.id)
        .values(assignee=decision.agent, state=ConversationState.ASSIGNED, assigned_at=now)
    )
    await conn.execute(
        update(team_assignment)
        .where(team_assignment.c.team_id == team.id)
        .values(last_agent=decision.agent, updated_at=now)
    )
    await _event(conn, view, EventType.CONVERSATION_ASSIGNED, now, decision)
    await _card_and_notice(
        conn,
        view,
        now,
        t("➡️ Assigned to <@{agent}> ({reason}).", agent=decision.agent, reason=decision.reason.split(":")[0]),
    )
    return decision


async def _event(
    conn: AsyncConnection,
    view: ConversationView,
    kind: EventType,
    now: datetime,
    decision: AssignmentDecision,
) -> None:
    payload = {"assignee": decision.agent, "reason": decision.reason, **decision.details}
    await events.append(
        conn, [NewEvent(kind, now, view.id, view.ref, actor="traza", team_id=view.team_id, payload=payload)]
    )


async def _card_and_notice(conn: AsyncConnection, view: ConversationView, now: datetime, text: str) -> None:
    queue = f"conv:{view.id}"
    # Even before the card is recorded: a refresh queued behind its post_card job sees the change.
    if not await jobs.pending_kinds(conn, queue, "update_card"):
        await jobs.enqueue(
            conn, queue, "update_card", {"conversation_id": view.id}, now, slack_channel=view.slack_channel
        )
    await jobs.enqueue(
        conn,
        queue,
        "thread_notice",
        {"conversation_id": view.id, "text": text},
        now,
        slack_channel=view.slack_channel,
    )


async def return_unanswered(engine: AsyncEngine, config: TrazaConfig, now: datetime) -> list[int]:
    """Send back to the queue every conversation whose holder let the customer wait too long."""
    teams = [t.id for t in config.teams if t.assignment.return_after() is not None]
    if not teams:
        return []
    c = conversations.c
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(c.id, c.team_id, c.assigned_at, c.last_customer_message_at, c.last_agent_message_at)
                .where(c.state == ConversationState.ASSIGNED, c.team_id.in_(teams))
                .order_by(c.id)
                .limit(SWEEP_LIMIT * 5)
            )
        ).all()
    due = [
        int(r.id)
        for r in rows
        if unanswered_for(
            config.assignment_for(r.team_id),
            now,
            r.assigned_at,
            r.last_customer_message_at,
            r.last_agent_message_at,
        )
    ]
    returned = []
    for conversation_id in due[:SWEEP_LIMIT]:
        async with engine.begin() as conn:
            if await _return_one(conn, config, conversation_id, now):
                returned.append(conversation_id)
    return returned


async def _return_one(
    conn: AsyncConnection, config: TrazaConfig, conversation_id: int, now: datetime
) -> bool:
    await conn.execute(
        select(conversations.c.id).where(conversations.c.id == conversation_id).with_for_update()
    )
    view = await load_view(conn, config, conversation_id)
    policy = config.assignment_for(view.team_id)
    assigned_at = await conn.scalar(select(conversations.c.assigned_at).where(conversations.c.id == view.id))
    waited = unanswered_for(
        policy, now, assigned_at, view.last_customer_message_at, view.last_agent_message_at
    )
    if view.state is not ConversationState.ASSIGNED or view.assignee is None or waited is None:
        return False
    await conn.execute(
        update(conversations)
        .where(conversations.c.id == view.id)
        .values(assignee=None, state=ConversationState.OPEN, assigned_at=None)
    )
    minutes = policy.return_after_minutes or 0
    payload = {
        "previous_assignee": view.assignee,
        "waited_seconds": round(waited.total_seconds(), 1),
        "return_after_minutes": minutes,
    }
    await events.append(
        conn,
        [
            NewEvent(
                EventType.CONVERSATION_RETURNED,
                now,
                view.id,
                view.ref,
                "traza",
                view.team_id,
                payload=payload,
            )
        ],
    )
    await _card_and_notice(
        conn,
        view,
        now,
        t(
            "⏰ <@{agent}> left the customer unanswered for {waited}: #{ref} is back "
            "in {team}'s queue (after {minutes} min without an answer).",
            agent=view.assignee,
            waited=_minutes(waited),
            ref=view.ref,
            team=view.team_name,
            minutes=f"{minutes:g}",
        ),
    )
    await queue_assignment(conn, config, view.id, view.team_id, now, "returned", exclude=[view.assignee])
    return True


def _minutes(waited: timedelta) -> str:
    if waited >= timedelta(minutes=1):
        return f"{int(waited.total_seconds() // 60)} min"
    return t("under a minute")


async def queue_waiting(engine: AsyncEngine, config: TrazaConfig, now: datetime) -> int:
    """Queue a pick for waiting conversations of automatic teams, as many as agents have room for."""
    queued = 0
    for team in config.teams:
        if not team.assignment.automatic:
            continue
        async with engine.begin() as conn:
            members = candidates_of(team)
            away = await manually_away(conn, members)
            loads = await loads_of(conn, members)
            cap = team.assignment.capacity
            room = sum(
                (cap - loads.get(m, 0)) if cap is not None else SWEEP_LIMIT for m in members if m not in away
            )
            if room <= 0:
                continue
            waiting = (
                await conn.execute(
                    select(conversations.c.id)
                    .where(
                        conversations.c.team_id == team.id,
                        conversations.c.state == ConversationState.OPEN,
                        conversations.c.assignee.is_(None),
                        conversations.c.menu_until.is_(None),  # held for the routing menu: no team yet
                    )
                    .order_by(conversations.c.id)
                    .limit(min(room, SWEEP_LIMIT))
                )
            ).scalars()
            for conversation_id in list(waiting):
                queued += await queue_assignment(conn, config, int(conversation_id), team.id, now, "sweep")
    return queued
