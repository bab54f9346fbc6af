"""Assignment inside a team: who gets a new conversation, and when an unanswered one goes back.

A pure policy (no I/O). Each team's ``assignment`` block in ``traza.yml`` picks a mode:

- ``manual`` (the default): nobody is picked; agents claim (``/claim``, the card's button, or the
  first reply in the thread).
- ``round_robin``: the members take turns in a fixed order (their user ids, sorted), starting after
  the last agent the team picked; away agents and agents at ``capacity`` (when set) are passed over.
- ``least_loaded``: the member holding the fewest open conversations (ties: the one picked least
  recently, then the user id), never above ``capacity`` (default 5).

Away agents (``/traza away``, or Slack presence ``away`` when ``use_presence``) are never picked.
``return_after_minutes`` (any mode; unset = never) sends an assigned conversation whose customer has
waited that long without an answer from its holder back to the team's queue.

Every decision, including "nobody could take it", comes back as an ``AssignmentDecision`` with the
mode, the candidates, their loads, who was away and why the winner won, for the event log.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

DEFAULT_CAPACITY = 5


class AssignmentMode(enum.StrEnum):
    MANUAL = "manual"
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"


@dataclass(frozen=True, slots=True)
class AssignmentPolicy:
    mode: AssignmentMode = AssignmentMode.MANUAL
    capacity: int | None = None
    """Most open conversations one agent holds before being passed over (``None``: no limit)."""
    return_after_minutes: float | None = None
    use_presence: bool = True

    @property
    def automatic(self) -> bool:
        return self.mode is not AssignmentMode.MANUAL

    def return_after(self) -> timedelta | None:
        return timedelta(minutes=self.return_after_minutes) if self.return_after_minutes else None


MANUAL = AssignmentPolicy()


@dataclass(frozen=True, slots=True)
class AssignmentDecision:
    agent: str | None
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def choose(
    policy: AssignmentPolicy,
    members: Sequence[str],
    loads: Mapping[str, int],
    away: set[str],
    last_agent: str | None,
    exclude: set[str] | None = None,
) -> AssignmentDecision:
    """Pick one of ``members`` for a new conversation, or nobody, with the reason."""
    ordered = sorted(set(members))
    skipped = set(exclude or ())
    capacity = policy.capacity
    details: dict[str, Any] = {
        "mode": str(policy.mode),
        "candidates": ordered,
        "loads": {m: loads.get(m, 0) for m in ordered},
        "away": sorted(away & set(ordered)),
        "capacity": capacity,
    }
    if skipped:
        details["excluded"] = sorted(skipped)
    if policy.mode is AssignmentMode.MANUAL:
        return AssignmentDecision(None, "manual: agents claim", details)
    if not ordered:
        return AssignmentDecision(None, "the team lists no members", details)
    free = [
        m
        for m in ordered
        if m not in away and m not in skipped and (capacity is None or loads.get(m, 0) < capacity)
    ]
    if not free:
        why = "every member is away, excluded or at capacity"
        return AssignmentDecision(None, why + " — the conversation waits in the queue", details)
    if policy.mode is AssignmentMode.ROUND_ROBIN:
        start = ordered.index(last_agent) + 1 if last_agent in ordered else 0
        rotation = ordered[start:] + ordered[:start]
        agent = next(m for m in rotation if m in free)
        details["after"] = last_agent
        return AssignmentDecision(agent, f"round robin: next after {last_agent or 'the start'}", details)
    rotation = _rotation_after(ordered, last_agent)
    agent = min(free, key=lambda m: (loads.get(m, 0), rotation.index(m)))
    return AssignmentDecision(agent, f"least loaded: holds {loads.get(agent, 0)}", details)


def _rotation_after(ordered: list[str], last_agent: str | None) -> list[str]:
    """Tie-break order: the member after the last one picked comes first (so ties rotate)."""
    start = ordered.index(last_agent) + 1 if last_agent in ordered else 0
    return ordered[start:] + ordered[:start]


def unanswered_for(
    policy: AssignmentPolicy,
    now: datetime,
    assigned_at: datetime | None,
    last_customer_at: datetime | None,
    last_agent_at: datetime | None,
) -> timedelta | None:
    """How long the holder has left the customer waiting, when that is past the return time."""
    limit = policy.return_after()
    if limit is None or last_customer_at is None:
        return None
    if last_agent_at is not None and last_agent_at >= last_customer_at:
        return None
    since = max(last_customer_at, assigned_at) if assigned_at else last_customer_at
    waited = now - since
    return waited if waited >= limit else None


def parse_policy(raw: object, path: str, fail: Callable[[str, str], None]) -> AssignmentPolicy:
    """``teams[].assignment`` → policy; every problem is reported through ``fail(path, message)``."""
    if raw is None:
        return MANUAL
    if not isinstance(raw, Mapping):
        fail(path, "must be a mapping with mode (manual, round_robin or least_loaded)")
        return MANUAL
    try:
        mode = AssignmentMode(str(raw.get("mode", "manual")))
    except ValueError:
        fail(f"{path}.mode", f"must be manual, round_robin or least_loaded, got {raw.get('mode')!r}")
        mode = AssignmentMode.MANUAL
    capacity = raw.get("capacity", DEFAULT_CAPACITY if mode is AssignmentMode.LEAST_LOADED else None)
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
        fail(f"{path}.capacity", "must be a whole number ≥ 1")
        capacity = None
    back = raw.get("return_after_minutes")
    if back is not None and (isinstance(back, bool) or not isinstance(back, (int, float)) or back <= 0):
        fail(f"{path}.return_after_minutes", "must be a number of minutes > 0")
        back = None
    presence = raw.get("use_presence", True)
    if not isinstance(presence, bool):
        fail(f"{path}.use_presence", "must be true or false")
        presence = True
    return AssignmentPolicy(mode, capacity, float(back) if back is not None else None, presence)
