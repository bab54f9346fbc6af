"""Read models for the integrations API: conversation lists and detail, timelines, and metrics.

Plain SQLAlchemy Core that runs unchanged on SQLite and PostgreSQL. Pages are keyset-paginated: a
cursor is the last key of the previous page, never an offset. The metrics live in store/metrics.py
(re-exported here: ``metrics``, ``summarize``, ``percentile``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.contacts import display_phone
from bridge.teamtools import decode_labels
from store.conversations import view_query
from store.metrics import Row, decode_payload, is_agent_response, metric_rows, metrics, percentile, summarize
from store.tables import conversations, events

__all__ = [
    "conversation_detail",
    "is_agent_response",
    "list_conversations",
    "metric_rows",
    "metrics",
    "percentile",
    "summarize",
    "timeline",
]


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
            "payload": decode_payload(r["payload"]),
        }
        for r in rows[:limit]
    ]
    return items, (int(rows[limit - 1]["seq"]) if len(rows) > limit else None)
