"""Outbound webhooks end to end (SQLite and PostgreSQL+Redis): every event reaches a fake receiver
signed as documented, retried with backoff, in order per conversation, exactly once per event across
a restart, and dead-lettered (recorded, logged, counted) on a permanent answer or after max age."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time

import pytest

from bridge.webhooks import verify_signature
from tests.e2e.integrations_support import (
    HOOK_SECRET,
    config_with,
    env_with_secrets,
    fake_receiver,
    hook,
    logged_events,
    receiver,
    traza_with,
)
from tests.e2e.test_inbound_support import SOPORTE, VENTAS, card_for, customer_text, wa_ids
from tests.fakes.graph import FakeGraph
from tests.fakes.receiver import FakeReceiver, Received
from tests.fakes.slack import FakeSlack
from tests.harness import eventually

__all__ = ["fake_receiver", "receiver"]
Fakes = tuple[FakeSlack, FakeGraph]
FIRST_EVENTS = ["ConversationOpened", "ConversationRouted", "CustomerMessageReceived"]


def ok_types(receiver: FakeReceiver, name: str, ref: int | None = None) -> list[str]:
    return [
        r.json["type"] for r in receiver.deliveries(name, ok_only=True) if ref is None or r.json["ref"] == ref
    ]


async def wait_ok(
    receiver: FakeReceiver, name: str, types: list[str], ref: int | None = None, timeout: float = 15.0
) -> None:
    await eventually(
        lambda: all(t in ok_types(receiver, name, ref) for t in types),
        timeout,
        f"{types} delivered to {name}",
    )


def recipe_accepts(secret: str, request: Received) -> bool:
    """The README's verification recipe, written out with nothing but hmac and hashlib."""
    timestamp = request.headers["x-traza-timestamp"]
    expected = (
        "sha256="
        + hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    )
    fresh = abs(time.time() - int(timestamp)) <= 300
    return fresh and hmac.compare_digest(expected, request.headers["x-traza-signature"])


async def test_every_event_is_posted_signed_with_an_idempotency_key(
    traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = config_with(webhooks=[hook(receiver, "crm")])
    async with traza_with(env_with_secrets(traza_env), fakes, config) as traza:
        await traza.webhook(customer_text("hola", wa_id=wa_ids()[0]))
        await wait_ok(receiver, "crm", [*FIRST_EVENTS, "CardPosted", "CustomerMessageMirrored"])
    got = receiver.deliveries("crm")
    for request in got:
        assert recipe_accepts(HOOK_SECRET, request)
        assert verify_signature(
            HOOK_SECRET,
            request.body,
            request.headers["x-traza-timestamp"],
            request.headers["x-traza-signature"],
            time.time(),
        )
        assert not recipe_accepts("another-secret", request)
        assert request.headers["idempotency-key"] == str(request.json["seq"])
        assert request.headers["x-traza-event"] == request.json["type"]
    message = next(r for r in got if r.json["type"] == "CustomerMessageReceived")
    forged = Received("crm", message.headers, message.body.replace(b"hola", b"chau"), 200, 0.0)
    assert forged.body != message.body and not recipe_accepts(HOOK_SECRET, forged)
    body = message.json
    assert body["ref"] == 1001 and body["team"] == "soporte" and body["number"] == "106540352242922"
    assert body["payload"]["text"] == "hola" and body["erased"] is False
    assert body["actor"].startswith("contact:") and body["time"].endswith("Z")
    seqs = [r.seq for r in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert HOOK_SECRET not in caplog.text


async def test_a_500_is_retried_with_growing_backoff_then_delivered_once(
    traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver
) -> None:
    receiver.fail_event("crm", 1001, "ConversationOpened", 500, times=2)
    config = config_with(webhooks=[hook(receiver, "crm")])
    async with traza_with(env_with_secrets(traza_env), fakes, config) as traza:
        await traza.webhook(customer_text("hola", wa_id=wa_ids()[0]))
        await wait_ok(receiver, "crm", FIRST_EVENTS)
    opened = [r for r in receiver.deliveries("crm") if r.json["type"] == "ConversationOpened"]
    assert [r.status for r in opened] == [500, 500, 200]
    assert [r.headers["x-traza-attempt"] for r in opened] == ["1", "2", "3"]
    assert len({r.body for r in opened}) == 1
    first_wait, second_wait = opened[1].at - opened[0].at, opened[2].at - opened[1].at
    assert first_wait >= 0.7 and second_wait >= 1.5 and second_wait > first_wait
    ok = [r.seq for r in receiver.deliveries("crm", ok_only=True)]
    assert len(ok) == len(set(ok))


async def test_a_429_waits_as_long_as_retry_after_says(
    traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver
) -> None:
    receiver.retry_after = "3"
    receiver.fail_event("crm", 1001, "ConversationOpened", 429, times=1)
    config = config_with(webhooks=[hook(receiver, "crm")])
    async with traza_with(env_with_secrets(traza_env), fakes, config) as traza:
        await traza.webhook(customer_text("hola", wa_id=wa_ids()[0]))
        await wait_ok(receiver, "crm", FIRST_EVENTS)
    opened = [r for r in receiver.deliveries("crm") if r.json["type"] == "ConversationOpened"]
    assert [r.status for r in opened] == [429, 200]
    assert opened[1].at - opened[0].at >= 2.9


async def test_a_conversations_events_wait_behind_its_failing_first_delivery_but_others_do_not(
    traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver
) -> None:
    receiver.fail_event("crm", 1001, "ConversationOpened", 503, times=2)
    config = config_with(webhooks=[hook(receiver, "crm")])
    first, second = wa_ids(2)
    async with traza_with(env_with_secrets(traza_env), fakes, config) as traza:
        await traza.webhook(customer_text("uno", wa_id=first))
        await card_for(traza.slack, SOPORTE, first)
        await traza.webhook(customer_text("dos", wa_id=second))
        await wait_ok(receiver, "crm", [*FIRST_EVENTS, "CardPosted", "CustomerMessageMirrored"], ref=1001)
        await wait_ok(receiver, "crm", [*FIRST_EVENTS, "CardPosted"], ref=1002)
    requests = [r for r in receiver.deliveries("crm") if r.json["ref"] == 1001]
    opened_ok = next(
        i for i, r in enumerate(requests) if r.json["type"] == "ConversationOpened" and r.status == 200
    )
    assert all(r.json["type"] == "ConversationOpened" for r in requests[:opened_ok])
    ok_seqs = [r.seq for r in requests if r.status == 200]
    assert ok_seqs == sorted(ok_seqs)
    opened_at = requests[opened_ok].at
    other = [r for r in receiver.deliveries("crm", ok_only=True) if r.json["ref"] == 1002]
    assert other and other[0].at < opened_at  # the second conversation did not wait for the first


async def test_a_restart_resumes_where_it_stopped_without_duplicates(
    traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver, database_url: str
) -> None:
    config = config_with(webhooks=[hook(receiver, "crm")])
    env = env_with_secrets(traza_env)
    first, second = wa_ids(2)
    async with traza_with(env, fakes, config) as traza:
        await traza.webhook(customer_text("antes", wa_id=first))
        await wait_ok(receiver, "crm", [*FIRST_EVENTS, "CardPosted", "CustomerMessageMirrored"], ref=1001)
        receiver.answer("crm", 503)
        await traza.webhook(customer_text("durante", wa_id=second))
        await eventually(
            lambda: any(r.json["ref"] == 1002 for r in receiver.deliveries("crm")), 10, "a failed try"
        )
    receiver.answer("crm", 200)
    async with traza_with(env, fakes, config) as traza:
        await traza.webhook(customer_text("después", wa_id=first))
        logged = await eventually(
            lambda: _all_logged_delivered(receiver, database_url), 20, "every event delivered"
        )
    ok = [r.seq for r in receiver.deliveries("crm", ok_only=True)]
    assert len(ok) == len(set(ok)), "an event was delivered twice"
    assert sorted(ok) == logged


async def _all_logged_delivered(receiver: FakeReceiver, database_url: str) -> list[int] | None:
    # The configuration is recorded at start-up, before a new endpoint's cursor begins at the log's end.
    skipped = ("WebhookDeadLettered", "ConfigurationChanged")
    seqs = [int(e["seq"]) for e in await logged_events(database_url) if e["type"] not in skipped]
    ok = {r.seq for r in receiver.deliveries("crm", ok_only=True)}
    texts = [r.json["payload"].get("text") for r in receiver.deliveries("crm", ok_only=True)]
    return seqs if set(seqs) <= ok and "después" in texts else None


@pytest.mark.parametrize("status", [400, 410])
async def test_a_permanent_answer_is_dead_lettered_recorded_and_counted(
    status: int, traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver, database_url: str
) -> None:
    receiver.answer("gone", status)
    config = config_with(webhooks=[hook(receiver, "gone"), hook(receiver, "crm")])
    async with traza_with(env_with_secrets(traza_env), fakes, config) as traza:
        await traza.webhook(customer_text("hola", wa_id=wa_ids()[0]))
        await wait_ok(receiver, "crm", [*FIRST_EVENTS, "CardPosted", "CustomerMessageMirrored"])
        dead = await eventually(lambda: _dead_letters(database_url, 5), 15, "five dead letters")
        metrics = (await traza.client.get("/metrics")).text
    tried = [r.seq for r in receiver.deliveries("gone")]
    assert len(tried) == len(set(tried)), "a permanent failure must not be retried"
    assert {d["seq"] for d in dead} <= set(tried)
    assert all(d["endpoint"] == "gone" and d["status"] == status for d in dead)
    counted = re.search(
        r'traza_webhook_deliveries_total\{endpoint="gone",outcome="dead_lettered"\} (\d+)', metrics
    )
    assert counted and int(counted[1]) >= len(dead)
    assert 'endpoint="gone",outcome="retry"' not in metrics
    assert "WebhookDeadLettered" not in ok_types(receiver, "crm")


async def _dead_letters(database_url: str, n: int) -> list[dict[str, object]] | None:
    found = [
        json.loads(e["payload"])
        for e in await logged_events(database_url)
        if e["type"] == "WebhookDeadLettered"
    ]
    return found if len(found) >= n else None


async def test_a_delivery_failing_past_max_age_is_dead_lettered(
    traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver, database_url: str
) -> None:
    receiver.answer("slow", 500)
    config = config_with(webhooks=[hook(receiver, "slow", max_age_days=0.00002)])  # about 1.7 s
    async with traza_with(env_with_secrets(traza_env), fakes, config) as traza:
        await traza.webhook(customer_text("hola", wa_id=wa_ids()[0]))
        dead = await eventually(lambda: _dead_letters(database_url, 1), 15, "a dead letter")
    assert dead[0]["reason"].startswith("still failing after") and dead[0]["status"] == 500
    opened = [r for r in receiver.deliveries("slow") if r.seq == dead[0]["seq"]]
    assert len(opened) >= 2


async def test_endpoints_get_only_the_event_types_and_teams_they_asked_for(
    traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver
) -> None:
    config = config_with(
        webhooks=[
            hook(receiver, "ventas", events=["ConversationOpened"], teams=["ventas"]),
            hook(receiver, "crm"),
        ]
    )
    sales, support = wa_ids(2)
    async with traza_with(env_with_secrets(traza_env), fakes, config) as traza:
        await traza.webhook(customer_text("consulta de soporte", wa_id=support))
        await card_for(traza.slack, SOPORTE, support)
        await traza.webhook(customer_text("quiero el precio", wa_id=sales))
        await card_for(traza.slack, VENTAS, sales)
        await wait_ok(receiver, "crm", ["CardPosted"], ref=1002)
    got = receiver.deliveries("ventas", ok_only=True)
    assert [(r.json["type"], r.json["team"]) for r in got] == [("ConversationOpened", "ventas")]
