"""The Bolt ``AsyncApp`` (HTTP mode): signature checks, dedupe of redelivered events, and listeners
that turn Slack payloads into typed calls on an ``InteractionHandler`` supplied by the composition
root. Every subscribed event type has a listener, so Slack never gets a 404 and never retries for it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("traza.slack")


class InteractionHandler(Protocol):
    async def seen_before(self, key: str) -> bool:
        """True when this Slack delivery (``event_id``) was already accepted once."""
        ...

    async def on_message(self, event: dict[str, Any]) -> None: ...


def build_bolt_app(client: AsyncWebClient, signing_secret: str, handler: InteractionHandler) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=False)

    @app.middleware
    async def dedupe(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if isinstance(event_id, str) and await handler.seen_before(f"slack:event:{event_id}"):
            log.info("Slack event %s delivered again; acknowledged, not acted on", event_id)
            return BoltResponse(status=200, body="")
        await next()
        return None

    @app.event("message")
    async def on_message(body: dict[str, Any]) -> None:
        event = body.get("event")
        if isinstance(event, dict):
            await handler.on_message(event)

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any]) -> None:
        # The same text also arrives as a ``message`` event; acting on both would act twice.
        return None

    @app.event("member_joined_channel")
    async def on_join(body: dict[str, Any]) -> None:
        return None

    @app.event("app_home_opened")
    async def on_home(body: dict[str, Any]) -> None:
        return None

    return app
