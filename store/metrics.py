"""The published metrics (docs/metrics.md), computed from the event log only.

The backlog too comes from the log, by replaying state events up to ``until``; percentiles are
computed in Python, so SQLite and PostgreSQL give the same numbers. ``summarize`` is the pure
definition (the unit tests feed it hand-built events); ``metrics`` feeds it from the database.

Metrics scale with the period, not the history (bench/search_metrics.py: a million messages): the
events of ``[since, until)`` are read through ``ix_events_type_occurred`` (customer messages only
counted, and people's replies grouped per conversation and agent, in SQL); state events before
``since`` are replayed only for the conversations that can still matter — those whose last state
event before ``since`` is not a close (one aggregate over the covering index) and those with state
events in the period. The rest ended closed before the period and change nothing, so the numbers
equal a full replay's (tests/unit/test_reports.py checks both against each other).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.domain import EventType, SlaTarget
from bridge.schedule import BusinessHours
from store.flow_metrics import Flow
from store.satisfaction import CSAT_EVENTS, csat_summary
from store.state_replay import advance
from store.tables import events

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
PERIOD_EVENTS = STATE_EVENTS | CSAT_EVENTS | {EventType.SLA_BREACHED}
METRIC_EVENTS = PERIOD_EVENTS | {EventType.CUSTOMER_MESSAGE_RECEIVED, EventType.REPLY_RECEIVED}
SLA_TARGETS = tuple(target.value for target in SlaTarget)
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
MessageVolume = tuple[str | None, str | None, int, int]
"""Customer messages counted in SQL: (team, business number, hour of the day in UTC, count)."""
NOT_AGENTS = frozenset({"traza", "whatsapp", "bot", "system"})
NOT_AGENT_PREFIXES = ("contact:", "bot:", "system:")


def decode_payload(payload: str | None) -> dict[str, Any] | None:
    """An event's payload; ``None`` when it is missing or not a JSON object."""
    if payload is None:
        return None
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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
    payload = decode_payload(row["payload"]) or {}
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
    sla: Counter[str] = field(default_factory=Counter)

    def mine(self, team: str | None) -> bool:
        return self.team is None or team == self.team

    def count(self, row: Row, name: str) -> None:
        self.add(row["team_id"], name, int(row.get("n", 1)))

    def add(self, team: str | None, name: str, n: int) -> None:
        if self.mine(team):
            self.counts[name] += n
        if team is not None:
            self.per_team.setdefault(team, Counter())[name] += n


_NO_PAYLOAD = frozenset({EventType.CONVERSATION_OPENED, EventType.CONVERSATION_CLOSED})


def _track_state(tally: _Tally, row: Row) -> None:
    """Replay a conversation's state, team and assignee; the last state event before ``until`` decides."""
    kind, conv = row["type"], row["conversation_id"]
    if conv is None:
        return
    # Opened and closed events need no payload: not decoding theirs halves the cost of a replay.
    payload = {} if kind in _NO_PAYLOAD else (decode_payload(row["payload"]) or {})
    _, team, assignee = tally.state.get(conv, ("open", row["team_id"], None))
    after = advance(kind, row, payload, team, assignee)
    if after is not None:
        tally.state[conv] = after


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
    elif kind == EventType.SLA_BREACHED and tally.mine(row["team_id"]):
        target = (decode_payload(row["payload"]) or {}).get("target")
        if target in SLA_TARGETS:
            tally.sla[target] += 1
    elif kind == EventType.REPLY_RECEIVED and is_agent_response(row):
        tally.count(row, "agent_replies")
        if conv in tally.opened and conv not in tally.first_response:
            tally.first_response[conv] = (at - tally.opened[conv][0]).total_seconds()
        if tally.mine(row["team_id"]):  # a row may stand for ``n`` replies (metrics() groups them)
            tally.per_agent.setdefault(row["actor"], []).extend([conv] * int(row.get("n", 1)))


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


def _in_business_time(
    tally: _Tally, measured: dict[int, float], hours: Mapping[str, BusinessHours] | None
) -> dict[int, float]:
    """The same durations counted only while the conversation's team was open (its ``hours``, its
    time zone and holidays); a team without ``hours`` counts every second."""
    if not hours:
        return measured
    timed: dict[int, float] = {}
    for conv, seconds in measured.items():
        opened_at, team = tally.opened[conv]
        schedule = hours.get(team) if team else None
        end = opened_at + timedelta(seconds=seconds)
        timed[conv] = schedule.open_seconds(opened_at, end) if schedule else seconds
    return timed


def summarize(
    rows: Sequence[Row],
    *,
    since: datetime | None,
    until: datetime,
    team: str | None = None,
    message_volume: Sequence[MessageVolume] = (),
    hours: Mapping[str, BusinessHours] | None = None,
) -> dict[str, Any]:
    """Metrics over event rows in ``seq`` order (pure: the unit tests feed it hand-built events).

    ``message_volume`` stands for the period's ``CustomerMessageReceived`` rows when the caller
    counted them in SQL (per team, number and hour) instead of passing them.
    """
    tally = _Tally(team)
    flow = Flow(team, since, until)
    for team_id, number, hour, n in message_volume:
        tally.add(team_id, "customer_messages", n)
        flow.add_messages(team_id, number, hour, n)
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
        "first_response_business": _durations(tally, _in_business_time(tally, tally.first_response, hours)),
        "resolution_business": _durations(tally, _in_business_time(tally, tally.resolution, hours)),
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
        "sla_breaches": {target: tally.sla[target] for target in SLA_TARGETS},
        **flow.result(),
        "csat": csat_summary(rows, since=since, until=until, team=team),
    }


async def metrics(
    conn: AsyncConnection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    team: str | None = None,
    hours: Mapping[str, BusinessHours] | None = None,
) -> dict[str, Any]:
    """The published metrics (docs/metrics.md) for ``[since, until)``; ``until`` defaults to now.
    ``hours`` (each team's business hours, ``TrazaConfig.business_hours()``) adds business-time durations."""
    until = until or datetime.now(UTC)
    e = events.c
    if since is None:  # the whole history: nothing to skip
        rows = await _rows(conn, _event_rows(METRIC_EVENTS).where(e.occurred_at < until))
        return summarize(rows, since=None, until=until, team=team, hours=hours)
    in_period = (e.occurred_at >= since, e.occurred_at < until)
    recent = await _rows(conn, _event_rows(PERIOD_EVENTS).where(*in_period))
    recent += await _replies(conn, since, until)
    opened_in_period = {r["conversation_id"] for r in recent if r["type"] == EventType.CONVERSATION_OPENED}
    touched = {r["conversation_id"] for r in recent if r["type"] in STATE_EVENTS} - opened_in_period
    replay = sorted((await _open_at(conn, since)) | touched - {None})
    earlier: list[Row] = []
    for start in range(0, len(replay), 5000):
        chunk = replay[start : start + 5000]
        query = _event_rows(STATE_EVENTS).where(e.occurred_at < since, e.conversation_id.in_(chunk))
        earlier += await _rows(conn, query)
    rows = sorted([*earlier, *recent], key=lambda r: int(r["seq"]))
    volume = await _message_volume(conn, since, until)
    return summarize(rows, since=since, until=until, team=team, message_volume=volume, hours=hours)


async def metric_rows(
    conn: AsyncConnection, *, since: datetime, until: datetime, kinds: frozenset[EventType]
) -> list[Row]:
    """The events of ``kinds`` in ``[since, until)``, in log order (for per-day figures)."""
    e = events.c
    return await _rows(conn, _event_rows(kinds).where(e.occurred_at >= since, e.occurred_at < until))


async def _message_volume(conn: AsyncConnection, since: datetime, until: datetime) -> list[MessageVolume]:
    """The period's customer messages counted in SQL by team, business number and hour (UTC)."""
    e = events.c
    at = func.timezone("UTC", e.occurred_at) if conn.dialect.name == "postgresql" else e.occurred_at
    hour = func.extract("hour", at).label("hour")
    counted = await conn.execute(
        select(e.team_id, e.phone_number_id, hour, func.count())
        .where(
            e.type == str(EventType.CUSTOMER_MESSAGE_RECEIVED), e.occurred_at >= since, e.occurred_at < until
        )
        .group_by(e.team_id, e.phone_number_id, hour)
    )
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in counted]


async def _replies(conn: AsyncConnection, since: datetime, until: datetime) -> list[Row]:
    """The period's replies by people: one row per conversation, agent and team standing for ``n``
    of them (with the first one's seq and time), plus, one by one, the few whose payload may mark
    them automatic (``is_agent_response`` decides those). Replies by Traza or bots never count."""
    e = events.c
    period = (e.type == str(EventType.REPLY_RECEIVED), e.occurred_at >= since, e.occurred_at < until)
    people = (
        e.actor.is_not(None),
        e.actor.not_in(sorted(NOT_AGENTS)),
        *(e.actor.not_like(prefix + "%") for prefix in NOT_AGENT_PREFIXES),
    )
    grouped = (
        select(
            func.min(e.seq).label("seq"),
            func.min(e.occurred_at).label("occurred_at"),
            e.type,
            e.conversation_id,
            e.actor,
            e.team_id,
            func.count().label("n"),
        )
        .where(*period, *people, ~_flagged())
        .group_by(e.type, e.conversation_id, e.actor, e.team_id)
    )
    rows = [{**r, "payload": "{}"} for r in (await conn.execute(grouped)).mappings().all()]
    flagged = select(*(e[name] for name in _METRIC_COLUMNS)).where(*period, *people, _flagged())
    return rows + list((await conn.execute(flagged)).mappings().all())


def _flagged() -> ColumnElement[bool]:
    """Payloads that may mark a reply automatic (false positives are re-checked in Python)."""
    return events.c.payload.like('%"automatic":%') | events.c.payload.like('%"bot":%')


def _event_rows(types: frozenset[EventType]) -> Select[Any]:
    """Metric columns of events of ``types``; a reply's payload only when it may flag it automatic
    (the common case parses as ``{}``, which keeps a month of replies cheap to read)."""
    e = events.c
    payload = case(
        (e.type == str(EventType.REPLY_RECEIVED), case((_flagged(), e.payload), else_="{}")),
        (e.type.in_(sorted(str(t) for t in _NO_PAYLOAD)), "{}"),
        (e.type == str(EventType.CUSTOMER_MESSAGE_RECEIVED), "{}"),
        else_=e.payload,
    )
    columns = [e[name] for name in _METRIC_COLUMNS if name != "payload"]
    return select(*columns, payload.label("payload")).where(e.type.in_(sorted(str(t) for t in types)))


async def _rows(conn: AsyncConnection, query: Select[Any]) -> list[Row]:
    return list((await conn.execute(query.order_by(events.c.seq))).mappings().all())


async def _open_at(conn: AsyncConnection, since: datetime) -> set[int]:
    """Conversations whose last state event before ``since`` is not a close (one pass, no join)."""
    e = events.c
    closes = func.max(case((e.type == str(EventType.CONVERSATION_CLOSED), e.seq), else_=0))
    query = (
        select(e.conversation_id)
        .where(
            e.type.in_(sorted(str(t) for t in STATE_EVENTS)),
            e.occurred_at < since,
            e.conversation_id.is_not(None),
        )
        .group_by(e.conversation_id)
        .having(func.max(e.seq) > closes)
    )
    return {int(c) for c in (await conn.execute(query)).scalars()}
