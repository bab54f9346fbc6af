"""Customer messages that pile up behind a channel's pace go to Slack as one post: every part in
order under the customer's name, media still on its own, each message linked to the post (so
reactions and edits still find it), and never lost or posted twice when the post is retried."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.surface import SlackSurface
from store.db import create_engine
from store.tables import message_links
from tests.e2e.test_inbound_support import SOPORTE, card_for, customer_replies, ok_posts, wa_ids
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import Harness, eventually, running_traza
from tests.harness import env_for as make_env
from traza.settings import Settings

PART = re.compile(r"<!date\^\d+\^\{time\}\|[^>]*> ")


def parts(message: dict[str, Any]) -> list[str]:
    """The customer messages one Slack post carries (one, or several when coalesced)."""
    text = str(message.get("text", ""))
    if not PART.match(text):
        return [text]
    return [p.rstrip("\n") for p in PART.split(text) if p]


def thread_parts(slack: FakeSlack, thread: str) -> list[str]:
    return [p for m in customer_replies(slack, SOPORTE, thread) for p in parts(m)]


@pytest.fixture(params=["sqlite", "postgres"])
def paced_env(request: pytest.FixtureRequest, fakes: tuple[FakeSlack, FakeGraph]) -> dict[str, str]:
    """Traza keeping Slack's pace (2 posts per second per channel), which is when it coalesces."""
    slack, graph = fakes
    if request.param == "sqlite":
        return make_env(request.getfixturevalue("sqlite_url"), slack, graph, TRAZA_SLACK_PACE="2")
    redis = request.getfixturevalue("redis_url")
    return make_env(
        request.getfixturevalue("pg_url"), slack, graph, TRAZA_SLACK_PACE="2", TRAZA_REDIS_URL=redis
    )


@pytest.fixture
async def paced(paced_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]) -> AsyncIterator[Harness]:
    slack, graph = fakes
    async with running_traza(paced_env) as client:
        yield Harness(client, slack, graph, Settings.from_env(paced_env, env_file=None))


async def links_of(database_url: str) -> dict[str, str | None]:
    """wamid -> Slack ts of every customer message."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(message_links.c.wa_message_id, message_links.c.slack_ts).where(
                    message_links.c.direction == "inbound"
                )
            )
            return {str(r.wa_message_id): r.slack_ts for r in rows}
    finally:
        await engine.dispose()


async def send_all(traza: Harness, wa_id: str, items: list[dict[str, Any] | str]) -> list[str]:
    """Each item in its own webhook, back to back; returns the wamids in order."""
    wamids = []
    for item in items:
        message = wp.text_message(item, wa_id=wa_id) if isinstance(item, str) else item
        wamids.append(message["id"])
        response = await traza.webhook(wp.inbound_webhook([message], wa_id=wa_id, user_id=None))
        assert response.status_code == 200
    return wamids


async def test_messages_piled_up_behind_the_pace_are_one_post_in_order(paced: Harness) -> None:
    wa_id = wa_ids()[0]
    words = [f"parte {n}" for n in range(8)]
    wamids = await send_all(paced, wa_id, list(words))
    card = await card_for(paced.slack, SOPORTE, wa_id)
    await eventually(lambda: len(thread_parts(paced.slack, card["ts"])) >= 8, 20, "all eight parts")
    await asyncio.sleep(1.0)
    posts = customer_replies(paced.slack, SOPORTE, card["ts"])
    assert thread_parts(paced.slack, card["ts"]) == words, "each part once, in the customer's order"
    assert len(posts) < len(words), "messages queued behind the pace share a post"
    coalesced = [p for p in posts if len(parts(p)) > 1]
    assert coalesced and all("Cliente" in p["username"] or "WhatsApp" in p["username"] for p in coalesced)
    meta = coalesced[0]["metadata"]["event_payload"]
    assert meta["link_ids"][0] == meta["link_id"] and len(meta["wa_message_ids"]) == len(parts(coalesced[0]))
    links = await links_of(paced.settings.database_url)
    ts_of_part = {part: post["ts"] for post in posts for part in parts(post)}
    assert [links[w] for w in wamids] == [ts_of_part[w] for w in words], "every wamid maps to its post"
    metrics = (await paced.client.get("/metrics")).text
    assert f"traza_slack_posts_saved_total {len(words) - len(posts)}" in metrics


async def test_media_stays_its_own_post_between_coalesced_words(paced: Harness) -> None:
    wa_id = wa_ids()[0]
    paced.graph.add_media("4455667788", b"\xff\xd8photo" * 50, "image/jpeg")
    photo = wp.media_message("image", "4455667788", "image/jpeg", caption="la foto", wa_id=wa_id)
    await send_all(paced, wa_id, ["uno", "dos", "tres", photo, "cuatro", "cinco"])
    card = await card_for(paced.slack, SOPORTE, wa_id)
    await eventually(lambda: len(thread_parts(paced.slack, card["ts"])) >= 6, 20, "six parts")
    await eventually(lambda: paced.slack.calls_to("files.completeUploadExternal"), 10, "the photo")
    await asyncio.sleep(1.0)
    posted = thread_parts(paced.slack, card["ts"])
    assert [p.split("\n")[0] for p in posted] == [
        "uno",
        "dos",
        "tres",
        posted[3].split("\n")[0],
        "cuatro",
        "cinco",
    ]
    assert "la foto" in posted[3]
    photo_post = [m for m in customer_replies(paced.slack, SOPORTE, card["ts"]) if "la foto" in m["text"]]
    assert len(photo_post) == 1 and len(parts(photo_post[0])) == 1, "media is never folded into a post"


async def test_a_reaction_to_a_coalesced_message_points_at_its_post(paced: Harness) -> None:
    wa_id = wa_ids()[0]
    wamids = await send_all(paced, wa_id, ["a", "b", "c", "d"])
    card = await card_for(paced.slack, SOPORTE, wa_id)
    await eventually(lambda: len(thread_parts(paced.slack, card["ts"])) >= 4, 20, "four parts")

    async def recorded() -> dict[str, str | None]:
        links = await links_of(paced.settings.database_url)
        return links if all(links.values()) else {}

    links = await eventually(recorded, 10, "the posts recorded")
    assert len(set(links.values())) < 4, "some messages share a post"
    await send_all(paced, wa_id, [wp.reaction_message(wamids[2], "👍", wa_id=wa_id)])
    reaction = await eventually(
        lambda: [m for m in customer_replies(paced.slack, SOPORTE, card["ts"]) if "👍" in m["text"]],
        20,
        "the reaction",
    )
    assert str(links[wamids[2]]).replace(".", "") in reaction[0]["text"], "the reaction links the post"


async def test_a_coalesced_post_lost_to_a_crash_is_found_and_never_posted_twice(
    paced: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The post reaches Slack but the worker dies before recording it: the retry finds it by its
    metadata and records every part it carried; messages that arrived meanwhile go in a later post."""
    original = SlackSurface.post_customer_messages
    crashed: list[int] = []

    async def post_then_crash(self: SlackSurface, items: list[Any]) -> Any:
        ts = await original(self, items)
        if not crashed:
            crashed.append(len(items))
            await send_all(paced, wa_id, ["after 1", "after 2"])  # queued while the job is retried
            raise RuntimeError("worker died after posting")
        return ts

    monkeypatch.setattr(SlackSurface, "post_customer_messages", post_then_crash)
    wa_id = wa_ids()[0]
    words = [f"antes {n}" for n in range(5)]
    await send_all(paced, wa_id, list(words))
    card = await card_for(paced.slack, SOPORTE, wa_id)
    expected = [*words, "after 1", "after 2"]
    await eventually(lambda: len(thread_parts(paced.slack, card["ts"])) >= 7, 30, "all parts")
    await asyncio.sleep(1.5)
    assert crashed, "the crash happened on a coalesced post"
    assert thread_parts(paced.slack, card["ts"]) == expected, "nothing lost, nothing twice, in order"
    links = await links_of(paced.settings.database_url)
    assert all(links.values()), "every message recorded as posted"


async def test_a_coalesced_post_that_failed_is_retried_with_the_same_parts(paced: Harness) -> None:
    """Slack answers 500 to the coalesced post: the retry posts exactly the group it fixed (messages
    that arrived meanwhile wait for the next post), so no part is skipped or doubled."""
    wa_id = wa_ids()[0]
    await send_all(paced, wa_id, ["x0"])
    card = await card_for(paced.slack, SOPORTE, wa_id)
    await eventually(lambda: thread_parts(paced.slack, card["ts"]) == ["x0"], 10, "first part")
    paced.slack.server_error_next("chat.postMessage", times=1)
    await send_all(paced, wa_id, ["x1", "x2", "x3"])
    failed = await eventually(lambda: [c for c in paced.slack.posts() if c.status >= 500], 10, "the 500")
    assert failed
    await send_all(paced, wa_id, ["x4", "x5"])
    await eventually(lambda: len(thread_parts(paced.slack, card["ts"])) >= 6, 30, "six parts")
    await asyncio.sleep(1.0)
    assert thread_parts(paced.slack, card["ts"]) == ["x0", "x1", "x2", "x3", "x4", "x5"]
    assert len(ok_posts(paced.slack, SOPORTE)) <= 1 + 4
