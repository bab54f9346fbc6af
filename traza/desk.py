"""The ``Desk`` the command registry runs against: control moves, lookups and their answers.

Composition-root glue: it combines ``store.control`` (moves), ``store.search`` (history, search,
timeline) and simple report queries, and turns their rows into the short mrkdwn answers agents see.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig
from bridge.contacts import normalize_phone, phone_variants
from bridge.control import visible_teams
from bridge.domain import ConversationState, parse_ref
from bridge.errors import InvalidInput
from bridge.i18n import t
from store import labels, search
from store.away import set_away as record_away
from store.canned import send_canned
from store.control import Control
from store.tables import contacts, conversations
from store.templates import start_conversation

PERIOD_DAYS = {"today": 1, "7d": 7, "30d": 30, "90d": 90}


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

    async def stats(self, user: str, team: str | None, period: str) -> str:
        if team is not None and self.config.team(team) is None:
            known = ", ".join(each.id for each in self.config.teams)
            raise InvalidInput(t("Unknown team {team}. Teams: {known}.", team=repr(team), known=known))
        since = self.clock() - timedelta(days=PERIOD_DAYS[period])
        where = [conversations.c.opened_at >= since]
        if team:
            where.append(conversations.c.team_id == team)
        async with self.engine.connect() as conn:
            opened = await conn.scalar(select(func.count()).where(*where))
            closed = await conn.scalar(select(func.count()).where(*where, conversations.c.state == "closed"))
            open_now = await conn.scalar(
                select(func.count()).where(
                    conversations.c.state != "closed", *([conversations.c.team_id == team] if team else [])
                )
            )
            firsts = (
                await conn.execute(
                    select(conversations.c.opened_at, conversations.c.first_response_at).where(
                        *where, conversations.c.first_response_at.is_not(None)
                    )
                )
            ).all()
        waits = sorted((r.first_response_at - r.opened_at).total_seconds() for r in firsts)
        median = f"{waits[len(waits) // 2] / 60:.1f} min" if waits else "—"
        chosen = self.config.team(team) if team else None
        scope = chosen.name if chosen else t("all teams")
        return t(
            "*Stats for {scope}, last {period}:* {opened} opened · {closed} closed · {open_now} open now · "
            "median first response {median} ({answered} answered)",
            scope=scope,
            period=period,
            opened=opened,
            closed=closed,
            open_now=open_now,
            median=median,
            answered=len(waits),
        )

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
