"""The Bolt ``AsyncApp`` (HTTP mode) and its listeners, which turn Slack payloads into typed calls on
an ``InteractionHandler`` supplied by the composition root.

``process_before_response=True``: Slack gets its answer only after the listener has durably recorded
what it must (a reply in the outbox, a command's effect). A crash before that commit answers
nothing, so Slack redelivers and nothing is lost; a redelivery after it finds the event's id
already recorded and does nothing. Listeners only touch the database, so they answer well inside
Slack's 3 seconds; Slack and Graph calls happen later in the worker. Every subscribed event type has
a listener, so Slack never gets a 404 and never retries for it.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.events import classify
from bridge.outbound import ThreadEvent

log = logging.getLogger("traza.slack")


class InteractionHandler(Protocol):
    async def on_thread_event(self, item: ThreadEvent, event_id: str | None) -> None: ...


def build_bolt_app(client: AsyncWebClient, signing_secret: str, handler: InteractionHandler) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=True)

    @app.event("message")
    async def on_message(body: dict[str, Any], context: AsyncBoltContext) -> None:
        event = body.get("event")
        if not isinstance(event, dict):
            return
        item = classify(event, context.bot_user_id, context.bot_id)
        if item is not None:
            event_id = body.get("event_id")
            await handler.on_thread_event(item, event_id if isinstance(event_id, str) else None)

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any]) -> None:
        # The same text also arrives as a ``message`` event (and is dropped there as a mention).
        return None

    @app.event("member_joined_channel")
    async def on_join(body: dict[str, Any]) -> None:
        return None

    @app.event("app_home_opened")
    async def on_home(body: dict[str, Any]) -> None:
        return None

    return app
