"""Builders for real-shaped Slack payloads (Events API envelopes), after ``fixtures/slack/``."""

from __future__ import annotations

import itertools
import time
from typing import Any

_counter = itertools.count(1)


def next_ts() -> str:
    return f"{time.time():.6f}"


def envelope(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "deprecated",
        "team_id": "T0ACME0001",
        "api_app_id": "A0CHATOPS1",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_counter):010d}{int(time.time())}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": "T0ACME0001", "user_id": "U0BOT00001", "is_bot": True}],
    }


def thread_reply(channel: str, thread_ts: str, user: str, text: str, **extra: Any) -> dict[str, Any]:
    ts = extra.pop("ts", None) or next_ts()
    event = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "channel": channel,
        "channel_type": "channel",
        "event_ts": ts,
        "team": "T0ACME0001",
        **extra,
    }
    return envelope(event)


def bot_echo(channel: str, thread_ts: str, text: str) -> dict[str, Any]:
    ts = next_ts()
    return envelope(
        {
            "type": "message",
            "user": "U0BOT00001",
            "bot_id": "B0BOT00001",
            "app_id": "A0CHATOPS1",
            "text": text,
            "ts": ts,
            "thread_ts": thread_ts,
            "channel": channel,
            "event_ts": ts,
        }
    )


def message_changed(channel: str, thread_ts: str, ts: str, user: str, old: str, new: str) -> dict[str, Any]:
    now = next_ts()
    return envelope(
        {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": channel,
            "ts": now,
            "event_ts": now,
            "message": {
                "type": "message",
                "user": user,
                "text": new,
                "ts": ts,
                "thread_ts": thread_ts,
                "edited": {"user": user, "ts": now},
            },
            "previous_message": {
                "type": "message",
                "user": user,
                "text": old,
                "ts": ts,
                "thread_ts": thread_ts,
            },
        }
    )


def app_mention(channel: str, thread_ts: str | None, user: str, text: str) -> dict[str, Any]:
    """An ``app_mention`` event (``text`` should start with ``<@U0BOT00001>``)."""
    ts = next_ts()
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": "T0ACME0001",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return envelope(event)
