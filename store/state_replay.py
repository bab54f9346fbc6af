"""One conversation's state, team and holder after a state event: the single replay rule that the
backlog (``store.metrics``) and the flow metrics (``store.flow_metrics``) both follow, so the two can
never disagree on where a conversation was (docs/metrics.md, "Backlog at until")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.domain import EventType

State = tuple[str, str | None, str | None]
"""(``open`` | ``assigned`` | ``closed``, team, holder)."""


def advance(
    kind: str, row: Mapping[Any, Any], payload: Mapping[str, Any], team: str | None, holder: str | None
) -> State | None:
    """The state after event ``kind`` (``row`` its columns, ``payload`` decoded); ``None`` when
    ``kind`` is not a state event."""
    if kind == EventType.CONVERSATION_OPENED:
        team, holder = row["team_id"], None
    elif kind == EventType.CONVERSATION_CLAIMED:
        holder = payload.get("assignee") or row["actor"]
    elif kind == EventType.CONVERSATION_ASSIGNED:
        holder = payload.get("assignee") or holder
    elif kind == EventType.CONVERSATION_RETURNED:
        holder = None
    elif kind == EventType.CONVERSATION_TRANSFERRED:
        team = payload.get("to_team") or row["team_id"]
        holder = payload.get("to_agent") or payload.get("assignee")
    elif kind == EventType.CONVERSATION_REOPENED:
        holder = payload.get("assignee") or holder
    elif kind == EventType.CONVERSATION_ROUTED:
        team = row["team_id"] or team  # a conversation held for the routing menu gets its team now
    elif kind != EventType.CONVERSATION_CLOSED:
        return None
    state = "closed" if kind == EventType.CONVERSATION_CLOSED else ("assigned" if holder else "open")
    return state, team, holder
