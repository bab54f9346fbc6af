"""Shared helpers for the inbound end-to-end tests (``test_inbound_*.py``); holds no tests itself."""

from __future__ import annotations

import itertools
import re
from typing import Any

from sqlalchemy import func, select

from store.db import create_engine
from store.tables import webhook_inbox
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.slack import FakeSlack
from tests.harness import eventually

SOPORTE = "C0SOPORTE1"
VENTAS = "C0VENTAS01"
NUMBER_1 = "106540352242922"  # default team soporte
NUMBER_2 = "106540352242923"  # no default team: routing.default_team (soporte)
CARD_EVENT = "traza_card"
INBOUND_EVENT = "traza_inbound"

_base = itertools.count(1)


def wa_ids(n: int = 1) -> list[str]:
    """``n`` fresh customer wa_ids (``5491100`` + 6 digits), unique within the test session."""
    start = next(_base) * 1000
    for _ in range(n - 1):
        next(_base)
    return [f"5491100{start + i:06d}" for i in range(n)]


def cards(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """Top-level Traza cards posted in ``channel``, oldest first."""
    return [
        m for m in slack.messages_in(channel) if (m.get("metadata") or {}).get("event_type") == CARD_EVENT
    ]


def all_cards(slack: FakeSlack) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for channel, msgs in slack.all_messages().items():
        found = [
            m
            for m in msgs
            if (m.get("metadata") or {}).get("event_type") == CARD_EVENT
            and m.get("thread_ts", m["ts"]) == m["ts"]
        ]
        if found:
            out[channel] = found
    return out


def cards_for(slack: FakeSlack, channel: str, wa_id: str) -> list[dict[str, Any]]:
    """Cards in ``channel`` naming the customer ``wa_id`` (the card shows the phone)."""
    return [c for c in cards(slack, channel) if wa_id in _card_text(c)]


def _card_text(card: dict[str, Any]) -> str:
    return str(card.get("text", "")) + repr(card.get("blocks", []))


async def card_for(slack: FakeSlack, channel: str, wa_id: str, timeout: float = 10.0) -> dict[str, Any]:
    found = await eventually(
        lambda: cards_for(slack, channel, wa_id), timeout, f"a card for {wa_id} in {channel}"
    )
    return found[0]


def customer_replies(slack: FakeSlack, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """Thread replies posted as the customer (``username`` carries the WhatsApp tag)."""
    return [m for m in slack.thread(channel, thread_ts) if "WhatsApp" in str(m.get("username", ""))]


async def wait_customer_replies(
    slack: FakeSlack, channel: str, thread_ts: str, n: int, timeout: float = 10.0
) -> list[dict[str, Any]]:
    return await eventually(
        lambda: (
            len(customer_replies(slack, channel, thread_ts)) >= n
            and customer_replies(slack, channel, thread_ts)
        ),
        timeout,
        f"{n} customer replies in {channel}/{thread_ts}",
    )


def ok_posts(slack: FakeSlack, channel: str | None = None) -> list[dict[str, Any]]:
    """Arguments of successful ``chat.postMessage`` calls (optionally for one channel)."""
    return [
        c.args
        for c in slack.posts()
        if c.status == 200
        and (c.response or {}).get("ok")
        and (channel is None or c.args.get("channel") == channel)
    ]


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [str(m.get("text", "")) for m in messages]


async def inbox_rows(database_url: str) -> int:
    """How many webhooks Traza stored (rows of its durable inbox)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(webhook_inbox)) or 0)
    finally:
        await engine.dispose()


def text_batch(customers: dict[str, list[str]], phone_number_id: str = NUMBER_1) -> dict[str, Any]:
    """One webhook POST carrying, per customer, one ``change`` with that customer's text messages."""
    changes = []
    for wa_id, bodies in customers.items():
        single = wp.inbound_webhook(
            [wp.text_message(b, wa_id=wa_id, user_id=None) for b in bodies],
            name=f"Cliente {wa_id[-4:]}",
            wa_id=wa_id,
            user_id=None,
            phone_number_id=phone_number_id,
        )
        changes.extend(single["entry"][0]["changes"])
    return {"object": "whatsapp_business_account", "entry": [{"id": wp.WABA_ID, "changes": changes}]}


def slack_text_of(message: dict[str, Any]) -> str:
    """Slack mrkdwn with the three escapes undone (what an agent reads)."""
    return re.sub(
        r"&(amp|lt|gt);", lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m[1]], str(message.get("text", ""))
    )


def completed_uploads(slack: FakeSlack) -> list[tuple[str, bytes | None, dict[str, Any]]]:
    """``(file_id, bytes, completeUploadExternal args)`` for every upload Slack was told is complete."""
    out = []
    for call in slack.calls_to("files.completeUploadExternal"):
        if call.status != 200 or not (call.response or {}).get("ok"):
            continue
        for item in call.args.get("files") or []:
            out.append((str(item["id"]), slack.file_bytes(str(item["id"])), call.args))
    return out


async def wait_uploads(
    slack: FakeSlack, n: int, timeout: float = 10.0
) -> list[tuple[str, bytes | None, dict[str, Any]]]:
    return await eventually(
        lambda: len(completed_uploads(slack)) >= n and completed_uploads(slack),
        timeout,
        f"{n} completed uploads",
    )


def customer_text(text: str, wa_id: str, **kwargs: Any) -> dict[str, Any]:
    """A one-text webhook from customer ``wa_id`` with its own identity (no shared BSUID)."""
    kwargs.setdefault("user_id", None)
    return wp.inbound_text_webhook(text, wa_id=wa_id, **kwargs)
