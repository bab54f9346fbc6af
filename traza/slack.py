"""Wiring of the Slack edge to the rest: the ``InteractionHandler`` the Bolt listeners call."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from slack_bolt.async_app import AsyncApp

import commands
from bot.slack_app import build_bolt_app
from bridge.errors import InvalidInput
from bridge.outbound import ThreadEvent
from commands.mentions import mention_command
from store import jobs
from store.replies import record_thread_event
from traza.desk import Desk
from traza.slack_gate import listener_failed

if TYPE_CHECKING:
    from traza.app import Runtime

log = logging.getLogger("traza.slack")


class Interactions:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.desk = Desk(runtime.engine, runtime.config, lambda: datetime.now(UTC))

    async def command(self, command: str, text: str, user: str, channel: str) -> str:
        answer = await commands.run(self.desk, command, text, user, channel)
        await self.runtime.coordinator.wake("jobs")
        return answer

    async def act(self, verb: str, ref: int, user: str) -> str:
        try:
            match verb:
                case "claim":
                    answer = await self.desk.claim(ref, user)
                case "close":
                    answer = await self.desk.close(ref, user, "")
                case "reopen":
                    answer = await self.desk.reopen(ref, user)
                case "history":
                    answer = await self.desk.history(user, str(ref))
                case _:
                    answer = f"Unknown action {verb!r}."
        except InvalidInput as exc:
            answer = str(exc)
        await self.runtime.coordinator.wake("jobs")
        return answer

    async def transfer(self, ref: int, user: str, team_id: str | None, agent: str | None, reason: str) -> str:
        answer = await self.desk.transfer(ref, user, team_id, agent, reason)
        await self.runtime.coordinator.wake("jobs")
        return answer

    async def ref_of_thread(self, channel: str, ts: str) -> int | None:
        return await self.desk.control.resolve_thread(channel, ts)

    async def mention(
        self, channel: str, thread_ts: str | None, user: str, text: str, event_id: str | None
    ) -> None:
        if event_id and not await self.runtime.coordinator.set_if_absent(f"mention:{event_id}", 3600):
            return  # Slack's retry of a mention already acted on
        ref = await self.ref_of_thread(channel, thread_ts) if thread_ts else None
        answer = await self.command("/traza", mention_command(text, ref), user, channel)
        await self.tell(channel, thread_ts, user, answer)

    async def tell(self, channel: str, thread_ts: str | None, user: str, text: str) -> None:
        now = datetime.now(UTC)
        async with self.runtime.engine.begin() as conn:
            await jobs.enqueue(
                conn,
                f"notify:{user}",
                "notify_agent",
                {"channel": channel, "thread_ts": thread_ts, "user": user, "text": text},
                now,
            )
        await self.runtime.coordinator.wake("jobs")

    async def home_opened(self, user: str) -> None:
        async with self.runtime.engine.begin() as conn:
            if not await jobs.pending_kinds(conn, f"home:{user}", "publish_home"):
                await jobs.enqueue(conn, f"home:{user}", "publish_home", {"user": user}, datetime.now(UTC))
        await self.runtime.coordinator.wake("jobs")

    def teams(self) -> list[tuple[str, str]]:
        return [(t.id, t.name) for t in self.runtime.config.teams]

    async def canned_choices(self, ref: int) -> list[tuple[str, str, str]]:
        return await self.desk.canned_choices(ref)

    async def send_canned(self, ref: int, user: str, canned_id: str) -> str:
        answer = await self.desk.send_canned(ref, user, canned_id)
        await self.runtime.coordinator.wake("jobs")
        return answer

    async def on_thread_event(self, item: ThreadEvent, event_id: str | None) -> None:
        recorded = await record_thread_event(
            self.runtime.engine, self.runtime.config, item, event_id, datetime.now(UTC)
        )
        if recorded:
            await self.runtime.coordinator.wake("jobs")


def build_slack_app(runtime: Runtime) -> AsyncApp:
    app = build_bolt_app(
        runtime.surface.client, runtime.settings.slack_signing_secret or "", Interactions(runtime)
    )
    app.error(listener_failed)
    return app
