"""What an agent's App Home shows: the conversations they hold and those waiting in their teams."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.config import TrazaConfig
from bridge.domain import ConversationState, ConversationView
from store.conversations import load_view
from store.tables import conversations

LIMIT = 20


async def agent_queue(
    conn: AsyncConnection, config: TrazaConfig, user: str
) -> tuple[list[ConversationView], list[ConversationView]]:
    """(held by ``user``, unassigned and open in the teams ``user`` belongs to), oldest first."""
    teams = [t.id for t in config.teams if t.is_member(user) or user in config.admins]
    held = (
        (
            await conn.execute(
                select(conversations.c.id)
                .where(conversations.c.assignee == user, conversations.c.state != ConversationState.CLOSED)
                .order_by(conversations.c.id)
                .limit(LIMIT)
            )
        )
        .scalars()
        .all()
    )
    waiting = (
        (
            await conn.execute(
                select(conversations.c.id)
                .where(
                    conversations.c.team_id.in_(teams),
                    conversations.c.state == ConversationState.OPEN,
                    conversations.c.menu_until.is_(None),  # held for the routing menu: no team yet
                )
                .order_by(conversations.c.id)
                .limit(LIMIT)
            )
        )
        .scalars()
        .all()
    )
    return (
        [await load_view(conn, config, int(i)) for i in held],
        [await load_view(conn, config, int(i)) for i in waiting],
    )
