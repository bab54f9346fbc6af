"""SLA breaches, ``/traza stats`` charts, the App Home numbers and ``/metrics``, through the real app
(SQLite and PostgreSQL+Redis) against the fake Slack and Graph servers."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from bridge.config import TrazaConfig
from bridge.domain import SlaTargets
from store.db import create_engine
from store.tables import events
from tests import slack_payloads as sp
from tests.e2e.test_control import AGENT, LEAD, SOPORTE, card_of, open_conversation, slash
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import Harness, eventually, load_test_config, running_traza
from traza.settings import Settings

FIRST_RESPONSE = timedelta(seconds=0.6)
API_TOKEN = "sla-api-token"


def sla_config() -> TrazaConfig:
    """The test teams, with soporte answering within 0.6 s (and resolving within a day)."""
    base = load_test_config()
    targets = SlaTargets(first_response=FIRST_RESPONSE, resolution=timedelta(hours=24))
    teams = tuple(dataclasses.replace(t, sla=targets) if t.id == "soporte" else t for t in base.teams)
    return dataclasses.replace(base, teams=teams)


@pytest.fixture
async def sla_traza(traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]) -> AsyncIterator[Harness]:
    slack, graph = fakes
    env = {**traza_env, "TRAZA_SLA_SWEEP_SECONDS": "0.1", "TRAZA_API_TOKEN": API_TOKEN}
    async with running_traza(env, config=sla_config()) as client:
        yield Harness(client, slack, graph, Settings.from_env(env, env_file=None))


def nudges(traza: Harness, thread: str) -> list[dict[str, object]]:
    return [
        m
        for m in traza.slack.thread(SOPORTE, thread)
        if (m.get("metadata") or {}).get("event_type") == "traza_sla"
    ]


async def breach_events(traza: Harness) -> list[dict[str, object]]:
    engine = create_engine(traza.settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(events.c.ref, events.c.payload).where(events.c.type == "SlaBreached")
            )
            return [{"ref": r.ref, **json.loads(r.payload)} for r in rows]
    finally:
        await engine.dispose()


async def test_unanswered_conversation_is_flagged_nudged_and_its_lead_mentioned_once(
    sla_traza: Harness,
) -> None:
    traza = sla_traza
    ref, thread = await open_conversation(traza, "5491100000701")
    found = await eventually(lambda: nudges(traza, thread), what="the SLA nudge")
    assert f"<@{LEAD}>" in str(found[0]["text"]) and f"#{ref}" in str(found[0]["text"])
    assert "no first response" in str(found[0]["text"])
    await eventually(lambda: "conv_sla" in card_of(traza, SOPORTE, thread), what="the card's SLA flag")
    assert "SLA overdue" in card_of(traza, SOPORTE, thread)
    await asyncio.sleep(1.0)  # ten more sweeps
    assert len(nudges(traza, thread)) == 1
    recorded = await breach_events(traza)
    assert [(e["ref"], e["target"]) for e in recorded] == [(ref, "first_response")]
    assert recorded[0]["leads"] == [LEAD]
    metrics = (await traza.client.get("/metrics")).text
    assert 'traza_sla_breaches_total{team="soporte",target="first_response"} 1' in metrics
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    api = (await traza.client.get("/api/metrics", params={"team": "soporte"}, headers=auth)).json()
    assert api["sla_breaches"] == {"first_response": 1, "resolution": 0}


async def test_stats_answers_the_summary_and_posts_a_png_chart_to_the_askers_dm(traza: Harness) -> None:
    await open_conversation(traza, "5491100000703")
    answer = await slash(traza, "/traza", "stats soporte today", AGENT)
    assert "*Stats for Soporte, today*" in answer and "1 opened" in answer
    completed = await eventually(
        lambda: [c for c in traza.slack.calls_to("files.completeUploadExternal") if c.status == 200],
        what="the chart upload",
    )
    assert completed[0].args.get("channel_id") == traza.slack.dm_channel(AGENT)
    assert traza.slack.calls_to("conversations.open")[0].args["users"] == AGENT
    file_id = completed[0].args["files"][0]["id"]
    png = traza.slack.file_bytes(file_id)
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.size[0] >= 600
    shared = traza.slack.messages_in(traza.slack.dm_channel(AGENT))
    assert shared and shared[0]["files"][0]["id"] == file_id


async def test_slack_errors_are_counted_by_method_and_code(traza: Harness) -> None:
    traza.slack.fail_next("conversations.open", "user_not_found")
    await slash(traza, "/traza", "stats", AGENT)
    await eventually(lambda: traza.slack.calls_to("conversations.open"), what="the DM lookup")

    async def counted() -> bool:
        text = (await traza.client.get("/metrics")).text
        return 'traza_slack_api_errors_total{method="conversations.open",code="user_not_found"} 1' in text

    await eventually(counted, what="the error counter")
    told = await eventually(lambda: traza.slack.ephemerals(SOPORTE), what="the asker told")
    assert told[0]["user"] == AGENT and "could not send you the stats chart" in told[0]["text"]
    assert "`user_not_found`" in told[0]["text"]


async def test_app_home_shows_the_teams_numbers(sla_traza: Harness) -> None:
    traza = sla_traza
    ref, thread = await open_conversation(traza, "5491100000704")
    await eventually(lambda: nudges(traza, thread), what="the SLA nudge")
    event = {"type": "app_home_opened", "user": AGENT, "channel": "D0HOME", "tab": "home", "event_ts": "1.2"}
    assert (await traza.slack_event(sp.envelope(event))).status_code == 200
    published = await eventually(lambda: traza.slack.calls_to("views.publish"), what="home published")
    view = json.dumps(published[0].args["view"], ensure_ascii=False)
    assert f"#{ref}" in view
    assert "*Soporte* · 1 open · 1 waiting · median first response today — · SLA breaches today 1" in view


async def test_deliveries_are_counted_by_outcome(traza: Harness) -> None:
    _, thread = await open_conversation(traza, "5491100000705")
    await traza.agent_says(SOPORTE, thread, AGENT, "Hola")

    async def accepted() -> bool:
        text = (await traza.client.get("/metrics")).text
        return 'traza_deliveries_total{outcome="accepted"} 1' in text

    # A reply's trip (Slack event, job, Graph send) is slow on a loaded machine: allow for it.
    await eventually(accepted, timeout=30.0, what="the accepted delivery counted")
    text = (await traza.client.get("/metrics")).text
    assert 'traza_deliveries_total{outcome="failed"} 0' in text
