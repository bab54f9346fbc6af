"""Read-side look-ups for Slack commands and the API: message search, contact history, timelines.

``search_messages`` is full-text search over message bodies: on PostgreSQL the stored generated
column ``message_links.body_tsv`` = ``to_tsvector('simple', traza_fold(coalesce(body, '')))`` with
its GIN index (migration 0004; ranking reads the stored vector instead of re-parsing each matching
body, which made a common word cost a second over a million messages); on SQLite the FTS5 table
``message_search`` (migration 0002). An erased body is NULL, so neither index finds it any more.
On PostgreSQL the ranking looks at the newest ``RANK_WINDOW`` matches only: a word in one message of
eight has 125,000 matches in a million messages, and ranking them all costs a second; the newest
thousand are found by walking the primary key backwards (the GIN index serves rarer words) and
what an agent searches for is nearly always recent.
Both fold accents and case, so "cotizacion" finds "cotización". The user's words only ever travel
as bound parameters: PostgreSQL gets them through ``plainto_tsquery`` (every word ANDed, operators
ignored), SQLite as a MATCH expression of double-quoted phrases, one per whitespace-separated word.

``contact_history`` and ``history_for_ref`` list a customer's conversations across teams and
business numbers; ``timeline`` turns a conversation's events into short human lines.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Integer, MetaData, Select, Table, Text, func, literal_column
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.contacts import normalize_phone, phone_variants
from bridge.i18n import t
from store.tables import contacts, conversations, events, message_links

MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 12
SUMMARY_CHARS = 120
RANK_WINDOW = 1000  # PostgreSQL ranks the newest this-many matches (see the module docstring)
_WORDISH = re.compile(r"[^\W_]")

# The SQLite FTS5 table of migration 0002 (kept out of the schema metadata: it is not a real table).
message_search = Table("message_search", MetaData(), Column("rowid", Integer), Column("body", Text))
# Not in the table metadata: the column exists on PostgreSQL only (SQLite searches through FTS5).
_PG_DOCUMENT: ColumnElement[Any] = literal_column("message_links.body_tsv")


@dataclass(frozen=True)
class SearchHit:
    ref: int
    conversation_id: int
    team_id: str
    state: str
    direction: str
    author: str | None
    body: str
    sent_at: datetime
    slack_channel: str
    slack_ts: str | None
    thread_ts: str | None
    rank: float


@dataclass(frozen=True)
class HistoryRow:
    ref: int
    conversation_id: int
    team_id: str
    state: str
    assignee: str | None
    opened_at: datetime
    closed_at: datetime | None
    phone_number_id: str
    slack_channel: str
    slack_thread_ts: str | None
    messages: int


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    type: str
    actor: str | None
    summary: str


def search_words(words: str) -> list[str]:
    """The usable words of a query: whitespace-separated, each with a letter or digit, capped."""
    found = [w for w in words[:MAX_QUERY_CHARS].split() if _WORDISH.search(w)]
    return found[:MAX_QUERY_WORDS]


def fts5_match(words: list[str]) -> str:
    """An FTS5 MATCH expression: each word a quoted phrase (so no operator survives), ANDed."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def search_statement(
    dialect: str, words: str, *, team_ids: set[str] | None, limit: int = 20
) -> Select[Any] | None:
    """The search query for ``dialect`` ("postgresql" or "sqlite"); ``None`` when nothing to find."""
    found = search_words(words)
    if not found or limit <= 0 or (team_ids is not None and not team_ids):
        return None
    if dialect == "postgresql":
        query = func.plainto_tsquery(literal_column("'simple'::regconfig"), func.traza_fold(" ".join(found)))
        rank: ColumnElement[Any] = func.ts_rank(_PG_DOCUMENT, query)
        newest = sa_select(message_links.c.id).where(_PG_DOCUMENT.bool_op("@@")(query))
        if team_ids is not None:
            newest = newest.join(conversations, conversations.c.id == message_links.c.conversation_id)
        newest = newest.where(*_teams(team_ids)).order_by(message_links.c.id.desc()).limit(RANK_WINDOW)
        stmt = _hit_columns(rank).where(message_links.c.id.in_(newest))
    else:
        rank = -func.bm25(literal_column("message_search"))
        stmt = _hit_columns(rank).join(message_search, message_search.c.rowid == message_links.c.id)
        stmt = stmt.where(literal_column("message_search").bool_op("MATCH")(fts5_match(found)))
    stmt = stmt.where(*_teams(team_ids))
    return stmt.order_by(rank.desc(), message_links.c.sent_at.desc(), message_links.c.id.desc()).limit(limit)


def _teams(team_ids: set[str] | None) -> list[ColumnElement[bool]]:
    return [] if team_ids is None else [conversations.c.team_id.in_(sorted(team_ids))]


def _hit_columns(rank: ColumnElement[Any]) -> Select[Any]:
    return sa_select(
        conversations.c.ref,
        conversations.c.id.label("conversation_id"),
        conversations.c.team_id,
        conversations.c.state,
        message_links.c.direction,
        message_links.c.author,
        message_links.c.body,
        message_links.c.sent_at,
        func.coalesce(message_links.c.slack_channel, conversations.c.slack_channel).label("slack_channel"),
        message_links.c.slack_ts,
        conversations.c.slack_thread_ts.label("thread_ts"),
        rank.label("rank"),
    ).select_from(message_links.join(conversations, conversations.c.id == message_links.c.conversation_id))


async def search_messages(
    conn: AsyncConnection, words: str, *, team_ids: set[str] | None, limit: int = 20
) -> list[SearchHit]:
    """Messages matching every word, most relevant first, then most recent.

    ``team_ids=None`` searches every team (admins); otherwise only those teams' conversations.
    Empty or punctuation-only input finds nothing.
    """
    stmt = search_statement(conn.dialect.name, words, team_ids=team_ids, limit=limit)
    if stmt is None:
        return []
    rows = (await conn.execute(stmt)).mappings().all()
    return [
        SearchHit(**{**row, "body": row["body"] or "", "rank": float(row["rank"] or 0.0)}) for row in rows
    ]


def _history_select(limit: int) -> Select[Any]:
    messages = (
        sa_select(func.count())
        .select_from(message_links)
        .where(message_links.c.conversation_id == conversations.c.id, message_links.c.direction != "note")
        .scalar_subquery()
    )
    return (
        sa_select(
            conversations.c.ref,
            conversations.c.id.label("conversation_id"),
            conversations.c.team_id,
            conversations.c.state,
            conversations.c.assignee,
            conversations.c.opened_at,
            conversations.c.closed_at,
            conversations.c.phone_number_id,
            conversations.c.slack_channel,
            conversations.c.slack_thread_ts,
            messages.label("messages"),
        )
        .order_by(conversations.c.opened_at.desc(), conversations.c.id.desc())
        .limit(limit)
    )


async def _history(conn: AsyncConnection, stmt: Select[Any]) -> list[HistoryRow]:
    return [HistoryRow(**row) for row in (await conn.execute(stmt)).mappings().all()]


async def contact_history(conn: AsyncConnection, phone_text: str, *, limit: int = 25) -> list[HistoryRow]:
    """Every conversation with the customer whose phone this is, across teams and numbers, newest first.

    The phone may be typed in any usual form ("+52 1 55 1234 5678"); the mobile-prefix variants of
    ``bridge.contacts.phone_variants`` are tried too. Unreadable phone text finds nothing.
    """
    digits = normalize_phone(phone_text)
    if digits is None:
        return []
    people = sa_select(contacts.c.id).where(contacts.c.wa_id.in_(sorted(phone_variants(digits))))
    return await _history(conn, _history_select(limit).where(conversations.c.contact_id.in_(people)))


async def history_for_ref(conn: AsyncConnection, ref: int, *, limit: int = 25) -> list[HistoryRow]:
    """Every conversation of the customer of conversation ``ref`` (itself included), newest first."""
    person = sa_select(conversations.c.contact_id).where(conversations.c.ref == ref).scalar_subquery()
    return await _history(conn, _history_select(limit).where(conversations.c.contact_id == person))


async def timeline(conn: AsyncConnection, ref: int, limit: int = 50) -> list[TimelineEntry]:
    """The latest ``limit`` events of conversation ``ref``, oldest first, one human line each."""
    conversation = sa_select(conversations.c.id).where(conversations.c.ref == ref).scalar_subquery()
    stmt = (
        sa_select(events.c.occurred_at, events.c.type, events.c.actor, events.c.payload)
        .where(events.c.conversation_id == conversation)
        .order_by(events.c.seq.desc())
        .limit(limit)
    )
    rows = (await conn.execute(stmt)).all()
    return [
        TimelineEntry(row.occurred_at, row.type, row.actor, summarize(row.type, row.actor, row.payload))
        for row in reversed(rows)
    ]


def summarize(event_type: str, actor: str | None, payload_json: str) -> str:
    """A short line for one event: the message text for messages, who/where for state changes."""
    payload = _load(payload_json)
    text = t("[erased]") if isinstance(payload.get("erased"), dict) else _clip(payload.get("text"))
    who = f"<@{actor}>" if actor else t("someone")
    match event_type:
        case "CustomerMessageReceived":
            return text or f"[{payload.get('kind') or t('message')}]"
        case "ReplyReceived" | "ReplySent":
            return text or (t("reply received") if event_type == "ReplyReceived" else t("reply sent"))
        case "NoteAdded":
            return t("note: {text}", text=text)
        case "ConversationClaimed":
            return t("claimed by {who}", who=who)
        case "ConversationTransferred":
            target = payload.get("to_team") or payload.get("to_agent") or "?"
            return _with_reason(t("transferred to {target}", target=target), payload)
        case "ConversationClosed":
            return _with_reason(t("closed"), payload)
        case "ConversationReopened":
            return t("reopened by {who}", who=who)
        case "ConversationRouted":
            rule = str(payload.get("rule") or "?") + (f" ({payload['name']})" if payload.get("name") else "")
            why = _clip(payload.get("detail") or payload.get("reason"))
            return t("routed to {team} by {rule}: {why}", team=payload.get("team") or "?", rule=rule, why=why)
        case "MenuOffered":
            options = ", ".join(f"{o.get('number')} {o.get('title')}" for o in payload.get("options") or [])
            return t("routing menu sent to the customer: {options}", options=options)
        case "AutomaticMessageSent":
            return t("automatic message sent to the customer")
        case "ConversationAssigned":
            return t(
                "assigned to <@{agent}> ({reason})",
                agent=payload.get("assignee"),
                reason=payload.get("reason", ""),
            )
        case "AssignmentDeferred":
            return t("not assigned: {reason}", reason=payload.get("reason", ""))
        case "ConversationReturned":
            return t(
                "back to the queue: <@{agent}> did not answer in time", agent=payload.get("previous_assignee")
            )
        case "LabelsChanged":
            return t("labels: {labels}", labels=" ".join(payload.get("labels") or []) or t("none"))
        case "CsatRequested":
            if payload.get("sent"):
                return t("CSAT question sent")
            return t("CSAT not sent: {reason}", reason=payload.get("reason"))
        case "CsatAnswered":
            return t("CSAT answer: {score}/{top}", score=payload.get("score"), top=payload.get("top"))
        case "SlaBreached":
            if payload.get("target") == "resolution":
                return t("SLA resolution target missed")
            return t("SLA first response target missed")
    return event_type


def _with_reason(line: str, payload: dict[str, Any]) -> str:
    reason = _clip(payload.get("reason"))
    return f"{line}: {reason}" if reason else line


def _clip(value: object) -> str:
    if not isinstance(value, str):
        return ""
    flat = " ".join(value.split())
    return flat if len(flat) <= SUMMARY_CHARS else flat[: SUMMARY_CHARS - 1].rstrip() + "…"


def _load(payload_json: str) -> dict[str, Any]:
    try:
        payload = json.loads(payload_json)
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
