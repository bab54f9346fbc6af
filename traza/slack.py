"""Wiring of the Slack edge to the rest: the ``InteractionHandler`` the Bolt listeners call."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier

import commands
from bot.slack_app import build_bolt_app
from bridge.errors import InvalidInput
from bridge.outbound import ThreadEvent
from commands.mentions import mention_command
from store import jobs
from store.replies import record_thread_event
from traza.desk import Desk

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
    return build_bolt_app(
        runtime.surface.client, runtime.settings.slack_signing_secret or "", Interactions(runtime)
    )


MAX_SLACK_BODY = 1024 * 1024


def screen_slack_request(
    body: bytes, headers: Mapping[str, str], signing_secret: str
) -> tuple[int, str] | None:
    """Reject what Bolt should never see: unsigned or stale requests, oversized or malformed bodies.

    Bolt parses a body before it checks the signature and can crash on shapes Slack never sends, so
    the signature (and Slack's 5-minute replay window) is checked here first, then the shape.
    Returns ``(status, reason)`` to answer at once, or ``None`` to hand the request to Bolt.
    """
    if len(body) > MAX_SLACK_BODY:
        return 413, "body too large"
    verifier = SignatureVerifier(signing_secret)
    if not signing_secret or not verifier.is_valid_request(body, dict(headers)):
        return 401, "invalid request"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "body is not UTF-8"
    if text.startswith("{"):
        return _screen_json(text)
    form = parse_qs(text, keep_blank_values=True)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except ValueError:
            return 400, "payload is not JSON"
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return 400, "payload has no type"
        return None
    if "ssl_check" in form or "command" in form:
        return None
    return 400, "not a Slack request"


def _screen_json(text: str) -> tuple[int, str] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return 400, "body is not JSON"
    if not isinstance(data, dict):
        return 400, "body is not a JSON object"
    kind = data.get("type")
    if kind == "event_callback" and not isinstance(data.get("event"), dict):
        return 400, "event_callback without an event"
    if kind == "app_rate_limited":
        log.warning("Slack rate-limited this app's events (minute %s)", data.get("minute_rate_limited"))
        return 200, "ok"
    if kind not in ("event_callback", "url_verification"):
        return 400, f"unsupported Slack envelope {kind!r}"
    return None
