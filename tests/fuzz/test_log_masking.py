"""Secrets never reach the logs, and phone numbers are masked unless ``TRAZA_LOG_MASK_PHONES=0``.

Properties of ``traza.logs.SecretMask`` over arbitrary text, format arguments and exceptions, then a
real ``traza serve`` at DEBUG level fed hostile requests and remote errors that echo credentials,
whose log is grepped for every secret and for the phone-like numbers it must have masked.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from tests import slack_payloads as sp
from tests.e2e.test_crash import free_port, post, start
from tests.e2e.test_inbound_support import SOPORTE
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import APP_SECRET, GRAPH_TOKEN, SIGNING_SECRET, SLACK_TOKEN, VERIFY_TOKEN, env_for
from traza.logs import SecretMask, mask_phones
from traza.settings import Settings, SettingsError

SECRETS = ["EAAG-graph-token-123", "xoxb-1-2-abcdef", "sign-s3cr3t", "p@ss/w0rd:x", "api-token-abcdef"]
API_TOKEN = "api-token-for-the-log-test"


def _emit(mask: SecretMask, msg: str, args: tuple[object, ...], exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(mask)
    logger = logging.Logger("t")
    logger.addHandler(handler)
    if exc is None:
        logger.error(msg, *args)
    else:
        try:
            raise RuntimeError("wrapped") from exc
        except RuntimeError:
            logger.exception(msg, *args)
    return stream.getvalue()


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(before=text, after=text, secret=st.sampled_from(SECRETS), where=st.sampled_from(["msg", "arg", "exc"]))
def test_a_configured_secret_is_masked_wherever_it_appears(
    before: str, after: str, secret: str, where: str
) -> None:
    mask = SecretMask(SECRETS)
    carrier = before + secret + after
    if where == "msg":
        out = _emit(mask, carrier.replace("%", "%%"), ())
    elif where == "arg":
        out = _emit(mask, "value %s", (carrier,))
    else:
        out = _emit(mask, "failed", (), exc=ValueError(carrier))
    assert secret not in out, out


def test_percent_encoded_and_decoded_forms_of_a_secret_are_masked() -> None:
    settings = Settings.from_env({"TRAZA_DATABASE_URL": "postgresql://u:p%40ss%2Fw0rd@h/db"}, env_file=None)
    out = _emit(SecretMask(settings.secrets()), "url %s and raw %s", ("u:p%40ss%2Fw0rd@h", "p@ss/w0rd"))
    assert "p%40ss%2Fw0rd" not in out and "p@ss/w0rd" not in out, out


def test_credentials_are_masked_even_when_they_are_not_the_configured_ones() -> None:
    mask = SecretMask([])
    out = _emit(
        mask,
        "%s | %s | %s | %s",
        (
            "headers: {'Authorization': 'Bearer EAAGrotatedTOKEN1234'}",
            "slack said invalid_auth for xoxb-9999-8888-rotated",
            "GET https://graph.example/v25.0/123?access_token=EAAGquery123456&fields=id",
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
        ),
    )
    for leaked in ("EAAGrotatedTOKEN1234", "xoxb-9999", "EAAGquery123456", "dXNlcjpwYXNzd29yZA=="):
        assert leaked not in out, out
    assert "Bearer ***" in out and "access_token=***" in out
    assert (
        _emit(mask, "use basic auth with a bearer of news", ()).strip()
        == "use basic auth with a bearer of news"
    )


def test_a_log_call_with_wrong_arguments_does_not_raise_into_the_caller() -> None:
    logger = logging.Logger("t")
    logger.addHandler(logging.StreamHandler(io.StringIO()))
    logger.handlers[0].addFilter(SecretMask(SECRETS))
    logging.raiseExceptions = False
    try:
        logger.error("two %s %s", "only-one")  # used to raise TypeError out of the filter
    finally:
        logging.raiseExceptions = True


def test_phone_numbers_are_masked_keeping_the_last_four_digits() -> None:
    assert mask_phones("from +5491100000009 and 16505551234.") == "from +*********0009 and *******1234."
    untouched = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz ts 1767268800.000100 ref 1042 job 1234567 x_16505551234"
    assert mask_phones(untouched) == untouched
    assert mask_phones("12345678901234567890") == "12345678901234567890"  # longer than E.164: not a phone


def test_phone_masking_is_on_by_default_and_can_be_turned_off() -> None:
    assert Settings.from_env({}, env_file=None).log_mask_phones is True
    assert Settings.from_env({"TRAZA_LOG_MASK_PHONES": "0"}, env_file=None).log_mask_phones is False
    assert Settings.from_env({"TRAZA_LOG_MASK_PHONES": "On"}, env_file=None).log_mask_phones is True
    with pytest.raises(SettingsError, match="TRAZA_LOG_MASK_PHONES"):
        Settings.from_env({"TRAZA_LOG_MASK_PHONES": "maybe"}, env_file=None)
    plain = _emit(SecretMask([], phones=False), "customer %s", ("+5491100000009",))
    masked = _emit(SecretMask([], phones=True), "customer %s", ("+5491100000009",))
    assert "+5491100000009" in plain and "+5491100000009" not in masked and "0009" in masked


@pytest.mark.slow
def test_a_debug_serve_log_under_hostile_requests_and_echoing_remote_errors_holds_no_secret(
    database_url: str, fakes: tuple[FakeSlack, FakeGraph], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    slack, graph = fakes
    extra = {"TRAZA_PORT": str(free_port()), "TRAZA_LOG_LEVEL": "DEBUG", "TRAZA_API_TOKEN": API_TOKEN}
    if database_url.startswith("postgresql"):
        extra["TRAZA_REDIS_URL"] = request.getfixturevalue("redis_url")
    env = env_for(database_url, slack, graph, **extra)
    port = env["TRAZA_PORT"]
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    echo = f"bad token {GRAPH_TOKEN}; Authorization: Bearer EAAGforeign0123456 xoxb-7-7-foreign"
    graph.fail_next("send", 131000, times=3, http_status=500, details=echo)  # an error quoting credentials
    process = start(env, log)
    try:
        assert post(port, wp.errors_webhook())  # logged with the business number's id
        assert post(port, wp.inbound_text_webhook("hola", wa_id="5491100000777", user_id=None))
        _agent_replies(base, slack)  # its send fails with the echoing error, which the worker logs
        for headers in (
            {"Authorization": "Bearer wrong-token-123456"},
            {"Authorization": f"Bearer {API_TOKEN}"},
        ):
            httpx.get(f"{base}/api/conversations", headers=headers, timeout=5)
        httpx.post(
            f"{base}/slack/events", content=b"{}", headers={"X-Slack-Signature": "v0=ñ".encode()}, timeout=5
        )
        httpx.post(
            f"{base}/whatsapp/webhook",
            content=b"{}",
            headers={"X-Hub-Signature-256": "é".encode()},
            timeout=5,
        )
        deadline = time.monotonic() + 20
        while not {"***********2922", "bad token"} <= set(_words(log)) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    logged = log.read_text()
    for secret in (APP_SECRET, SIGNING_SECRET, SLACK_TOKEN, GRAPH_TOKEN, VERIFY_TOKEN, API_TOKEN):
        assert secret not in logged, f"{secret!r} reached the logs"
    for foreign in ("EAAGforeign0123456", "xoxb-7-7-foreign", "wrong-token-123456"):
        assert foreign not in logged
    assert wp.PHONE_NUMBER_ID not in logged and "***********2922" in logged, logged[-3000:]
    assert "bad token ***" in logged, "the remote error quoting the token was logged (masked)"
    assert "5491100000777" not in logged


def _agent_replies(base: str, slack: FakeSlack) -> None:
    deadline = time.monotonic() + 20
    while not (cards := slack.messages_in(SOPORTE)):
        assert time.monotonic() < deadline, "no card was posted"
        time.sleep(0.1)
    thread = str(cards[0]["ts"])
    ts = slack.inject_message(SOPORTE, "buen día", user="U0AGENT003", thread_ts=thread)
    raw = json.dumps(sp.thread_reply(SOPORTE, thread, "U0AGENT003", "buen día", ts=ts)).encode()
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=raw)
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    assert httpx.post(f"{base}/slack/events", content=raw, headers=headers, timeout=5).status_code == 200


def _words(log: Path) -> list[str]:
    text = log.read_text()
    return [w for w in ("***********2922", "bad token") if w in text]
