"""The card's channel for a conversation entering a team (routed, transferred or started by an agent).

A team with several ``slack_channels`` spreads its conversations over them (``bridge.channels``);
this module counts what ``least_busy`` needs: the conversations not yet closed in each channel.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.channels import pick_channel
from bridge.config import Team
from bridge.domain import ConversationState, SlackChannel
from store.tables import conversations


async def channel_for(conn: AsyncConnection, team: Team, conversation_id: int) -> SlackChannel:
    if len(team.slack_channels) == 1:
        return team.slack_channel
    rows = await conn.execute(
        select(conversations.c.slack_channel, func.count())
        .where(
            conversations.c.slack_channel.in_(team.slack_channels),
            conversations.c.state != ConversationState.CLOSED,
            conversations.c.menu_until.is_(None),
            conversations.c.id != conversation_id,
        )
        .group_by(conversations.c.slack_channel)
    )
    counts = {str(channel): int(count) for channel, count in rows.all()}
    return pick_channel(team, counts, conversation_id)
