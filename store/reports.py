"""Read models for the integrations API: conversation lists and detail, timelines, and metrics.

Plain SQLAlchemy Core that runs unchanged on SQLite and PostgreSQL. Metrics are computed from the
event log only (the backlog too, by replaying state events up to ``until``) and percentiles in Python,
so both databases give the same numbers. ``docs/metrics.md`` is the published definition of each one.
Pages are keyset-paginated: a cursor is the last key of the previous page, never an offset.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.contacts import display_phone
from bridge.domain import EventType
from bridge.teamtools import decode_labels
from store.conversations import view_query
from store.flow_metrics import Flow
from store.satisfaction import CSAT_EVENTS, csat_summary
from store.tables import conversations, events

Row = Mapping[Any, Any]
STATE_EVENTS = frozenset(
    {
        EventType.CONVERSATION_OPENED,
        EventType.CONVERSATION_CLAIMED,
        EventType.CONVERSATION_TRANSFERRED,
        EventType.CONVERSATION_CLOSED,
        EventType.CONVERSATION_REOPENED,
        EventType.CONVERSATION_ASSIGNED,
        EventType.CONVERSATION_RETURNED,
        EventType.CONVERSATION_ROUTED,
    }
)
METRIC_EVENTS = STATE_EVENTS | CSAT_EVENTS | {EventType.CUSTOMER_MESSAGE_RECEIVED, EventType.REPLY_RECEIVED}
PER_TEAM = ("conversations_opened", "customer_messages", "agent_replies")
COUNTED = (*PER_TEAM, "conversations_closed", "conversations_reopened", "transfers")
_METRIC_COLUMNS = (
    "seq",
    "occurred_at",
    "type",
    "conversation_id",
    "actor",
    "team_id",
    "phone_number_id",
    "payload",
)
NOT_AGENTS = frozenset({"traza", "whatsapp", "bot", "system"})
NOT_AGENT_PREFIXES = ("contact:", "bot:", "system:")


def _summary(r: Row) -> dict[str, Any]:
    phone = display_phone(r["wa_id"])
    return {
        "ref": r["ref"],
        "state": r["state"],
        "team": r["team_id"],
        "assignee": r["assignee"],
        "contact_name": r["profile_name"] or r["username"] or phone or r["user_id"] or "WhatsApp customer",
        "contact_phone": phone or None,
        "opened_at": r["opened_at"],
        "closed_at": r["closed_at"],
        "last_customer_message_at": r["last_customer_message_at"],
        "first_response_at": r["first_response_at"],
        "labels": list(decode_labels(r["labels"])),
    }


async def list_conversations(
    conn: AsyncConnection,
    *,
    team: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: int | None = None,
    limit: int = 50,
    label: str | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Conversations newest first (opened in ``[since, until)``) and the cursor of the next page."""
    c = conversations.c
    conditions = [c.team_id == team] if team is not None else []
    conditions += [c.labels.contains(f",{label},", autoescape=True)] if label is not None else []
    conditions += [c.state == state] if state is not None else []
    conditions += [c.opened_at >= since] if since is not None else []
    conditions += [c.opened_at < until] if until is not None else []
    conditions += [c.id < cursor] if cursor is not None else []
    query = view_query().where(*conditions).order_by(c.id.desc()).limit(limit + 1)
    rows = (await conn.execute(query)).mappings().all()
    next_cursor = int(rows[limit - 1]["id"]) if len(rows) > limit else None
    return [_summary(r) for r in rows[:limit]], next_cursor


async def conversation_detail(conn: AsyncConnection, ref: int) -> dict[str, Any] | None:
    """Everything an integration may read about one conversation, or ``None`` for an unknown ref."""
    row = (await conn.execute(view_query().where(conversations.c.ref == ref))).mappings().first()
    if row is None:
        return None
    detail = _summary(row)
    detail.update(
        phone_number_id=row["phone_number_id"],
        business_number=display_phone(row["display_phone_number"]) or row["phone_number_id"],
        window_ends_at=row["window_ends_at"],
        last_agent_message_at=row["last_agent_message_at"],
        closed_by=row["closed_by"],
        close_reason=row["close_reason"],
        slack_channel=row["slack_channel"],
        slack_thread_ts=row["slack_thread_ts"],
        routing_rule=row["routing_rule"],
    )
    return detail


def _decode(payload: str) -> dict[str, Any] | None:
    """An event's payload; ``None`` when its body was erased (retention) or is not a JSON object."""
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def timeline(
    conn: AsyncConnection, ref: int, *, cursor: int | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], int | None]:
    """One conversation's events in log order (``seq``) and the cursor (last ``seq``) of the next page."""
    query = select(events).where(events.c.ref == ref).order_by(events.c.seq).limit(limit + 1)
    if cursor is not None:
        query = query.where(events.c.seq > cursor)
    rows = (await conn.execute(query)).mappings().all()
    items = [
        {
            "seq": r["seq"],
            "type": r["type"],
            "at": r["occurred_at"],
            "actor": r["actor"],
            "team": r["team_id"],
            "payload": _decode(r["payload"]),
        }
        for r in rows[:limit]
    ]
    return items, (int(rows[limit - 1]["seq"]) if len(rows) > limit else None)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0-100) by linear interpolation between closest ranks; ``None`` if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def is_agent_response(row: Row) -> bool:
    """A ``ReplyReceived`` by a person: not by Traza, the bot, a contact, nor marked automatic."""
    actor = row["actor"]
    if not actor or actor in NOT_AGENTS or actor.startswith(NOT_AGENT_PREFIXES):
        return False
    payload = _decode(row["payload"]) or {}
    return not (payload.get("automatic") or payload.get("bot"))


@dataclass
class _Tally:
    """Running totals while the event rows stream past, in log order."""

    team: str | None
    counts: Counter[str] = field(default_factory=Counter)
    opened: dict[int, tuple[datetime, str | None]] = field(default_factory=dict)
    first_response: dict[int, float] = field(default_factory=dict)
    resolution: dict[int, float] = field(default_factory=dict)
    per_team: dict[str, Counter[str]] = field(default_factory=dict)
    per_agent: dict[str, list[int]] = field(default_factory=dict)
    state: dict[int, tuple[str, str | None, str | None]] = field(default_factory=dict)

    def mine(self, team: str | None) -> bool:
        return self.team is None or team == self.team

    def count(self, row: Row, name: str) -> None:
        if self.mine(row["team_id"]):
            self.counts[name] += 1
        if row["team_id"] is not None:
            self.per_team.setdefault(row["team_id"], Counter())[name] += 1


def _track_state(tally: _Tally, row: Row) -> None:
    """Replay a conversation's state, team and assignee; the last state event before ``until`` decides."""
    kind, conv = row["type"], row["conversation_id"]
    if conv is None:
        return
    payload = _decode(row["payload"]) or {}
    _, team, assignee = tally.state.get(conv, ("open", row["team_id"], None))
    if kind == EventType.CONVERSATION_OPENED:
        team, assignee = row["team_id"], None
    elif kind == EventType.CONVERSATION_CLAIMED:
        assignee = payload.get("assignee") or row["actor"]
    elif kind == EventType.CONVERSATION_ASSIGNED:
        assignee = payload.get("assignee") or assignee
    elif kind == EventType.CONVERSATION_RETURNED:
        assignee = None
    elif kind == EventType.CONVERSATION_TRANSFERRED:
        team = payload.get("to_team") or row["team_id"]
        assignee = payload.get("to_agent") or payload.get("assignee")
    elif kind == EventType.CONVERSATION_REOPENED:
        assignee = payload.get("assignee") or assignee
    elif kind == EventType.CONVERSATION_ROUTED:
        team = row["team_id"] or team
    state = "closed" if kind == EventType.CONVERSATION_CLOSED else ("assigned" if assignee else "open")
    tally.state[conv] = (state, team, assignee)


def _observe(tally: _Tally, row: Row) -> None:
    kind, conv, at = row["type"], row["conversation_id"], row["occurred_at"]
    if kind == EventType.CONVERSATION_OPENED and conv is not None:
        tally.opened[conv] = (at, row["team_id"])
        tally.count(row, "conversations_opened")
    elif kind == EventType.CONVERSATION_CLOSED:
        tally.count(row, "conversations_closed")
        if conv in tally.opened and conv not in tally.resolution:
            tally.resolution[conv] = (at - tally.opened[conv][0]).total_seconds()
    elif kind == EventType.CONVERSATION_REOPENED:
        tally.count(row, "conversations_reopened")
    elif kind == EventType.CONVERSATION_ROUTED and conv in tally.opened and tally.opened[conv][1] is None:
        # Held for a routing menu, the conversation opened without a team: it counts for the one chosen.
        tally.opened[conv] = (tally.opened[conv][0], row["team_id"])
        if row["team_id"] is not None:
            tally.per_team.setdefault(row["team_id"], Counter())["conversations_opened"] += 1
            if tally.team is not None and tally.mine(row["team_id"]):
                tally.counts["conversations_opened"] += 1
    elif kind == EventType.CONVERSATION_TRANSFERRED:
        tally.count(row, "transfers")
    elif kind == EventType.CUSTOMER_MESSAGE_RECEIVED:
        tally.count(row, "customer_messages")
    elif kind == EventType.REPLY_RECEIVED and is_agent_response(row):
        tally.count(row, "agent_replies")
        if conv in tally.opened and conv not in tally.first_response:
            tally.first_response[conv] = (at - tally.opened[conv][0]).total_seconds()
        if tally.mine(row["team_id"]):
            tally.per_agent.setdefault(row["actor"], []).append(conv)


def _durations(tally: _Tally, measured: dict[int, float]) -> dict[str, Any]:
    cohort = [conv for conv, (_, team) in tally.opened.items() if tally.mine(team)]
    values = [measured[conv] for conv in cohort if conv in measured]
    return {
        "conversations": len(cohort),
        "measured": len(values),
        "pending": len(cohort) - len(values),
        "median_seconds": percentile(values, 50),
        "p90_seconds": percentile(values, 90),
    }


def summarize(
    rows: Sequence[Row], *, since: datetime | None, until: datetime, team: str | None = None
) -> dict[str, Any]:
    """Metrics over event rows in ``seq`` order (pure: the unit tests feed it hand-built events)."""
    tally = _Tally(team)
    flow = Flow(team, since, until)
    for row in rows:
        if row["occurred_at"] >= until:
            continue
        if row["type"] in STATE_EVENTS:
            _track_state(tally, row)
        flow.observe(row)
        if since is None or row["occurred_at"] >= since:
            _observe(tally, row)
    backlog = Counter(s for s, t, _ in tally.state.values() if s != "closed" and tally.mine(t))
    return {
        "since": since,
        "until": until,
        "team": team,
        "timezone": "UTC",
        **{name: tally.counts[name] for name in COUNTED},
        "first_response": _durations(tally, tally.first_response),
        "resolution": _durations(tally, tally.resolution),
        "per_team": [
            {"team": t, **{n: c[n] for n in PER_TEAM}}
            for t, c in sorted(tally.per_team.items())
            if tally.mine(t)
        ],
        "per_agent": [
            {"agent": a, "replies": len(convs), "conversations": len(set(convs))}
            for a, convs in sorted(tally.per_agent.items(), key=lambda item: (-len(item[1]), item[0]))
        ],
        "backlog": {"open": backlog["open"], "assigned": backlog["assigned"]},
        **flow.result(),
        "csat": csat_summary(rows, since=since, until=until, team=team),
    }


async def metrics(
    conn: AsyncConnection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    team: str | None = None,
) -> dict[str, Any]:
    """The published metrics (docs/metrics.md) for ``[since, until)``; ``until`` defaults to now."""
    until = until or datetime.now(UTC)
    query = (
        select(*(events.c[name] for name in _METRIC_COLUMNS))
        .where(events.c.type.in_([str(t) for t in METRIC_EVENTS]), events.c.occurred_at < until)
        .order_by(events.c.seq)
    )
    if since is not None:
        query = query.where(
            or_(events.c.occurred_at >= since, events.c.type.in_([str(t) for t in STATE_EVENTS]))
        )
    rows = (await conn.execute(query)).mappings().all()
    return summarize(rows, since=since, until=until, team=team)
