"""Who is away from automatic assignment by their own word: ``/traza away`` and ``/traza back``.

The current state is one row per agent in ``agent_status``; each change is an ``AgentWentAway`` or
``AgentCameBack`` event. (Slack presence is the other source of "away", asked by the worker.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.config import TrazaConfig
from bridge.domain import EventType
from bridge.i18n import t
from store import events
from store.events import NewEvent
from store.tables import agent_status
from store.upsert import insert_ignore


async def manually_away(conn: AsyncConnection, users: Iterable[str]) -> set[str]:
    wanted = list(users)
    if not wanted:
        return set()
    rows = await conn.execute(
        select(agent_status.c.user_id).where(agent_status.c.user_id.in_(wanted), agent_status.c.away)
    )
    return {str(r.user_id) for r in rows}


async def set_away(engine: AsyncEngine, config: TrazaConfig, user: str, away: bool, now: datetime) -> str:
    """``/traza away`` and ``/traza back``: automatic assignment passes over (or includes) ``user``."""
    async with engine.begin() as conn:
        was = bool(await conn.scalar(select(agent_status.c.away).where(agent_status.c.user_id == user)))
        if not await insert_ignore(conn, agent_status, {"user_id": user, "away": away, "since": now}):
            await conn.execute(
                update(agent_status).where(agent_status.c.user_id == user).values(away=away, since=now)
            )
        if was != away:
            kind = EventType.AGENT_WENT_AWAY if away else EventType.AGENT_CAME_BACK
            await events.append(conn, [NewEvent(kind, now, actor=user, payload={"user": user})])
    teams = [t.name for t in config.teams if t.assignment.automatic and user in sorted(t.members or t.leads)]
    where = f" ({', '.join(teams)})" if teams else " " + t("(none of your teams assigns automatically)")
    if away:
        return t(
            "You are away: automatic assignment passes you over{where}. `/traza back` when you return.",
            where=where,
        )
    return t("Welcome back: automatic assignment includes you again{where}.", where=where)
