"""Figures by day and for today, from the event log: the stats chart's series and the App Home's
team numbers. The definitions are those of ``docs/metrics.md`` (``store.reports``), cut by UTC day:
a day's first-response median is over the conversations *opened* that day, answered before ``until``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.config import TrazaConfig
from bridge.domain import ConversationState, EventType
from store.metrics import Row, is_agent_response, metric_rows, percentile, summarize
from store.tables import conversations

TODAY_EVENTS = frozenset({EventType.CONVERSATION_OPENED, EventType.REPLY_RECEIVED, EventType.SLA_BREACHED})


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    opened: int
    answered: int
    first_response_median: float | None
    """Seconds; over the conversations opened this day and answered before the period's end."""
    sla_breaches: int


@dataclass(frozen=True, slots=True)
class TeamNumbers:
    team_id: str
    name: str
    open: int
    waiting: int
    first_response_median_today: float | None
    sla_breaches_today: int


def midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), time(), tzinfo=UTC)


def per_day(rows: Sequence[Row], *, since: datetime, until: datetime, team: str | None) -> list[Day]:
    """One ``Day`` per UTC date in ``[since, until)``, from event rows in log order."""
    opened: dict[int, datetime] = {}
    first: dict[int, float] = {}
    breaches: Counter[date] = Counter()
    for row in rows:
        at, conv, kind = row["occurred_at"], row["conversation_id"], row["type"]
        # Replies count for the team the conversation opened in (docs/metrics.md), the rest for their own.
        other_team = team is not None and row["team_id"] != team and kind != EventType.REPLY_RECEIVED
        if not since <= at < until or other_team:
            continue
        if kind == EventType.CONVERSATION_OPENED and conv is not None:
            opened[conv] = at
        elif kind == EventType.REPLY_RECEIVED and conv in opened and conv not in first:
            if is_agent_response(row):
                first[conv] = (at - opened[conv]).total_seconds()
        elif kind == EventType.SLA_BREACHED:
            breaches[at.date()] += 1
    days: list[Day] = []
    day = since.astimezone(UTC).date()
    while datetime.combine(day, time(), tzinfo=UTC) < until:
        cohort = [c for c, at in opened.items() if at.date() == day]
        waits = [first[c] for c in cohort if c in first]
        days.append(Day(day, len(cohort), len(waits), percentile(waits, 50), breaches[day]))
        day += timedelta(days=1)
    return days


async def daily(conn: AsyncConnection, *, since: datetime, until: datetime, team: str | None) -> list[Day]:
    rows = await metric_rows(conn, since=since, until=until, kinds=TODAY_EVENTS)
    return per_day(rows, since=since, until=until, team=team)


async def team_numbers(
    conn: AsyncConnection, config: TrazaConfig, user: str, now: datetime
) -> list[TeamNumbers]:
    """For each team ``user`` is in: open and waiting now, and today's (UTC) first response and breaches."""
    teams = [t for t in config.teams if t.is_member(user)]
    if not teams:
        return []
    start = midnight(now)
    rows = await metric_rows(conn, since=start, until=now, kinds=TODAY_EVENTS)
    c = conversations.c
    not_closed = c.state != ConversationState.CLOSED.value
    waiting = and_(
        c.last_customer_message_at.is_not(None),
        or_(c.last_agent_message_at.is_(None), c.last_agent_message_at < c.last_customer_message_at),
    )
    counts = {
        r.team_id: (int(r.open), int(r.waiting or 0))
        for r in (
            await conn.execute(
                select(
                    c.team_id,
                    func.count().label("open"),
                    func.sum(case((waiting, 1), else_=0)).label("waiting"),
                )
                .where(not_closed, c.team_id.in_([t.id for t in teams]))
                .group_by(c.team_id)
            )
        ).all()
    }
    numbers = []
    for team in teams:
        today = summarize(rows, since=start, until=now, team=team.id)
        open_now, waiting_now = counts.get(team.id, (0, 0))
        numbers.append(
            TeamNumbers(
                team.id,
                team.name,
                open_now,
                waiting_now,
                today["first_response"]["median_seconds"],
                sum(today["sla_breaches"].values()),
            )
        )
    return numbers
