"""The ``Desk`` the command registry runs against: control moves, lookups and their answers.

Composition-root glue: it combines ``store.control`` (moves), ``store.search`` (history, search,
timeline) and simple report queries, and turns their rows into the short mrkdwn answers agents see.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig
from bridge.contacts import normalize_phone, phone_variants
from bridge.control import visible_teams
from bridge.domain import ConversationState, parse_ref
from bridge.errors import InvalidInput
from store import jobs, reports, search
from store.control import Control
from store.daily import midnight
from store.tables import contacts, conversations
from store.templates import start_conversation

PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30, "90d": 90}


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f} min"


def stats_summary(m: dict[str, Any], scope: str, period: str, since: datetime) -> str:
    """The ``/traza stats`` answer: every figure as ``/api/metrics`` gives it for the same period."""
    fr, res, sla = m["first_response"], m["resolution"], m["sla_breaches"]
    return "\n".join(
        [
            f"*Stats for {scope}, {period}* (since {since:%Y-%m-%d %H:%M} UTC):",
            f"• {m['conversations_opened']} opened · {m['conversations_closed']} closed · "
            f"{m['conversations_reopened']} reopened · {m['transfers']} transfers · "
            f"{m['customer_messages']} customer messages · {m['agent_replies']} agent replies",
            f"• First response: median {_minutes(fr['median_seconds'])}, p90 {_minutes(fr['p90_seconds'])} "
            f"({fr['measured']} answered, {fr['pending']} not yet)",
            f"• Resolution: median {_minutes(res['median_seconds'])}, p90 {_minutes(res['p90_seconds'])} "
            f"({res['measured']} closed, {res['pending']} still open)",
            f"• Backlog now: {m['backlog']['open']} open, {m['backlog']['assigned']} assigned · "
            f"SLA breaches: {sla['first_response']} first response, {sla['resolution']} resolution",
            "_A chart is on its way to your direct messages with Traza._",
        ]
    )


def archive_link(channel: str, ts: str | None) -> str:
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}" if ts else f"<#{channel}>"


class Desk:
    def __init__(self, engine: AsyncEngine, config: TrazaConfig, clock: Callable[[], datetime]) -> None:
        self.engine, self.config, self.clock = engine, config, clock
        self.control = Control(engine, config, clock)

    async def claim(self, ref: int, user: str) -> str:
        return await self.control.claim(ref, user)

    async def transfer(self, ref: int, user: str, team_id: str | None, agent: str | None, reason: str) -> str:
        return await self.control.transfer(ref, user, team_id, agent, reason)

    async def close(self, ref: int, user: str, reason: str) -> str:
        return await self.control.close(ref, user, reason)

    async def reopen(self, ref: int, user: str) -> str:
        return await self.control.reopen(ref, user)

    async def note(self, ref: int, user: str, text: str) -> str:
        if not text.strip():
            raise InvalidInput("Write the note after the conversation number: `/traza note 1042 text…`")
        return await self.control.note(ref, user, text)

    async def open_ref_for_phone(self, phone: str) -> int | None:
        digits = normalize_phone(phone)
        if digits is None:
            raise InvalidInput(f"{phone!r} is not a phone number (use +country and number).")
        async with self.engine.connect() as conn:
            ref = await conn.scalar(
                select(conversations.c.ref)
                .join(contacts, contacts.c.id == conversations.c.contact_id)
                .where(
                    contacts.c.wa_id.in_(phone_variants(digits)),
                    conversations.c.state != ConversationState.CLOSED,
                )
                .order_by(conversations.c.id.desc())
                .limit(1)
            )
        return int(ref) if ref is not None else None

    async def history(self, user: str, target: str) -> str:
        ref = parse_ref(target)
        teams = visible_teams(self.config, user)
        async with self.engine.connect() as conn:
            if ref is not None:
                owner = await conn.scalar(
                    select(conversations.c.team_id).where(conversations.c.ref == int(ref))
                )
                if owner is None or (teams is not None and owner not in teams):
                    return f"There is no conversation #{ref} you can see."
                entries = await search.timeline(conn, int(ref))
                rows = await search.history_for_ref(conn, int(ref))
            else:
                if normalize_phone(target) is None:
                    raise InvalidInput(f"{target!r} is not a phone number (use +country and number).")
                entries, rows = [], await search.contact_history(conn, target)
        if ref is not None and not entries and not rows:
            return f"There is no conversation #{ref}."
        lines = []
        if entries:
            lines.append(f"*Timeline of #{ref}* (oldest first):")
            lines += [f"• {e.at:%Y-%m-%d %H:%M} {e.summary}" for e in entries[-30:]]
        others = [r for r in rows if (ref is None or r.ref != ref)]
        hidden = [r for r in others if teams is not None and r.team_id not in teams]
        others = [r for r in others if r not in hidden]
        if others or ref is None:
            lines.append(
                f"*Conversations with {target if ref is None else 'this customer'}* (most recent first):"
                if others
                else f"No conversations with {target}."
            )
            lines += [self._history_line(r) for r in others]
        if hidden:
            lines.append(
                f"_{len(hidden)} more conversation(s) with this customer belong to teams you are not in._"
            )
        return "\n".join(lines)

    def _history_line(self, row: search.HistoryRow) -> str:
        team = self.config.team(row.team_id)
        holder = f"<@{row.assignee}>" if row.assignee else "unassigned"
        closed = f" → {row.closed_at:%Y-%m-%d}" if row.closed_at else ""
        link = archive_link(row.slack_channel, row.slack_thread_ts)
        return (
            f"• <{link}|#{row.ref}> · {team.name if team else row.team_id} · {holder} · {row.state} · "
            f"{row.opened_at:%Y-%m-%d}{closed} · {row.messages} message(s)"
        )

    async def search(self, user: str, words: str) -> str:
        teams = visible_teams(self.config, user)
        async with self.engine.connect() as conn:
            hits = await search.search_messages(conn, words, team_ids=teams, limit=15)
        if not hits:
            return f"No messages match “{words}” in the conversations you can see."
        lines = [f"*{len(hits)} best match(es) for “{words}”:*"]
        for hit in hits:
            who = (
                "customer"
                if hit.direction == "inbound"
                else (f"<@{hit.author}>" if hit.author else hit.direction)
            )
            link = archive_link(hit.slack_channel, hit.thread_ts)
            body = hit.body.replace("\n", " ")
            lines.append(f"• <{link}|#{hit.ref}> {hit.sent_at:%Y-%m-%d} {who}: {body[:150]}")
        return "\n".join(lines)

    async def stats(self, user: str, team: str | None, period: str, channel: str = "") -> str:
        """The period's figures from the event log (docs/metrics.md), and a chart queued to the
        asker's DM. Periods are whole UTC days ending now: ``today`` since midnight, ``7d`` the last
        seven days including today, and so on."""
        if team is not None and self.config.team(team) is None:
            raise InvalidInput(f"Unknown team {team!r}. Teams: {', '.join(t.id for t in self.config.teams)}.")
        now = self.clock()
        since = midnight(now) - timedelta(days=PERIOD_DAYS[period] - 1)
        async with self.engine.begin() as conn:
            m = await reports.metrics(conn, since=since, until=now, team=team)
            payload = {"user": user, "team": team, "period": period, "channel": channel}
            await jobs.enqueue(
                conn,
                f"chart:{user}",
                "stats_chart",
                {**payload, "since": since.isoformat(), "until": now.isoformat()},
                now,
            )
        chosen = self.config.team(team) if team else None
        return stats_summary(m, chosen.name if chosen else "all teams", period, since)

    async def start(self, user: str, target: str, template: str | None, params: list[str]) -> str:
        return await start_conversation(self.engine, self.config, self.clock, user, target, template, params)
