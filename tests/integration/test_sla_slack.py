"""The Slack side of a nudge against the fake Web API: tagged with metadata, found again by target
(what a retried nudge job relies on), and charts uploaded into the asker's DM."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.slack_calls import make_client
from bot.surface import SlackSurface
from bridge.domain import SlackTs, SlaTarget
from bridge.ports import MediaFile
from tests.fakes.slack import FakeSlack
from tests.unit.test_sla import view

ERRORS: list[tuple[str, str]] = []


@pytest.fixture
async def surface(fake_slack: FakeSlack) -> AsyncIterator[SlackSurface]:
    fake_slack.reset()
    ERRORS.clear()
    client = make_client("xoxb-test", fake_slack.url + "/api/")
    surface = SlackSurface(client, on_error=lambda method, code: ERRORS.append((method, code)))
    try:
        yield surface
    finally:
        await surface.close()


async def test_a_posted_nudge_is_found_by_its_target_and_no_other(
    surface: SlackSurface, fake_slack: FakeSlack
) -> None:
    card = fake_slack.inject_message("C0VENTAS01", "card")
    v = view(slack_thread_ts=SlackTs(card))
    ts = await surface.post_nudge(v, SlaTarget.FIRST_RESPONSE, "⏰ late <@U0LEAD0001>")
    assert await surface.find_nudge(v, SlaTarget.FIRST_RESPONSE) == ts
    assert await surface.find_nudge(v, SlaTarget.RESOLUTION) is None
    assert fake_slack.thread("C0VENTAS01", card)[-1]["text"] == "⏰ late <@U0LEAD0001>"


async def test_a_file_for_a_user_lands_in_their_dm_and_failures_are_reported_by_method(
    surface: SlackSurface, fake_slack: FakeSlack
) -> None:
    await surface.send_file_to_user("U0AGENT001", MediaFile(b"\x89PNG fake", "image/png", "c.png"), "chart")
    shared = fake_slack.messages_in(fake_slack.dm_channel("U0AGENT001"))
    assert shared[0]["text"] == "chart" and shared[0]["files"][0]["name"] == "c.png"
    fake_slack.fail_next("chat.postMessage", "is_archived")
    with pytest.raises(Exception, match="is_archived"):
        await surface.post_text("C0VENTAS01", None, "hola")
    assert ERRORS == [("chat.postMessage", "is_archived")]
