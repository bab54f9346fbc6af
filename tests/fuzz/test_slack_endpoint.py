"""``POST /slack/events`` under hostile input, through the real app (Bolt included) on SQLite and
PostgreSQL+Redis: events, slash commands as form bodies, interactivity payloads, shortcuts and view
submissions, as arbitrary bytes, arbitrary JSON and mutated real payloads.

Properties: an unsigned or stale request gets 401 whatever it carries (the signature and Slack's
five-minute replay window are checked before the body is parsed); a signed request never gets a 5xx;
a signed but malformed one gets a 4xx with a reason and changes nothing stored; bodies over the limit
get 413 without being read to the end.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.stored import row_counts
from tests.fuzz.strategies import (
    SLACK_KEYS,
    form_body,
    interaction_payloads,
    json_values,
    mutated,
    mutated_forms,
    slack_json_fixtures,
)
from tests.harness import SIGNING_SECRET, Harness

PATH = "/slack/events"
LIMIT = 1024 * 1024
FORM = b"application/x-www-form-urlencoded"
header_bytes = st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b)
content_types = st.sampled_from([b"application/json", FORM, b"text/plain", b""]) | header_bytes


def signed(raw: bytes, content_type: bytes, *, ts: int | None = None) -> dict[str, Any]:
    """Slack's headers for ``raw``: the HMAC is over the raw bytes, UTF-8 or not."""
    stamp = str(int(time.time()) if ts is None else ts)
    base = b"v0:" + stamp.encode() + b":" + raw
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


async def _post(traza: Harness, raw: bytes, headers: dict[str, Any]) -> Any:
    return await traza.client.post(PATH, content=raw, headers=headers)


def _no_5xx(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text)


def _json_reason(response: Any) -> str:
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], response.text
    return str(body["error"])


events = st.sampled_from(slack_json_fixtures("event_")).flatmap(lambda doc: mutated(doc, SLACK_KEYS))
interactions = st.sampled_from(interaction_payloads()).flatmap(lambda doc: mutated(doc, SLACK_KEYS))
any_body = (
    st.binary(max_size=2000)
    | json_values(SLACK_KEYS).map(lambda v: json.dumps(v).encode())
    | events.map(lambda v: json.dumps(v).encode())
    | mutated_forms()
)


@given(
    raw=any_body,
    content_type=content_types,
    timestamp=st.none() | header_bytes | st.integers(-(2**70), 2**70).map(lambda n: str(n).encode()),
    signature=st.none() | header_bytes | st.sampled_from([b"v0=", b"v0=" + b"0" * 64, "v0=ñ".encode()]),
)
async def test_any_unsigned_request_gets_401_before_it_is_parsed(
    traza: Harness, raw: bytes, content_type: bytes, timestamp: bytes | None, signature: bytes | None
) -> None:
    headers: dict[str, Any] = {"Content-Type": content_type}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    response = await _post(traza, raw, headers)
    assert response.status_code == 401, (response.status_code, response.text)
    _json_reason(response)


@given(raw=any_body, age=st.integers(301, 10**9), future=st.booleans())
async def test_a_validly_signed_request_outside_the_replay_window_gets_401(
    traza: Harness, raw: bytes, age: int, future: bool
) -> None:
    ts = int(time.time()) + (age if future else -age)
    response = await _post(traza, raw, signed(raw, b"application/json", ts=ts))
    assert response.status_code == 401, (age, future, response.status_code, response.text)


@given(raw=any_body, content_type=content_types)
async def test_any_signed_request_never_gets_a_5xx(traza: Harness, raw: bytes, content_type: bytes) -> None:
    response = await _post(traza, raw, signed(raw, content_type))
    _no_5xx(response)


@given(payload=events | json_values(SLACK_KEYS, max_leaves=40))
async def test_signed_event_envelopes_never_get_a_5xx(traza: Harness, payload: Any) -> None:
    raw = json.dumps(payload).encode()
    _no_5xx(await _post(traza, raw, signed(raw, b"application/json")))


@given(raw=mutated_forms())
async def test_signed_slash_command_forms_never_get_a_5xx(traza: Harness, raw: bytes) -> None:
    _no_5xx(await _post(traza, raw, signed(raw, FORM)))


@given(
    payload=interactions
    | json_values(SLACK_KEYS, max_leaves=30).map(lambda v: {"type": "block_actions", "x": v})
)
async def test_signed_interactions_shortcuts_and_view_submissions_never_get_a_5xx(
    traza: Harness, payload: Any
) -> None:
    raw = form_body({"payload": json.dumps(payload)})
    _no_5xx(await _post(traza, raw, signed(raw, FORM)))


@given(
    raw=st.sampled_from(
        [b"{", b"[]", b'{"type":"nope"}', b'{"type":"event_callback","event":1}', b"payload=%7B"]
    )
    | st.binary(max_size=200).filter(lambda b: b.startswith(b"{") or b"=" not in b)
)
async def test_signed_malformed_request_gets_a_4xx_reason_and_changes_nothing_stored(
    traza: Harness, raw: bytes
) -> None:
    before = await row_counts(traza.settings.database_url)
    response = await _post(traza, raw, signed(raw, b"application/json"))
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    _json_reason(response)
    assert await row_counts(traza.settings.database_url) == before


class _Endless:
    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.pulled = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += self.chunk
            yield b"x" * self.chunk


async def test_streamed_body_over_the_limit_is_413_and_read_no_further_than_the_limit(traza: Harness) -> None:
    body = _Endless(256 * LIMIT)
    response = await traza.client.post(PATH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert body.pulled <= LIMIT + 2 * body.chunk, f"read {body.pulled} bytes of an oversized body"


async def test_signed_body_just_over_the_limit_is_413(traza: Harness) -> None:
    raw = b'{"type":"url_verification","challenge":"' + b"x" * LIMIT + b'"}'
    response = await _post(traza, raw, signed(raw, b"application/json"))
    assert response.status_code == 413
    _json_reason(response)


@given(declared=st.integers(LIMIT + 1, 2**63))
async def test_declared_length_over_the_limit_is_413(traza: Harness, declared: int) -> None:
    response = await _post(
        traza, b"{}", {"Content-Length": str(declared), "Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text


async def test_url_verification_still_answers_the_challenge(traza: Harness) -> None:
    raw = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"}).encode()
    response = await _post(traza, raw, signed(raw, b"application/json"))
    assert response.status_code == 200 and "abc123" in response.text
