"""Deployment-wide counters read from the event log (incrementally, in slices), Graph API errors
counted by code, and ``traza export`` streaming the same bytes with or without its progress bar."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.domain import EventType as E
from bridge.errors import PermanentRemoteError
from bridge.whatsapp.graph import GraphClient
from store import events
from store.event_counts import EventCounts
from store.events import NewEvent
from traza import commands_cli
from traza.settings import Settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def ev(kind: E, n: int, team: str = "soporte", **payload: object) -> NewEvent:
    return NewEvent(kind, T0 + timedelta(minutes=n), None, None, "traza", team, None, dict(payload))


async def test_counts_read_the_log_in_slices_and_only_what_is_new(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await events.append(
            conn,
            [
                ev(E.REPLY_SENT, 1, accepted=True),
                ev(E.CUSTOMER_MESSAGE_RECEIVED, 2),  # not counted
                ev(E.REPLY_SENT, 3),
                ev(E.REPLY_DELIVERED, 4),
                ev(E.REPLY_READ, 5),
                ev(E.REPLY_FAILED, 6, code="131047"),
                ev(E.SLA_BREACHED, 7, target="first_response"),
                ev(E.SLA_BREACHED, 8, team="ventas", target="resolution"),
            ],
        )
    counts = EventCounts()
    await counts.refresh(engine, batch=3)
    assert sum(counts.deliveries.values()) == 3  # the first slice
    await counts.refresh(engine, batch=3)
    await counts.refresh(engine, batch=3)
    assert dict(counts.deliveries) == {"accepted": 1, "sent": 1, "delivered": 1, "read": 1, "failed": 1}
    assert dict(counts.sla_breaches) == {("soporte", "first_response"): 1, ("ventas", "resolution"): 1}
    async with engine.begin() as conn:
        await events.append(conn, [ev(E.REPLY_FAILED, 9)])
    await counts.refresh(engine)
    assert counts.deliveries["failed"] == 2 and counts.deliveries["accepted"] == 1


async def test_graph_errors_are_reported_by_code() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = {"error": {"message": "Re-engagement message", "type": "OAuthException", "code": 131047}}
        return httpx.Response(400, json=body)

    client = GraphClient(
        "https://graph.test/v25.0", "t", transport=httpx.MockTransport(answer), on_error=seen.append
    )
    with pytest.raises(PermanentRemoteError):
        await client.send("106", {"messaging_product": "whatsapp"})
    await client.aclose()
    assert seen == ["131047"]


def export_args(what: str, fmt: str, progress: bool | None) -> argparse.Namespace:
    return argparse.Namespace(
        what=what, format=fmt, since="2026-03-02", until=None, output=None, team=None, progress=progress
    )


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_export_output_is_the_same_with_a_progress_bar(
    engine: AsyncEngine, database_url: str, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    async with engine.begin() as conn:
        await events.append(conn, [ev(E.REPLY_SENT, n, text=f"línea {n}") for n in range(2500)])
    settings = Settings(database_url=database_url)
    await commands_cli.export(settings, export_args("events", fmt, False))
    quiet = capsys.readouterr()
    await commands_cli.export(settings, export_args("events", fmt, True))
    loud = capsys.readouterr()
    assert loud.out == quiet.out and quiet.err == ""
    assert "2500/2500" in loud.err and "export events" in loud.err
    if fmt == "json":
        rows = json.loads(quiet.out)
        assert len(rows) == 2500 and rows[0]["seq"] == 1
        assert quiet.out == json.dumps(rows, ensure_ascii=False, indent=1) + "\n"  # json.dump's own layout
    else:
        assert len(quiet.out.splitlines()) == 2501


async def test_export_of_nothing_is_an_empty_array(
    engine: AsyncEngine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await commands_cli.export(Settings(database_url=database_url), export_args("conversations", "json", None))
    assert capsys.readouterr().out == "[]\n"


def test_progress_is_automatic_unless_asked_for_or_refused() -> None:
    from traza.cli import _parser

    assert _parser().parse_args(["export", "events"]).progress is None  # a terminal decides
    assert _parser().parse_args(["export", "events", "--progress"]).progress is True
    assert _parser().parse_args(["export", "events", "--no-progress"]).progress is False
    assert _parser().parse_args(["worker", "--metrics-port", "9101"]).metrics_port == 9101
