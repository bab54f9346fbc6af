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
from bridge.i18n import t
from store import jobs, labels, reports, search
from store.away import set_away as record_away
from store.canned import send_canned
from store.control import Control
from store.daily import midnight
from store.tables import contacts, conversations
from store.templates import start_conversation

PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30, "90d": 90}


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f} min"


def stats_summary(m: dict[str, Any], scope: str, period: str, since: datetime) -> str:
    """The ``/traza stats`` answer: every figure as ``/api/metrics`` gives it for the same period."""
    fr, res, sla, backlog = m["first_response"], m["resolution"], m["sla_breaches"], m["backlog"]
    lines = [
        t(
            "*Stats for {scope}, {period}* (since {since} UTC):",
            scope=scope,
            period=period,
            since=f"{since:%Y-%m-%d %H:%M}",
        ),
        t(
            "• {opened} opened · {closed} closed · {reopened} reopened · {transfers} transfers · "
            "{messages} customer messages · {replies} agent replies",
            opened=m["conversations_opened"],
            closed=m["conversations_closed"],
            reopened=m["conversations_reopened"],
            transfers=m["transfers"],
            messages=m["customer_messages"],
            replies=m["agent_replies"],
        ),
        t(
            "• First response: median {median}, p90 {p90} ({measured} answered, {pending} not yet)",
            median=_minutes(fr["median_seconds"]),
            p90=_minutes(fr["p90_seconds"]),
            measured=fr["measured"],
            pending=fr["pending"],
        ),
        t(
            "• Resolution: median {median}, p90 {p90} ({measured} closed, {pending} still open)",
            median=_minutes(res["median_seconds"]),
            p90=_minutes(res["p90_seconds"]),
            measured=res["measured"],
            pending=res["pending"],
        ),
        t(
            "• Backlog now: {open} open, {assigned} assigned · "
            "SLA breaches: {first} first response, {resolution} resolution",
            open=backlog["open"],
            assigned=backlog["assigned"],
            first=sla["first_response"],
            resolution=sla["resolution"],
        ),
        "_" + t("A chart is on its way to your direct messages with Traza.") + "_",
    ]
    return "\n".join(lines)


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
            raise InvalidInput(t("Write the note after the conversation number: `/traza note 1042 text…`"))
        return await self.control.note(ref, user, text)

    async def open_ref_for_phone(self, phone: str) -> int | None:
        digits = normalize_phone(phone)
        if digits is None:
            raise InvalidInput(
                t("{phone} is not a phone number (use +country and number).", phone=repr(phone))
            )
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
                    return t("There is no conversation #{ref} you can see.", ref=ref)
                entries = await search.timeline(conn, int(ref))
                rows = await search.history_for_ref(conn, int(ref))
            else:
                if normalize_phone(target) is None:
                    raise InvalidInput(
                        t("{phone} is not a phone number (use +country and number).", phone=repr(target))
                    )
                entries, rows = [], await search.contact_history(conn, target)
        if ref is not None and not entries and not rows:
            return t("There is no conversation #{ref}.", ref=ref)
        lines = []
        if entries:
            lines.append(t("*Timeline of #{ref}* (oldest first):", ref=ref))
            lines += [f"• {e.at:%Y-%m-%d %H:%M} {e.summary}" for e in entries[-30:]]
        others = [r for r in rows if (ref is None or r.ref != ref)]
        hidden = [r for r in others if teams is not None and r.team_id not in teams]
        others = [r for r in others if r not in hidden]
        if others or ref is None:
            who = target if ref is None else t("this customer")
            lines.append(
                t("*Conversations with {who}* (most recent first):", who=who)
                if others
                else t("No conversations with {who}.", who=target)
            )
            lines += [self._history_line(r) for r in others]
        if hidden:
            lines.append(
                t(
                    "_{count} more conversation(s) with this customer belong to teams you are not in._",
                    count=len(hidden),
                )
            )
        return "\n".join(lines)

    def _history_line(self, row: search.HistoryRow) -> str:
        team = self.config.team(row.team_id)
        holder = f"<@{row.assignee}>" if row.assignee else t("unassigned")
        closed = f" → {row.closed_at:%Y-%m-%d}" if row.closed_at else ""
        link = archive_link(row.slack_channel, row.slack_thread_ts)
        return (
            f"• <{link}|#{row.ref}> · {team.name if team else row.team_id} · {holder} · {t(row.state)} · "
            f"{row.opened_at:%Y-%m-%d}{closed} · " + t("{count} message(s)", count=row.messages)
        )

    async def search(self, user: str, words: str) -> str:
        teams = visible_teams(self.config, user)
        async with self.engine.connect() as conn:
            hits = await search.search_messages(conn, words, team_ids=teams, limit=15)
        if not hits:
            return t("No messages match “{words}” in the conversations you can see.", words=words)
        lines = [t("*{count} best match(es) for “{words}”:*", count=len(hits), words=words)]
        for hit in hits:
            who = (
                t("customer")
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
            known = ", ".join(each.id for each in self.config.teams)
            raise InvalidInput(t("Unknown team {team}. Teams: {known}.", team=repr(team), known=known))
        now = self.clock()
        since = midnight(now) - timedelta(days=PERIOD_DAYS[period] - 1)
        async with self.engine.begin() as conn:
            m = await reports.metrics(
                conn, since=since, until=now, team=team, hours=self.config.business_hours()
            )
            payload = {"user": user, "team": team, "period": period, "channel": channel}
            await jobs.enqueue(
                conn,
                f"chart:{user}",
                "stats_chart",
                {**payload, "since": since.isoformat(), "until": now.isoformat()},
                now,
            )
        chosen = self.config.team(team) if team else None
        return stats_summary(m, chosen.name if chosen else t("all teams"), period, since)

    async def start(self, user: str, target: str, template: str | None, params: list[str]) -> str:
        return await start_conversation(self.engine, self.config, self.clock, user, target, template, params)

    async def tag(self, ref: int, user: str, changes: list[str]) -> str:
        return await labels.tag(self.engine, self.config, self.clock, ref, user, changes)

    async def set_away(self, user: str, away: bool) -> str:
        return await record_away(self.engine, self.config, user, away, self.clock())

    async def send_canned(self, ref: int, user: str, canned_id: str) -> str:
        return await send_canned(self.engine, self.config, self.clock, ref, user, canned_id)

    async def canned_choices(self, ref: int) -> list[tuple[str, str, str]]:
        """``(id, title, text)`` of the canned replies offered on conversation ``ref``."""
        view = await self.control.view(ref)
        return [(c.id, c.title, c.text) for c in self.config.canned_for(view.team_id)]
