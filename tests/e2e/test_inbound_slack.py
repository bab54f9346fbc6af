"""The Slack side of the inbound path: the card's content, and what Traza does when Slack pushes back
(429 with Retry-After, 5xx, not_in_channel) or when a channel's pace must be kept."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from tests.e2e.test_inbound_support import (
    SOPORTE,
    VENTAS,
    card_for,
    cards_for,
    customer_replies,
    customer_text,
    ok_posts,
    wa_ids,
    wait_customer_replies,
)
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import APP_SECRET, Harness, eventually, running_traza
from tests.harness import env_for as make_env
from traza.settings import Settings

# ---------------------------------------------------------------- the card


async def test_card_shows_ref_customer_phone_team_state_and_action_buttons(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    body = customer_text("Quiero el precio", wa_id=wa_id, name="Lucía Fernández")
    assert (await traza.webhook(body)).status_code == 200
    card = await card_for(traza.slack, VENTAS, wa_id)
    everything = card["text"] + " " + repr(card["blocks"])
    ref = re.search(r"#(10\d\d)\b", card["text"])
    assert ref, card["text"]
    assert f"#{ref[1]}" in repr(card["blocks"])
    assert "Lucía Fernández" in card["text"] and "Lucía Fernández" in repr(card["blocks"])
    assert f"+{wa_id}" in everything
    assert "Ventas" in repr(card["blocks"])
    assert "open" in everything.lower()
    actions = [b for b in card["blocks"] if b["type"] == "actions"]
    assert len(actions) == 1
    ids = [e["action_id"] for e in actions[0]["elements"]]
    assert {"conv_claim", "conv_transfer", "conv_close"} <= set(ids)
    for button in actions[0]["elements"]:
        assert button["value"].lstrip("#") == ref[1]
    assert card["metadata"]["event_type"] == "traza_card"
    [reply] = await wait_customer_replies(traza.slack, VENTAS, card["ts"], 1)
    assert reply["text"] == "Quiero el precio"


async def test_each_new_conversation_gets_its_own_ref(traza: Harness) -> None:
    customers = wa_ids(3)
    for c in customers:
        assert (await traza.webhook(customer_text("hola", wa_id=c))).status_code == 200
    refs = []
    for c in customers:
        card = await card_for(traza.slack, SOPORTE, c)
        refs.append(re.search(r"#(\d+)", card["text"])[1])  # type: ignore[index]
    assert len(set(refs)) == 3


# ---------------------------------------------------------------- Slack pushes back


async def test_slack_429_on_post_is_retried_after_retry_after_and_posted_once(traza: Harness) -> None:
    traza.slack.rate_limit_next("chat.postMessage", times=2, retry_after=1)
    wa_id = wa_ids()[0]
    assert (await traza.webhook(customer_text("con límite", wa_id=wa_id))).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id, timeout=20)
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1, timeout=20)
    await asyncio.sleep(1.0)
    posts = traza.slack.posts()
    limited = [c for c in posts if c.status == 429]
    assert len(limited) == 2
    assert len(ok_posts(traza.slack)) == 2  # one card, one reply: nothing doubled
    assert [r["text"] for r in customer_replies(traza.slack, SOPORTE, card["ts"])] == ["con límite"]
    first_ok = min(c.at for c in posts if c.status == 200)
    assert first_ok - limited[0].at >= 0.9, "Retry-After: 1 must be honoured"


async def test_slack_500_on_post_is_retried_and_posted_once(traza: Harness) -> None:
    traza.slack.server_error_next("chat.postMessage", times=1)
    wa_id = wa_ids()[0]
    assert (await traza.webhook(customer_text("error del servidor", wa_id=wa_id))).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id, timeout=20)
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1, timeout=20)
    await asyncio.sleep(1.0)
    assert len([c for c in traza.slack.posts() if c.status == 500]) == 1
    assert len(ok_posts(traza.slack)) == 2
    assert len(cards_for(traza.slack, SOPORTE, wa_id)) == 1


async def test_slack_500_on_the_reply_does_not_duplicate_it(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    assert (await traza.webhook(customer_text("uno", wa_id=wa_id))).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id)
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1)
    traza.slack.server_error_next("chat.postMessage", times=2)
    assert (await traza.webhook(customer_text("dos", wa_id=wa_id))).status_code == 200
    assert (await traza.webhook(customer_text("tres", wa_id=wa_id))).status_code == 200
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 3, timeout=30)
    await asyncio.sleep(1.0)
    assert [r["text"] for r in customer_replies(traza.slack, SOPORTE, card["ts"])] == ["uno", "dos", "tres"]


async def test_not_in_channel_makes_traza_join_the_channel_then_post(traza: Harness) -> None:
    traza.slack.fail_next("chat.postMessage", "not_in_channel")
    wa_id = wa_ids()[0]
    assert (await traza.webhook(customer_text("¿hay alguien?", wa_id=wa_id))).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id, timeout=20)
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1, timeout=20)
    joins = traza.slack.calls_to("conversations.join")
    assert joins, "Traza must call conversations.join after not_in_channel"
    assert joins[0].args.get("channel") == SOPORTE
    refused = [c for c in traza.slack.posts() if not (c.response or {}).get("ok")]
    assert len(refused) == 1 and refused[0].at <= joins[0].at
    await asyncio.sleep(0.5)
    assert len(ok_posts(traza.slack)) == 2
    assert len(cards_for(traza.slack, SOPORTE, wa_id)) == 1


# ---------------------------------------------------------------- pace


@pytest.fixture(params=["sqlite", "postgres"])
def paced_env(request: pytest.FixtureRequest, fakes: tuple[FakeSlack, FakeGraph]) -> dict[str, str]:
    """Settings of a Traza that keeps Slack's pace: TRAZA_SLACK_PACE=2 posts per second per channel."""
    slack, graph = fakes
    if request.param == "sqlite":
        return make_env(request.getfixturevalue("sqlite_url"), slack, graph, TRAZA_SLACK_PACE="2")
    return make_env(
        request.getfixturevalue("pg_url"),
        slack,
        graph,
        TRAZA_SLACK_PACE="2",
        TRAZA_REDIS_URL=request.getfixturevalue("redis_url"),
    )


@pytest.fixture
async def paced_traza(
    paced_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]
) -> AsyncIterator[Harness]:
    slack, graph = fakes
    async with running_traza(paced_env) as client:
        yield Harness(client, slack, graph, Settings.from_env(paced_env, env_file=None))


async def test_posts_to_one_channel_keep_the_configured_pace(paced_traza: Harness) -> None:
    slack = paced_traza.slack
    customers = wa_ids(8)
    for c in customers:
        raw, headers = wp.signed_webhook(customer_text(f"hola {c[-4:]}", wa_id=c), APP_SECRET)
        response = await paced_traza.client.post("/whatsapp/webhook", content=raw, headers=headers)
        assert response.status_code == 200
    await eventually(lambda: len(ok_posts(slack, SOPORTE)) >= 16, 30, "8 cards and 8 replies")
    await asyncio.sleep(0.5)
    assert len(ok_posts(slack, SOPORTE)) == 16
    busiest = slack.max_posts_per_window(SOPORTE, 1.0)
    assert busiest <= 3, f"{busiest} posts within one second at TRAZA_SLACK_PACE=2"
    times = sorted(slack.post_times(SOPORTE))
    assert times[-1] - times[0] >= (16 - 3) / 2 - 0.5
    for c in customers:
        card = await card_for(slack, SOPORTE, c)
        assert [r["text"] for r in customer_replies(slack, SOPORTE, card["ts"])] == [f"hola {c[-4:]}"]
