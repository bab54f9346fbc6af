"""Slack presence for assignment, against the fake Slack Web API: cached, and present when unknown."""

from __future__ import annotations

from bot.presence import PresenceCache
from bot.surface import make_client
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack


async def test_presence_is_cached_and_an_error_counts_as_present(fakes: tuple[FakeSlack, FakeGraph]) -> None:
    slack, _ = fakes
    client = make_client("xoxb-test", slack.url + "/api/")
    try:
        presence = PresenceCache(client)
        slack.set_user("U0AGENT001", presence="away")
        assert await presence.is_away("U0AGENT001")
        slack.set_user("U0AGENT001", presence="active")
        assert await presence.is_away("U0AGENT001")  # cached for a while: one call per agent per round
        assert len(slack.calls_to("users.getPresence")) == 1
        slack.fail_next("users.getPresence", "missing_scope")
        assert not await presence.is_away("U0AGENT002")
    finally:
        assert client.session is not None
        await client.session.close()
