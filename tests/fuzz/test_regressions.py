"""One focused test per bug the fuzz suite found, so each stays fixed even if the generators change."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from sqlalchemy.exc import DBAPIError, OperationalError

from bridge.whatsapp.parsing import parse_webhook
from bridge.whatsapp.signature import sign, signature_valid
from tests import slack_payloads as sp
from tests.conftest import _pg_exec
from tests.e2e.test_inbound_support import (
    SOPORTE,
    card_for,
    customer_text,
    slack_text_of,
    wa_ids,
    wait_customer_replies,
)
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.fuzz.stored import ingest_failures, pending_webhooks
from tests.harness import APP_SECRET, SIGNING_SECRET, Harness, env_for, eventually, running_traza
from traza import slack_gate


def _slack_headers(raw: bytes, stamp: str, content_type: str = "application/json") -> dict[str, str]:
    base = b"v0:" + stamp.encode() + b":" + raw
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def test_whatsapp_signature_with_non_ascii_characters_is_invalid_not_an_error() -> None:
    # hmac.compare_digest raises TypeError on non-ASCII text: it used to answer 500.
    assert not signature_valid(APP_SECRET, b"{}", "sha256=é")
    assert not signature_valid(APP_SECRET, b"{}", "sha256=" + "０" * 64)
    assert signature_valid(APP_SECRET, b"{}", sign(APP_SECRET, b"{}").upper().replace("SHA256=", "sha256="))


async def test_webhook_with_a_latin1_signature_header_gets_401(traza: Harness) -> None:
    raw = wp.serialize(customer_text("hola", wa_id=wa_ids()[0]))
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=ñ".encode("latin-1")}
    response = await traza.client.post("/whatsapp/webhook", content=raw, headers=headers)
    assert response.status_code == 401


async def test_a_content_length_of_thousands_of_digits_is_413_not_a_crash(traza: Harness) -> None:
    # int() of a string over 4300 digits raises ValueError: it used to answer 500.
    for path in ("/whatsapp/webhook", "/slack/events"):
        response = await traza.client.post(path, content=b"{}", headers={"Content-Length": "9" * 5000})
        assert response.status_code == 413, (path, response.text)


def test_slack_signature_check_refuses_bad_timestamps_signatures_and_stale_requests() -> None:
    now = time.time()
    raw = b'{"type":"url_verification"}'
    good = _slack_headers(raw, str(int(now)))
    assert slack_gate.signature_valid(
        SIGNING_SECRET, raw, good["X-Slack-Request-Timestamp"], good["X-Slack-Signature"], now
    )
    for stamp in ("", "abc", "1e9", "-5", "٣٣٣", "9" * 5000):  # slack_sdk raised ValueError on these
        assert not slack_gate.signature_valid(SIGNING_SECRET, raw, stamp, good["X-Slack-Signature"], now)
    assert not slack_gate.signature_valid(SIGNING_SECRET, raw, str(int(now)), "v0=ñ", now)  # was TypeError
    stale = _slack_headers(raw, str(int(now) - 301))
    assert not slack_gate.signature_valid(
        SIGNING_SECRET, raw, str(int(now) - 301), stale["X-Slack-Signature"], now
    )
    future = str(int(now) + 301)
    assert not slack_gate.signature_valid(
        SIGNING_SECRET, raw, future, _slack_headers(raw, future)["X-Slack-Signature"], now
    )


async def test_slack_request_with_a_non_numeric_timestamp_gets_401(traza: Harness) -> None:
    raw = b'{"type":"url_verification","challenge":"x"}'
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": "",
        "X-Slack-Signature": "v0=00",
    }
    response = await traza.client.post("/slack/events", content=raw, headers=headers)
    assert response.status_code == 401


async def test_signed_slack_body_that_is_not_utf8_gets_400_with_a_reason(traza: Harness) -> None:
    # slack_sdk's verifier decoded the body as UTF-8 first and raised: it used to answer 500.
    raw = b"\x80\x81payload"
    response = await traza.client.post(
        "/slack/events", content=raw, headers=_slack_headers(raw, str(int(time.time())))
    )
    assert response.status_code == 400
    assert "UTF-8" in response.json()["error"]


async def test_slack_streamed_body_is_not_read_past_the_limit(traza: Harness) -> None:
    pulled = 0

    async def endless():  # type: ignore[no-untyped-def]
        nonlocal pulled
        while pulled < 64 * slack_gate.MAX_SLACK_BODY:
            pulled += 65536
            yield b"x" * 65536

    response = await traza.client.post("/slack/events", content=endless())
    assert response.status_code == 413
    assert pulled <= slack_gate.MAX_SLACK_BODY + 2 * 65536


async def test_slash_command_whose_text_contains_the_word_payload_is_still_run(traza: Harness) -> None:
    # Bolt's own parser takes any form body containing "payload" for an interaction and drops it.
    fields = {
        "command": "/traza",
        "text": "help payload",
        "user_id": "U0AGENT001",
        "channel_id": "C0SOPORTE1",
    }
    raw = "&".join(f"{k}={v.replace(' ', '+').replace('/', '%2F')}" for k, v in fields.items()).encode()
    headers = _slack_headers(raw, str(int(time.time())), "application/x-www-form-urlencoded")
    response = await traza.client.post("/slack/events", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    assert "Traza commands" in response.json()["text"]


async def test_interaction_whose_user_is_not_an_object_gets_400_not_500(traza: Harness) -> None:
    payload = {"type": "block_actions", "user": 7, "actions": [{"action_id": "conv_claim", "value": "1000"}]}
    raw = ("payload=" + json.dumps(payload).replace(" ", "")).encode()
    headers = _slack_headers(raw, str(int(time.time())), "application/x-www-form-urlencoded")
    response = await traza.client.post("/slack/events", content=raw, headers=headers)
    assert response.status_code == 400
    assert "user" in response.json()["error"]


async def test_a_failing_slack_listener_answers_400_or_503_never_500() -> None:
    broken = await slack_gate.listener_failed(AttributeError("'int' object has no attribute 'get'"))
    assert broken.status == 400 and json.loads(broken.body)["error"]
    down = await slack_gate.listener_failed(OperationalError("SELECT 1", {}, Exception("connection refused")))
    assert down.status == 503


async def test_with_storage_down_signed_requests_get_the_documented_503_not_a_500(
    pg_url: str, fakes: tuple[FakeSlack, FakeGraph]
) -> None:
    slack, graph = fakes
    env = env_for(pg_url, slack, graph)
    async with running_traza(env, with_worker=False) as client:
        name = pg_url.rsplit("/", 1)[1]
        await _pg_exec(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await _pg_exec(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        try:
            raw = wp.serialize(customer_text("sin base", wa_id=wa_ids()[0]))
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": wp.sign(raw, APP_SECRET)}
            response = await client.post("/whatsapp/webhook", content=raw, headers=headers)
            assert response.status_code == 503, response.text
            event = json.dumps(
                sp.thread_reply("C0SOPORTE1", "1767268800.000100", "U0AGENT003", "hola")
            ).encode()
            response = await client.post(
                "/slack/events", content=event, headers=_slack_headers(event, str(int(time.time())))
            )
            assert response.status_code == 503, response.text
            assert "X-Slack-No-Retry" not in response.headers  # Slack must retry it
        finally:
            await _pg_exec(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_ids_longer_than_storage_holds_skip_their_update_instead_of_parking_the_webhook() -> None:
    # PostgreSQL refused a 201-character wamid (varchar 200) and the whole webhook was parked.
    body = wp.inbound_text_webhook("hola", wa_id="5491100000001", user_id=None)
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = "wamid." + "A" * 300
    parsed = parse_webhook(body)
    assert parsed.messages == [] and "longer than" in parsed.skipped[0].reason
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "1" * 41
    assert "longer than" in parse_webhook(body).skipped[0].reason


def test_a_sender_whose_from_has_no_digits_is_skipped_not_crashing_the_ingester() -> None:
    # contact_key raised ValueError on such a sender inside the ingester, parking the webhook.
    body = wp.inbound_text_webhook("hola", wa_id="5491100000001", user_id=None)
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"][0]["from"] = "abc"
    value["contacts"] = []
    parsed = parse_webhook(body)
    assert parsed.messages == [] and "sender missing" in parsed.skipped[0].reason


async def test_webhooks_with_odd_values_are_ingested_without_being_parked(traza: Harness) -> None:
    url = traza.settings.database_url
    long_name = customer_text("nombre largo", wa_id="5491100000002", name="N" * 5000)
    callback = wp.status_webhook(wp.new_wamid("OUT"), "delivered")
    callback["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = (
        "link:" + "9" * 40
    )
    for body in (long_name, callback):
        assert (await traza.webhook(body)).status_code == 200
    await eventually(lambda: _drained(url), what="the webhooks to be ingested")
    assert await ingest_failures(url) == []


async def _drained(url: str) -> bool:
    return await pending_webhooks(url) == 0


async def test_slack_ids_longer_than_storage_holds_get_400_with_a_reason(traza: Harness) -> None:
    fields = {"command": "/traza", "text": "help", "user_id": "U" * 300, "channel_id": "C0SOPORTE1"}
    raw = "&".join(f"{k}={v.replace('/', '%2F')}" for k, v in fields.items()).encode()
    headers = _slack_headers(raw, str(int(time.time())), "application/x-www-form-urlencoded")
    response = await traza.client.post("/slack/events", content=raw, headers=headers)
    assert response.status_code == 400 and "Slack id" in response.json()["error"]


def test_a_data_error_from_the_database_is_not_taken_for_storage_being_down() -> None:
    class TooLong(Exception):
        sqlstate = "22001"

    class Refused(Exception):
        sqlstate = "55000"

    assert not slack_gate.storage_down(DBAPIError("INSERT", {}, TooLong("value too long")))
    assert slack_gate.storage_down(DBAPIError("SELECT 1", {}, Refused("not accepting connections")))
    assert slack_gate.storage_down(OperationalError("SELECT 1", {}, Exception("database is locked")))


async def test_a_customer_message_with_a_nul_character_reaches_slack_instead_of_being_parked(
    traza: Harness,
) -> None:
    # PostgreSQL refuses U+0000 in text and JSON: the webhook used to be parked, the message lost.
    url = traza.settings.database_url
    body = customer_text("a\x00b", wa_id="5491100000003", name="x\x00y")
    assert (await traza.webhook(body)).status_code == 200
    await eventually(lambda: _drained(url), what="the webhook to be ingested")
    assert await ingest_failures(url) == []
    card = await card_for(traza.slack, SOPORTE, "5491100000003")
    replies = await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1)
    assert slack_text_of(replies[0]) == "a\ufffdb"


async def test_an_agent_reply_with_a_nul_character_is_recorded_not_refused(traza: Harness) -> None:
    wa_id = "5491100000004"
    assert (await traza.webhook(customer_text("hola", wa_id=wa_id))).status_code == 200
    thread = (await card_for(traza.slack, SOPORTE, wa_id))["ts"]
    await traza.agent_says(SOPORTE, thread, "U0AGENT003", "buen\x00día")  # asserts a 200
    sent = await eventually(lambda: traza.graph.sent_texts(), what="the reply to reach WhatsApp")
    assert "buen\ufffddía" in sent[0]
