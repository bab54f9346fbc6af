"""Figures by day (hand-computed), the stats chart (a real PNG), the App Home's team numbers and the
Prometheus text of the new counters."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from PIL import Image

from bot.charts import stats_chart
from bot.home import home_view
from bridge.domain import EventType as E
from store.daily import Day, TeamNumbers, per_day
from store.event_counts import EventCounts
from tests.unit.test_cards import NOW
from traza.metrics import Metrics

D0 = datetime(2026, 3, 2, tzinfo=UTC)


def row(
    seq: int, kind: E, hours: float, conv: int, actor: str, team: str = "soporte", **payload: Any
) -> dict[str, Any]:
    return {
        "seq": seq,
        "occurred_at": D0 + timedelta(hours=hours),
        "type": str(kind),
        "conversation_id": conv,
        "actor": actor,
        "team_id": team,
        "payload": json.dumps(payload),
    }


ROWS = [
    row(1, E.CONVERSATION_OPENED, 9, 1, "contact:1"),
    row(2, E.CONVERSATION_OPENED, 10, 2, "contact:2"),
    row(3, E.CONVERSATION_OPENED, 10, 3, "contact:3", team="ventas"),
    row(4, E.NOTE_ADDED, 9.1, 1, "U1"),  # a note is not a response
    row(5, E.REPLY_RECEIVED, 9.25, 1, "U1"),  # 1: 15 min
    row(6, E.REPLY_RECEIVED, 10.75, 2, "traza"),  # Traza itself is not a response
    row(7, E.SLA_BREACHED, 10.5, 2, "traza", target="first_response"),
    row(8, E.REPLY_RECEIVED, 11, 2, "U2", team="ventas"),  # 2: 60 min (moved to ventas: counts for soporte)
    row(9, E.REPLY_RECEIVED, 10.5, 3, "U3", team="ventas"),  # 3 (ventas): 30 min
    row(10, E.CONVERSATION_OPENED, 47, 4, "contact:4"),  # day 2, 23:00
    row(11, E.REPLY_RECEIVED, 49, 4, "U1"),  # day 3, 01:00: 4 answered after 2 h, counted on its opening day
    row(12, E.SLA_BREACHED, 47.5, 4, "traza", target="first_response"),
]


def test_per_day_counts_each_conversation_on_the_day_it_opened() -> None:
    days = per_day(ROWS, since=D0, until=D0 + timedelta(days=3), team="soporte")
    assert days == [
        Day(date(2026, 3, 2), opened=2, answered=2, first_response_median=(15 + 60) / 2 * 60, sla_breaches=1),
        Day(date(2026, 3, 3), opened=1, answered=1, first_response_median=7200.0, sla_breaches=1),
        Day(date(2026, 3, 4), opened=0, answered=0, first_response_median=None, sla_breaches=0),
    ]
    everyone = per_day(ROWS, since=D0, until=D0 + timedelta(days=1), team=None)
    assert everyone == [Day(date(2026, 3, 2), 3, 3, 1800.0, 1)]  # median of 15, 30 and 60 min


def test_a_reply_after_the_period_ends_leaves_the_day_unanswered() -> None:
    days = per_day(ROWS, since=D0 + timedelta(days=1), until=D0 + timedelta(hours=48), team="soporte")
    assert days == [Day(date(2026, 3, 3), opened=1, answered=0, first_response_median=None, sla_breaches=1)]


def test_chart_is_a_png_image_even_with_empty_days() -> None:
    days = per_day(ROWS, since=D0, until=D0 + timedelta(days=3), team="soporte")
    png = stats_chart(days, "Traza · Soporte · 7d")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.size == (900, 450)
    assert stats_chart([], "nothing").startswith(b"\x89PNG")


def test_home_shows_the_queue_and_each_teams_numbers() -> None:
    numbers = [
        TeamNumbers(
            "soporte", "Soporte", open=3, waiting=2, first_response_median_today=330.0, sla_breaches_today=1
        ),
        TeamNumbers(
            "ventas",
            "Ventas <B2B>",
            open=0,
            waiting=0,
            first_response_median_today=None,
            sla_breaches_today=0,
        ),
    ]
    text = json.dumps(home_view([], [], NOW, numbers)["blocks"], ensure_ascii=False)
    assert (
        "*Soporte* · 3 open · 2 waiting · median first response today 5 min · "
        "SLA breaches today 1 :alarm_clock:"
    ) in text
    assert (
        "*Ventas &lt;B2B&gt;* · 0 open · 0 waiting · median first response today — · SLA breaches today 0"
        in text
    )
    assert "You are in no team." in json.dumps(home_view([], [], NOW, [])["blocks"])


def test_prometheus_text_has_errors_deliveries_and_breaches() -> None:
    metrics = Metrics()
    metrics.slack_error("chat.postMessage", "channel_not_found")
    metrics.slack_error("chat.postMessage", "channel_not_found")
    metrics.graph_error("131047")
    counts = EventCounts()
    counts.deliveries.update({"accepted": 3, "sent": 2, "read": 1})
    counts.sla_breaches[("soporte", "first_response")] = 4
    text = metrics.exposition(queue_depth=0, queue_age=0.0, redis_ok=True, counts=counts)
    lines = set(text.splitlines())
    assert 'traza_slack_api_errors_total{method="chat.postMessage",code="channel_not_found"} 2' in lines
    assert 'traza_graph_api_errors_total{code="131047"} 1' in lines
    assert {
        f'traza_deliveries_total{{outcome="{o}"}} {n}'
        for o, n in [("accepted", 3), ("sent", 2), ("delivered", 0), ("read", 1), ("failed", 0)]
    } <= lines
    assert 'traza_sla_breaches_total{team="soporte",target="first_response"} 4' in lines
    for name in ("slack_api_errors", "graph_api_errors", "deliveries", "sla_breaches"):
        assert f"# TYPE traza_{name}_total counter" in lines


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.slack_error('we"ird\\method', "x\ny")
    text = metrics.exposition(queue_depth=0, queue_age=0.0, redis_ok=True)
    assert 'traza_slack_api_errors_total{method="we\\"ird\\\\method",code="x\\ny"} 1' in text
