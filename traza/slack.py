"""Wiring of the Slack edge to the rest: the ``InteractionHandler`` the Bolt listeners call."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from slack_bolt.async_app import AsyncApp

from bot.slack_app import build_bolt_app
from bridge.outbound import ThreadEvent
from store.replies import record_thread_event

if TYPE_CHECKING:
    from traza.app import Runtime

log = logging.getLogger("traza.slack")


class Interactions:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def on_thread_event(self, item: ThreadEvent, event_id: str | None) -> None:
        recorded = await record_thread_event(
            self.runtime.engine, self.runtime.config, item, event_id, datetime.now(UTC)
        )
        if recorded:
            await self.runtime.coordinator.wake("jobs")


def build_slack_app(runtime: Runtime) -> AsyncApp:
    return build_bolt_app(
        runtime.surface.client, runtime.settings.slack_signing_secret or "", Interactions(runtime)
    )
