"""``POST /whatsapp/webhook`` under hostile input, through the real app on SQLite and PostgreSQL+Redis.

Properties: the signature is checked before anything is parsed (any unsigned body gets 401, never
400); a signed body gets 200 or a 4xx with a JSON reason, never a 5xx; the content type does not
matter; bodies over the limit get 413 without the whole body being read; a signed but malformed body
stores nothing and loses nothing already stored; whatever was accepted is ingested without error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.e2e.test_inbound_support import SOPORTE, card_for, customer_text, wa_ids
from tests.fakes import whatsapp_payloads as wp
from tests.fuzz.stored import ingest_failures, pending_webhooks, row_counts
from tests.fuzz.strategies import META_KEYS, json_values, mutated_webhooks
from tests.harness import APP_SECRET, Harness, eventually

PATH = "/whatsapp/webhook"
LIMIT = 4 * 1024 * 1024
header_bytes = st.binary(max_size=80).filter(lambda b: b"\r" not in b and b"\n" not in b)
content_types = (
    st.sampled_from(
        [
            b"application/json",
            b"text/plain",
            b"application/x-www-form-urlencoded",
            b"",
            b"multipart/form-data; b=x",
        ]
    )
    | header_bytes
)


def _reason(response: Any) -> str:
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], response.text
    return str(body["error"])


async def _post(traza: Harness, raw: bytes, headers: dict[str, Any]) -> Any:
    return await traza.client.post(PATH, content=raw, headers=headers)


@given(
    raw=st.binary(max_size=3000) | json_values(META_KEYS).map(lambda v: json.dumps(v).encode()),
    signature=st.none()
    | header_bytes
    | st.sampled_from([b"sha256=", b"sha256=" + b"0" * 64, "sha256=é".encode()]),
    content_type=content_types,
)
async def test_any_unsigned_body_gets_401_before_it_is_parsed(
    traza: Harness, raw: bytes, signature: bytes | None, content_type: bytes
) -> None:
    headers: dict[str, Any] = {"Content-Type": content_type}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = await _post(traza, raw, headers)
    assert response.status_code == 401, (response.status_code, response.text)
    assert "signature" in _reason(response).lower()


@given(raw=st.binary(max_size=3000), content_type=content_types)
async def test_any_signed_bytes_get_200_or_a_4xx_reason(
    traza: Harness, raw: bytes, content_type: bytes
) -> None:
    response = await _post(
        traza, raw, {"Content-Type": content_type, "X-Hub-Signature-256": wp.sign(raw, APP_SECRET)}
    )
    assert response.status_code in (200, 400), (response.status_code, response.text)
    if response.status_code == 400:
        _reason(response)


@given(payload=json_values(META_KEYS, max_leaves=40) | mutated_webhooks() | mutated_webhooks())
async def test_any_signed_json_gets_200_or_a_4xx_reason_and_what_is_accepted_ingests_cleanly(
    traza: Harness, payload: Any
) -> None:
    url = traza.settings.database_url
    response = await traza.webhook(json.dumps(payload).encode())
    assert response.status_code in (200, 400), (response.status_code, response.text)
    if response.status_code == 400:
        _reason(response)
        return
    await eventually(lambda: _drained(url), what="the worker to ingest the accepted webhook")
    assert await ingest_failures(url) == [], "the ingester failed on a webhook the endpoint accepted"


async def _drained(url: str) -> bool:
    return await pending_webhooks(url) == 0


@given(
    raw=st.sampled_from([b"{not json", b"", b"[]", b"null", b'{"object":"page","entry":[]}', b'{"entry":{}}'])
    | st.binary(max_size=200).filter(lambda b: not b.strip().startswith((b"{", b"[")))
    | json_values().filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode())
)
async def test_signed_malformed_body_gets_a_clear_4xx_and_loses_nothing_stored(
    traza: Harness, raw: bytes
) -> None:
    before = await row_counts(traza.settings.database_url)
    response = await traza.webhook(raw)
    assert response.status_code == 400, (response.status_code, response.text)
    reason = _reason(response)
    assert "JSON" in reason or "WhatsApp" in reason, reason
    after = await row_counts(traza.settings.database_url)
    assert after["webhook_inbox"] == before["webhook_inbox"], "a malformed body was stored"
    assert all(after[name] >= count for name, count in before.items()), (before, after)


async def test_malformed_bodies_after_a_real_message_leave_its_conversation_intact(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    assert (await traza.webhook(customer_text("antes del ruido", wa_id=wa_id))).status_code == 200
    await card_for(traza.slack, SOPORTE, wa_id)
    await eventually(lambda: _drained(traza.settings.database_url), what="the first webhook to be ingested")
    before = await row_counts(traza.settings.database_url)
    for raw in (b"{", b"[]", b'{"object":"whatsapp_business_account"}', b'{"entry":[1]}', b"\xff" * 10):
        assert (await traza.webhook(raw)).status_code == 400
    after = await row_counts(traza.settings.database_url)
    assert after["webhook_inbox"] == before["webhook_inbox"], "a malformed body was stored"
    # The worker may still record the card's own events meanwhile: nothing may disappear.
    assert all(after[name] >= count for name, count in before.items()), (before, after)


@given(content_type=content_types)
async def test_the_content_type_does_not_decide_whether_a_real_webhook_is_accepted(
    traza: Harness, content_type: bytes
) -> None:
    raw = wp.serialize(customer_text("tipo de contenido", wa_id=wa_ids()[0]))
    response = await _post(
        traza, raw, {"Content-Type": content_type, "X-Hub-Signature-256": wp.sign(raw, APP_SECRET)}
    )
    assert response.status_code == 200, (content_type, response.text)


class _Endless:
    """A streamed body of ``total`` bytes that counts how much of it the server pulled."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.pulled = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += self.chunk
            yield b"x" * self.chunk


async def test_streamed_body_over_the_limit_is_413_and_read_no_further_than_the_limit(traza: Harness) -> None:
    for signature in (None, "sha256=" + "0" * 64):
        body = _Endless(64 * LIMIT)
        headers = {"Content-Type": "application/json"} | (
            {"X-Hub-Signature-256": signature} if signature else {}
        )
        response = await traza.client.post(PATH, content=body, headers=headers)
        assert response.status_code == 413, response.text
        assert body.pulled <= LIMIT + 2 * body.chunk, f"read {body.pulled} bytes of an oversized body"


@given(declared=st.integers(LIMIT + 1, 2**63))
async def test_declared_length_over_the_limit_is_413_whatever_the_signature(
    traza: Harness, declared: int
) -> None:
    response = await _post(
        traza, b"{}", {"Content-Length": str(declared), "Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text


@given(
    params=st.dictionaries(
        st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge", "x"]) | st.text(max_size=10),
        st.text(max_size=40),
        max_size=4,
    )
)
async def test_the_verification_handshake_answers_200_or_403_to_any_query(
    traza: Harness, params: dict[str, str]
) -> None:
    response = await traza.client.get(PATH, params=params)
    assert response.status_code in (200, 403), (response.status_code, response.text)
    if response.status_code == 200:
        assert (
            params.get("hub.mode") == "subscribe"
            and params.get("hub.verify_token") == traza.settings.whatsapp_verify_token
        )
