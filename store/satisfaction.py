"""The CSAT figures of the metrics (``docs/metrics.md``), computed from the event log only.

``asked`` counts ``CsatRequested`` events that sent the question in the period; ``answered`` those of
them whose conversation got a ``CsatAnswered`` before ``until``; ``response_rate`` is their ratio.
``average`` is the mean score of the answers given in the period (a customer who answers twice
counts once, with the last answer); ``by_score`` counts those answers by score. With ``team=`` the
team the events carry (the team that closed the conversation) decides.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bridge.domain import EventType

CSAT_EVENTS = frozenset({EventType.CSAT_REQUESTED, EventType.CSAT_ANSWERED})


def csat_summary(
    rows: Sequence[Mapping[Any, Any]], *, since: datetime | None, until: datetime, team: str | None
) -> dict[str, Any]:
    asked: set[int] = set()
    answered_ever: set[int] = set()
    answers: dict[int, int] = {}
    for row in rows:
        at, conv = row["occurred_at"], row["conversation_id"]
        if row["type"] not in CSAT_EVENTS or at >= until or conv is None:
            continue
        if team is not None and row["team_id"] != team:
            continue
        payload = _payload(row["payload"])
        in_period = since is None or at >= since
        if row["type"] == EventType.CSAT_REQUESTED:
            if in_period and payload.get("sent"):
                asked.add(conv)
        else:
            answered_ever.add(conv)
            score = payload.get("score")
            if in_period and isinstance(score, int):
                answers[conv] = score
    answered = len(asked & answered_ever)
    scores = list(answers.values())
    return {
        "asked": len(asked),
        "answered": answered,
        "response_rate": round(answered / len(asked), 4) if asked else None,
        "average": round(sum(scores) / len(scores), 3) if scores else None,
        "answers": len(scores),
        "by_score": {str(s): n for s, n in sorted(Counter(scores).items())},
    }


def _payload(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
