"""The end-to-end harness: Traza's real app (``create_app``) on a real database, wired to the fake
Slack and Graph servers, driven only through signed HTTP requests as Slack and Meta would send them.

``Harness`` runs the app in-process (its lifespan, worker included) behind ``httpx.ASGITransport``;
``eventually`` polls without blocking the event loop the app's worker runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import yaml
from slack_sdk.signature import SignatureVerifier

from bridge.config import TrazaConfig, load_config
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from traza.app import create_app
from traza.settings import Settings

T = TypeVar("T")
CONFIG_PATH = Path(__file__).parent / "config" / "traza.yml"
APP_SECRET = "test_app_secret"
SIGNING_SECRET = "test-signing-secret"
VERIFY_TOKEN = "test-verify-token"
SLACK_TOKEN = "xoxb-test"
GRAPH_TOKEN = "wa-test-token"


def load_test_config() -> TrazaConfig:
    return load_config(yaml.safe_load(CONFIG_PATH.read_text()))


def env_for(database_url: str, slack: FakeSlack, graph: FakeGraph, **extra: str) -> dict[str, str]:
    env = {
        "TRAZA_DATABASE_URL": database_url,
        "TRAZA_CONFIG": str(CONFIG_PATH),
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "TRAZA_SLACK_API_URL": slack.url + "/api/",
        "WHATSAPP_ACCESS_TOKEN": GRAPH_TOKEN,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "TRAZA_GRAPH_API_URL": graph.base_url,
        "TRAZA_SLACK_PACE": "0",
        "TRAZA_LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


async def eventually(predicate: Callable[[], T | Awaitable[T]], timeout: float = 10.0, what: str = "") -> T:
    """Poll ``predicate`` (sync or async) until truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


class Harness:
    def __init__(
        self, client: httpx.AsyncClient, slack: FakeSlack, graph: FakeGraph, settings: Settings
    ) -> None:
        self.client, self.slack, self.graph, self.settings = client, slack, graph, settings
        self.verifier = SignatureVerifier(SIGNING_SECRET)

    async def webhook(self, body: dict[str, Any] | bytes, *, secret: str = APP_SECRET) -> httpx.Response:
        raw = body if isinstance(body, bytes) else wp.serialize(body)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": wp.sign(raw, secret)}
        return await self.client.post("/whatsapp/webhook", content=raw, headers=headers)

    def _slack_headers(self, raw: bytes, content_type: str, **extra: str) -> dict[str, str]:
        ts = str(int(time.time()))
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=ts, body=raw.decode()),
            **extra,
        }

    async def slack_event(self, payload: dict[str, Any], **headers: str) -> httpx.Response:
        raw = json.dumps(payload).encode()
        return await self.client.post(
            "/slack/events", content=raw, headers=self._slack_headers(raw, "application/json", **headers)
        )

    async def slack_form(self, fields: dict[str, str]) -> httpx.Response:
        raw = "&".join(f"{k}={quote(v)}" for k, v in fields.items()).encode()
        return await self.client.post(
            "/slack/events",
            content=raw,
            headers=self._slack_headers(raw, "application/x-www-form-urlencoded"),
        )

    async def slack_interaction(self, payload: dict[str, Any]) -> httpx.Response:
        return await self.slack_form({"payload": json.dumps(payload)})

    async def agent_says(
        self, channel: str, thread_ts: str, user: str, text: str, **extra: Any
    ) -> dict[str, Any]:
        """An agent writes in a thread: the message exists in (fake) Slack and its event is delivered."""
        from tests import slack_payloads as sp

        ts = self.slack.inject_message(channel, text, user=user, thread_ts=thread_ts)
        payload = sp.thread_reply(channel, thread_ts, user, text, ts=ts, **extra)
        response = await self.slack_event(payload)
        assert response.status_code == 200, response.text
        return payload

    def posts_in(self, channel: str) -> list[dict[str, Any]]:
        return [c.args for c in self.slack.posts() if c.args.get("channel") == channel and c.status == 200]

    async def thread_of(self, channel: str, *, index: int = 0, timeout: float = 10.0) -> str:
        """The ts of the ``index``-th card posted in ``channel``."""

        def cards() -> list[dict[str, Any]]:
            return [
                m
                for m in self.slack.messages_in(channel)
                if (m.get("metadata") or {}).get("event_type") == "traza_card"
            ]

        found = await eventually(
            lambda: len(cards()) > index and cards(), timeout, f"card #{index} in {channel}"
        )
        return str(found[index]["ts"])

    async def replies(
        self, channel: str, thread_ts: str, n: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        return await eventually(
            lambda: len(self.slack.thread(channel, thread_ts)) >= n and self.slack.thread(channel, thread_ts),
            timeout,
            f"{n} replies in {channel}/{thread_ts}",
        )


@contextlib.asynccontextmanager
async def running_traza(
    env: dict[str, str], *, with_worker: bool = True, config: TrazaConfig | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings.from_env(env, env_file=None)
    app = create_app(settings, config or load_test_config(), with_worker=with_worker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://traza.test") as client:
            yield client
