"""Slack presence for automatic assignment: is an agent ``away`` right now (``users.getPresence``)?

Answers are cached for ``TTL`` seconds per process (a round of assignments asks about the same few
agents many times, and Slack allows users.getPresence about 50 times a minute). Presence is a hint:
when Slack cannot answer, the agent counts as present, so an outage never stops assignment.
"""

from __future__ import annotations

import logging
import time

from slack_sdk.web.async_client import AsyncWebClient

from bridge.errors import RemoteError

log = logging.getLogger("traza.slack")
TTL = 30.0


class PresenceCache:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._seen: dict[str, tuple[float, bool]] = {}

    async def is_away(self, user: str) -> bool:
        from bot.surface import slack_call  # the one translation of Slack failures

        cached = self._seen.get(user)
        if cached and time.monotonic() - cached[0] < TTL:
            return cached[1]
        try:
            response = await slack_call(self.client.users_getPresence(user=user))
        except RemoteError as exc:
            log.warning("presence of %s unknown (%s); counting them as present", user, exc)
            return False
        away = bool(response.get("presence") == "away")
        self._seen[user] = (time.monotonic(), away)
        return away
