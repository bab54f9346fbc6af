"""One focused test per bug the fuzz suite found, so each stays fixed even if the generators change."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from sqlalchemy.exc import OperationalError

from bridge.whatsapp.signature import sign, signature_valid
from tests import slack_payloads as sp
from tests.conftest import _pg_exec
from tests.e2e.test_inbound_support import customer_text, wa_ids
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import APP_SECRET, SIGNING_SECRET, Harness, env_for, running_traza
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
