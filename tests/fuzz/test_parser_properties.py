"""The Cloud API parser (``bridge.whatsapp.parsing``) under arbitrary input: for any decoded JSON it
returns typed updates or raises ``MalformedWebhook`` (an ``InvalidInput`` of the one error tree),
never a ``KeyError``/``TypeError``/``AttributeError`` — not even one hidden as a skipped update."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.errors import InvalidInput
from bridge.inbound import InboundMessage, ParsedWebhook, StatusUpdate, WebhookErrors
from bridge.whatsapp.parsing import MalformedWebhook, parse_webhook
from tests.fuzz.strategies import META_KEYS, json_values, mutated_webhooks, webhook_fixtures

MANY = settings(max_examples=settings.default.max_examples * 5)


def _parse_or_refuse(payload: Any) -> ParsedWebhook | None:
    try:
        parsed = parse_webhook(payload)
    except MalformedWebhook as exc:
        assert exc.reason, "a refusal names its reason"
        return None
    assert isinstance(parsed, ParsedWebhook)
    assert all(isinstance(m, InboundMessage) for m in parsed.messages)
    assert all(isinstance(s, StatusUpdate) for s in parsed.statuses)
    assert all(isinstance(e, WebhookErrors) for e in parsed.errors)
    hidden = [s for s in parsed.skipped if s.reason.startswith("parser error")]
    assert not hidden, f"a parser bug was swallowed as a skipped update: {hidden}"
    return parsed


def test_malformed_webhook_is_the_error_trees_invalid_input() -> None:
    assert issubclass(MalformedWebhook, InvalidInput)


@MANY
@given(json_values())
def test_any_json_value_is_parsed_or_refused_with_the_typed_error(payload: Any) -> None:
    _parse_or_refuse(payload)


@MANY
@given(json_values(META_KEYS, max_leaves=40))
def test_json_made_of_metas_keys_is_parsed_or_refused_with_the_typed_error(payload: Any) -> None:
    _parse_or_refuse(payload)


@MANY
@given(mutated_webhooks())
def test_mutated_real_webhooks_are_parsed_or_refused_with_the_typed_error(payload: Any) -> None:
    _parse_or_refuse(payload)


@MANY
@given(st.binary(max_size=200) | st.sampled_from([b"[" * 5000, b'{"entry":' * 3000]))
def test_bytes_either_fail_to_decode_or_parse_like_any_json(raw: bytes) -> None:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return
    _parse_or_refuse(payload)


def test_every_real_webhook_parses_without_skips() -> None:
    for doc in webhook_fixtures():
        parsed = _parse_or_refuse(doc)
        assert parsed is not None and parsed.update_count > 0, doc
