"""Flow metrics replayed from the event log: where conversations waited, how they moved, and when
and where customers wrote. Published in ``docs/metrics.md`` beside the counts and durations that
``store.reports`` computes; ``reports.summarize`` feeds every row to one ``Flow`` and merges its result.

- *time in state*: seconds each team's conversations spent **open** (in the queue, nobody holds them)
  and **assigned** (an agent holds them) inside ``[since, until)``, from the state events.
- *handoffs*: a transfer, or a claim or automatic assignment that takes a conversation from another
  holder.
- *reopen rate*: distinct conversations reopened over distinct conversations closed in the period.
- *per number* and *per hour*: conversations opened and customer messages by business number, and
  customer messages by hour of the day (UTC).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.domain import EventType
from store.state_replay import advance

Row = Mapping[Any, Any]


@dataclass
class _Where:
    state: str
    team: str | None
    holder: str | None
    since: datetime


@dataclass
class Flow:
    team: str | None
    since: datetime | None
    until: datetime
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    where: dict[int, _Where] = field(default_factory=dict)
    handoffs: int = 0
    closed: set[int] = field(default_factory=set)
    reopened: set[int] = field(default_factory=set)
    per_number: dict[str, Counter[str]] = field(default_factory=dict)
    per_hour: list[int] = field(default_factory=lambda: [0] * 24)

    def _mine(self, team: str | None) -> bool:
        return self.team is None or team == self.team

    def _in_period(self, at: datetime) -> bool:
        return self.since is None or at >= self.since

    def add_messages(self, team: str | None, number: str | None, hour: int, n: int) -> None:
        """Customer messages of the period counted in SQL instead of passed as rows."""
        if self._mine(team):
            self.per_hour[hour % 24] += n
            if number:
                self.per_number.setdefault(str(number), Counter())["customer_messages"] += n

    def observe(self, row: Row) -> None:
        kind, conv, at = row["type"], row["conversation_id"], row["occurred_at"]
        if kind == EventType.CUSTOMER_MESSAGE_RECEIVED:
            if self._in_period(at) and self._mine(row["team_id"]):
                self.per_hour[at.hour] += 1
                self._number(row, "customer_messages")
            return
        if conv is None:
            return
        before = self.where.get(conv)
        payload = _payload(row)
        after = self._next(kind, row, payload, before)
        if after is None:
            return
        if self._in_period(at) and self._mine(after.team if before is None else before.team):
            self._count(kind, conv, row, before, after)
        if before is not None:
            self._spend(before, at)
        self.where[conv] = after

    def _next(self, kind: str, row: Row, payload: dict[str, Any], before: _Where | None) -> _Where | None:
        team, holder = (before.team, before.holder) if before else (row["team_id"], None)
        after = advance(kind, row, payload, team, holder)
        return _Where(*after, row["occurred_at"]) if after is not None else None

    def _count(self, kind: str, conv: int, row: Row, before: _Where | None, after: _Where) -> None:
        if kind == EventType.CONVERSATION_OPENED:
            self._number(row, "conversations_opened")
        elif kind == EventType.CONVERSATION_TRANSFERRED:
            self.handoffs += 1
        elif kind in (EventType.CONVERSATION_CLAIMED, EventType.CONVERSATION_ASSIGNED):
            if before is not None and before.holder and before.holder != after.holder:
                self.handoffs += 1
        elif kind == EventType.CONVERSATION_CLOSED:
            self.closed.add(conv)
        elif kind == EventType.CONVERSATION_REOPENED:
            self.reopened.add(conv)

    def _number(self, row: Row, name: str) -> None:
        number = row.get("phone_number_id")
        if number:
            self.per_number.setdefault(str(number), Counter())[name] += 1

    def _spend(self, where: _Where, until: datetime) -> None:
        if where.state == "closed" or where.team is None or not self._mine(where.team):
            return
        start = max(where.since, self.since) if self.since is not None else where.since
        end = min(until, self.until)
        if end > start:
            key = (where.team, where.state)
            self.seconds[key] = self.seconds.get(key, 0.0) + (end - start).total_seconds()

    def result(self) -> dict[str, Any]:
        for where in self.where.values():
            self._spend(where, self.until)
        self.where.clear()
        return {
            "time_in_state": [
                {"team": team, "state": state, "seconds": round(secs, 3)}
                for (team, state), secs in sorted(self.seconds.items())
            ],
            "handoffs": self.handoffs,
            "reopen_rate": round(len(self.reopened) / len(self.closed), 4) if self.closed else None,
            "per_number": [
                {
                    "phone_number_id": number,
                    "conversations_opened": c["conversations_opened"],
                    "customer_messages": c["customer_messages"],
                }
                for number, c in sorted(self.per_number.items())
            ],
            "per_hour": list(self.per_hour),
        }


def _payload(row: Row) -> dict[str, Any]:
    try:
        value = json.loads(row["payload"])
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
