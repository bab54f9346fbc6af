"""The pure parts of outbound webhooks and CRM enrichment: the traza.yml sections and their errors,
the signature recipe, how answers are classified, backoff, Retry-After, field paths and lookup URLs."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from bridge.config import ConfigError, load_config
from bridge.enrichment import LookupSubject, extract_facts, lookup_url
from bridge.integrations import field_path
from bridge.webhooks import (
    EventRecord,
    Outcome,
    backoff,
    classify,
    envelope,
    headers,
    retry_after,
    sign,
    verify_signature,
)
from tests.harness import CONFIG_PATH
from traza.settings import Settings

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def config(**sections: Any) -> Any:
    data = yaml.safe_load(CONFIG_PATH.read_text())
    data.update(sections)
    return load_config(data)


def problems(**sections: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config(**sections)
    return caught.value.problems


def test_webhooks_and_enrichment_sections_load_with_their_defaults() -> None:
    loaded = config(
        webhooks=[
            {"url": "https://crm.example/traza", "secret_env": "CRM_HOOK_SECRET"},
            {
                "id": "tickets",
                "url": "https://tickets.example/in",
                "secret_env": "TICKETS_SECRET",
                "events": ["ConversationClosed"],
                "teams": ["ventas"],
                "max_age_days": 1,
            },
        ],
        enrichment={
            "url": "https://crm.example/lookup?phone={phone}",
            "token_env": "CRM_TOKEN",
            "fields": {"account": "$.account.name", "owner": "owner"},
        },
    )
    crm, tickets = loaded.webhooks
    assert crm.id == "crm.example" and crm.events is None and crm.teams is None and crm.max_age_days == 3
    assert crm.wants("CustomerMessageReceived", None)
    assert tickets.wants("ConversationClosed", "ventas")
    assert not tickets.wants("ConversationClosed", "soporte") and not tickets.wants(
        "ConversationClosed", None
    )
    assert not tickets.wants("ConversationOpened", "ventas")
    assert loaded.enrichment is not None and loaded.enrichment.timeout_seconds == 2.0
    assert loaded.secret_env_names() == ["CRM_HOOK_SECRET", "TICKETS_SECRET", "CRM_TOKEN"]


def test_bad_webhook_entries_are_named_by_key_path() -> None:
    found = problems(
        webhooks=[
            {"url": "ftp://x", "secret_env": "S"},
            {"url": "https://a.example", "secret_env": "whsec_literal-secret"},
            {"url": "https://b.example", "secret_env": "B", "events": ["Nope"]},
            {"url": "https://c.example"},
        ]
    )
    assert "webhooks[0].url: must start with http:// or https://" in found
    assert any(p.startswith("webhooks[1].secret_env: must be an environment variable name") for p in found)
    assert "webhooks[2].events: unknown event type(s) ['Nope']" in found
    assert any(p.startswith("webhooks[3].secret_env: required") for p in found)


def test_webhook_teams_must_be_configured_teams() -> None:
    found = problems(webhooks=[{"url": "https://b.example", "secret_env": "B", "teams": ["nadie"]}])
    assert found == ["webhooks[0].teams: unknown team(s) ['nadie']"]


def test_a_default_id_is_the_host_so_no_token_in_the_path_reaches_logs() -> None:
    loaded = config(webhooks=[{"url": "https://u:p@hooks.example:8443/T0/B0/tok3n?x=1", "secret_env": "S"}])
    assert loaded.webhooks[0].id == "hooks.example-8443"


def test_duplicate_webhook_ids_are_refused() -> None:
    hook = {"id": "crm", "url": "https://b.example", "secret_env": "B"}
    assert problems(webhooks=[hook, hook]) == [
        "webhooks[1].id: duplicate webhook id 'crm' (give each endpoint its own id)"
    ]


def test_bad_enrichment_is_named_by_key_path() -> None:
    found = problems(
        enrichment={
            "url": "https://crm.example/lookup?email={email}",
            "timeout_seconds": 0,
            "fields": {"account": "a..b", "Bad Name": "x"},
        }
    )
    assert any(p.startswith("enrichment.url: unknown placeholder(s) ['email']") for p in found)
    assert any(p.startswith("enrichment.timeout_seconds:") for p in found)
    assert any(p.startswith("enrichment.fields.account:") for p in found)
    assert any(p.startswith("enrichment.fields.Bad Name:") for p in found)


def test_field_paths_read_dotted_keys_list_indexes_and_scalars_only() -> None:
    doc = {
        "account": {"name": " Acme "},
        "owners": [{"email": "ana@x"}],
        "vip": True,
        "score": 7,
        "tags": ["a"],
    }
    fields = (
        ("account", "$.account.name"),
        ("owner", "owners.0.email"),
        ("vip", "vip"),
        ("score", "score"),
        ("tags", "tags"),
        ("missing", "owners.5.email"),
        ("deep", "account.name.first"),
    )
    assert extract_facts(doc, fields) == {"account": "Acme", "owner": "ana@x", "vip": "yes", "score": "7"}
    assert field_path("$.a.b") == ("a", "b") and field_path("a..b") == () and field_path("$") == ()


def test_lookup_url_encodes_the_phone_and_needs_one() -> None:
    subject = LookupSubject(1, 1042, 7, "5215512345678", "ventas")
    assert lookup_url("https://crm/x?phone={phone}&ref={ref}", subject) == (
        "https://crm/x?phone=%2B5215512345678&ref=1042"
    )
    assert lookup_url("https://crm/x/{wa_id}", subject) == "https://crm/x/5215512345678"
    no_phone = LookupSubject(1, 1042, 7, None, "ventas")
    assert lookup_url("https://crm/x?phone={phone}", no_phone) is None
    assert lookup_url("https://crm/x?ref={ref}", no_phone) == "https://crm/x?ref=1042"


def record(payload: dict[str, Any] | None = None) -> EventRecord:
    return EventRecord(
        42, "ConversationClaimed", NOW, 1042, "ventas", "106540352242922", "U0AGENT001", payload
    )


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = envelope(record({"user": "U0AGENT001"}))
    expected = hmac.new(b"s3cret", b"1795700000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1795700000, body) == f"sha256={expected}"
    sent = headers("s3cret", record(), body, 2, NOW)
    assert sent["Idempotency-Key"] == "42" and sent["X-Traza-Attempt"] == "2"
    ts, sig = sent["X-Traza-Timestamp"], sent["X-Traza-Signature"]
    assert verify_signature("s3cret", body, ts, sig, NOW.timestamp())
    assert not verify_signature("other", body, ts, sig, NOW.timestamp())
    assert not verify_signature("s3cret", body + b" ", ts, sig, NOW.timestamp())
    assert not verify_signature("s3cret", body, ts, sig, NOW.timestamp() + 301), "a replay later is refused"


def test_the_body_is_stable_and_an_erased_payload_stays_erased() -> None:
    assert envelope(record({"b": 1, "a": 2})) == envelope(record({"a": 2, "b": 1}))
    erased = envelope(record(None))
    assert b'"payload":null' in erased and b'"erased":true' in erased
    assert b'"time":"2026-11-26T12:00:00Z"' in erased


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (408, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (301, Outcome.DEAD),
        (400, Outcome.DEAD),
        (401, Outcome.DEAD),
        (404, Outcome.DEAD),
        (410, Outcome.DEAD),
    ],
)
def test_answers_are_delivered_retried_or_dead_lettered(status: int, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    assert 0.8 <= backoff(1) <= 1.2 and 1.6 <= backoff(2) <= 2.4 and 6.4 <= backoff(4) <= 9.6
    assert backoff(40) <= 3600 * 1.2


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("7", NOW) == 7.0
    later = (NOW + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after(later, NOW) == pytest.approx(30, abs=1)
    assert retry_after("soon", NOW) is None and retry_after(None, NOW) is None


def test_secrets_named_by_traza_yml_come_from_the_environment_and_stay_out_of_repr() -> None:
    settings = Settings.from_env({"CRM_HOOK_SECRET": "whsec-very-secret", "OTHER": "x"}, env_file=None)
    assert settings.named_secrets(["CRM_HOOK_SECRET", "MISSING"]) == {"CRM_HOOK_SECRET": "whsec-very-secret"}
    assert settings.missing_named(["CRM_HOOK_SECRET", "MISSING"])[0].startswith("MISSING is not set")
    assert "whsec-very-secret" not in repr(settings)


def test_serve_and_worker_refuse_to_start_naming_a_missing_secret_variable() -> None:
    from traza.cli import StartupError
    from traza.commands_cli import _require_credentials

    loaded = config(
        webhooks=[{"url": "https://crm.example/in", "secret_env": "CRM_HOOK_SECRET"}],
        enrichment={
            "url": "https://crm.example/q?phone={phone}",
            "token_env": "CRM_TOKEN",
            "fields": {"a": "a"},
        },
    )
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "WHATSAPP_ACCESS_TOKEN": "t",
        "WHATSAPP_APP_SECRET": "a",
        "WHATSAPP_VERIFY_TOKEN": "v",
        "CRM_TOKEN": "crm-token-value",
    }
    with pytest.raises(StartupError) as caught:
        _require_credentials(Settings.from_env(env, env_file=None), loaded)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("CRM_HOOK_SECRET is not set")
    _require_credentials(Settings.from_env({**env, "CRM_HOOK_SECRET": "whsec-1234"}, env_file=None), loaded)
