"""The console's only way into Traza: signed requests, exactly as Meta and Slack send them.

WhatsApp notifications are serialised like Meta's (compact JSON, ``\\uXXXX`` escapes) and signed with
``X-Hub-Signature-256`` over the raw body with the sandbox's app secret; Slack events, slash
commands and interactions carry ``X-Slack-Signature`` v0 signatures made with the sandbox's signing
secret. Nothing here touches Traza's database or code: a real deployment gets the same bytes.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from traza.sandbox.fakes import whatsapp_payloads as wp
from traza.sandbox.fakes.slack import APP_ID, BOT_USER_ID, TEAM_ID

JsonDict = dict[str, Any]
TIMEOUT = httpx.Timeout(10.0)


class TrazaDriver:
    """Posts signed WhatsApp webhooks and Slack requests to the running Traza at ``traza_url``."""

    def __init__(self, traza_url: str, app_secret: str, signing_secret: str) -> None:
        self.traza_url = traza_url.rstrip("/")
        self.app_secret = app_secret
        self.verifier = SignatureVerifier(signing_secret)
        self._event_ids = itertools.count(1)

    # --- WhatsApp ---------------------------------------------------------------------------

    def webhook_sync(self, body: JsonDict) -> httpx.Response:
        """POST a signed Cloud API notification from a thread without an event loop."""
        raw, headers = wp.signed_webhook(body, self.app_secret)
        with httpx.Client(timeout=TIMEOUT) as client:
            return client.post(f"{self.traza_url}/whatsapp/webhook", content=raw, headers=headers)

    async def webhook(self, body: JsonDict) -> httpx.Response:
        raw, headers = wp.signed_webhook(body, self.app_secret)
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            return await client.post(f"{self.traza_url}/whatsapp/webhook", content=raw, headers=headers)

    # --- Slack ------------------------------------------------------------------------------

    def _slack_headers(self, raw: bytes, content_type: str) -> dict[str, str]:
        ts = str(int(time.time()))
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": str(self.verifier.generate_signature(timestamp=ts, body=raw.decode())),
        }

    async def _post_slack(self, raw: bytes, content_type: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            return await client.post(
                f"{self.traza_url}/slack/events", content=raw, headers=self._slack_headers(raw, content_type)
            )

    async def event(self, event: JsonDict) -> httpx.Response:
        """An Events API ``event_callback`` carrying ``event``."""
        now = int(time.time())
        body = {
            "token": "deprecated",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"EvSBX{now}{next(self._event_ids):06d}",
            "event_time": now,
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
        }
        return await self._post_slack(json.dumps(body).encode(), "application/json")

    async def form(self, fields: dict[str, str]) -> httpx.Response:
        """A form-encoded request: a slash command, or ``payload=`` for an interaction."""
        return await self._post_slack(urlencode(fields).encode(), "application/x-www-form-urlencoded")

    async def interaction(self, payload: JsonDict) -> httpx.Response:
        return await self.form({"payload": json.dumps(payload)})


def thread_message_event(channel: str, thread_ts: str, user: str, text: str, ts: str) -> JsonDict:
    """The ``message`` event Slack sends when ``user`` writes ``text`` in a thread."""
    return {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "channel": channel,
        "channel_type": "channel",
        "event_ts": ts,
        "team": TEAM_ID,
    }
