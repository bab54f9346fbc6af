"""Wiring of the Slack edge to the rest: the ``InteractionHandler`` the Bolt listeners call."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp

from bot.slack_app import build_bolt_app

if TYPE_CHECKING:
    from traza.app import Runtime

log = logging.getLogger("traza.slack")


class Interactions:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def seen_before(self, key: str) -> bool:
        return not await self.runtime.coordinator.set_if_absent(key, ttl=3 * 3600)

    async def on_message(self, event: dict[str, Any]) -> None:
        return None


def build_slack_app(runtime: Runtime) -> AsyncApp:
    return build_bolt_app(
        runtime.surface.client, runtime.settings.slack_signing_secret or "", Interactions(runtime)
    )
