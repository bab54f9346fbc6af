"""The worker jobs that show figures to people: the ``/traza stats`` chart and the App Home.

``stats_chart`` draws the chart and uploads it to the asker's DM with the app. It is queued by the
command (a slash command must answer within 3 s; drawing and uploading take longer) and run with the
job queue's retries; rendering is CPU work, so it runs in a thread. ``publish_home`` renders a
user's App Home: their queue and their teams' numbers.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.charts import stats_chart
from bot.home import home_view
from bridge.config import TrazaConfig
from bridge.errors import PermanentRemoteError
from bridge.i18n import t
from bridge.ports import AgentDesk, MediaFile
from store.away import manually_away
from store.daily import daily, team_numbers
from store.queues import agent_queue


async def send_stats_chart(
    engine: AsyncEngine, config: TrazaConfig, desk: AgentDesk, payload: dict[str, Any]
) -> None:
    since, until = datetime.fromisoformat(payload["since"]), datetime.fromisoformat(payload["until"])
    team_id: str | None = payload.get("team")
    async with engine.connect() as conn:
        days = await daily(conn, since=since, until=until, team=team_id)
    team = config.team(team_id) if team_id else None
    scope = team.name if team else t("all teams")
    title = t("Traza · {scope} · {period} (UTC days)", scope=scope, period=payload["period"])
    png = await asyncio.to_thread(stats_chart, days, title)
    name = f"traza-stats-{team_id or 'all'}-{payload['period']}-{until:%Y%m%d}.png"
    comment = t(
        "Conversations opened per day and median first response, {scope}, {since} to {until} UTC.",
        scope=scope,
        since=f"{since:%Y-%m-%d}",
        until=f"{until:%Y-%m-%d %H:%M}",
    )
    try:
        await desk.send_file_to_user(payload["user"], MediaFile(png, "image/png", name), comment)
    except PermanentRemoteError as exc:
        # No thread to show it in: tell the asker where they typed the command, then give up.
        if payload.get("channel"):
            why = t("⚠️ Traza could not send you the stats chart (Slack said `{code}`).", code=exc.code)
            await desk.tell(payload["channel"], None, payload["user"], why)
        raise


async def publish_home(
    engine: AsyncEngine, config: TrazaConfig, desk: AgentDesk, user: str, now: datetime
) -> None:
    async with engine.connect() as conn:
        held, waiting = await agent_queue(conn, config, user)
        away = bool(await manually_away(conn, [user]))
        numbers = await team_numbers(conn, config, user, now)
    await desk.publish_home(user, home_view(held, waiting, now, numbers, away=away))
