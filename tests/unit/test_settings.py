"""Settings and ``traza.yml``: one clear line per problem, naming the setting or key; secrets masked."""

from __future__ import annotations

import logging

import pytest

from bridge.config import ConfigError, load_config
from traza.logs import SecretMask
from traza.settings import Settings, SettingsError

CREDS = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "s3cr3t-sign",
    "WHATSAPP_ACCESS_TOKEN": "EAAtoken",
    "WHATSAPP_APP_SECRET": "app-secret-1",
    "WHATSAPP_VERIFY_TOKEN": "verify-1",
}


def test_defaults_are_the_embedded_ones() -> None:
    settings = Settings.from_env({}, env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///./traza.db"
    assert (settings.host, settings.port, settings.slack_pace) == ("127.0.0.1", 8000, 1.0)
    assert settings.redis_url is None and settings.api_token is None
    assert settings.graph_api_url == "https://graph.facebook.com/v25.0"
    assert settings.slack_api_url == "https://slack.com/api/"


def test_each_missing_credential_is_one_line_naming_it() -> None:
    missing = Settings.from_env({}, env_file=None).missing_for_serve()
    assert [line.split()[0] for line in missing] == list(CREDS)
    assert Settings.from_env(CREDS, env_file=None).missing_for_serve() == []


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TRAZA_PORT": "http"}, "TRAZA_PORT"),
        ({"TRAZA_PORT": "70000"}, "TRAZA_PORT"),
        ({"TRAZA_SLACK_PACE": "-1"}, "TRAZA_SLACK_PACE"),
        ({"TRAZA_DATABASE_URL": "mysql://x"}, "TRAZA_DATABASE_URL"),
        ({"TRAZA_REDIS_URL": "http://u:pw@x"}, "TRAZA_REDIS_URL"),
        ({"TRAZA_GRAPH_API_URL": "graph.facebook.com"}, "TRAZA_GRAPH_API_URL"),
    ],
)
def test_malformed_settings_stop_with_a_line_naming_them(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env, env_file=None)
    assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith(named)
    assert "pw" not in caught.value.problems[0]


def test_database_urls_are_normalised_to_the_async_drivers() -> None:
    assert Settings.from_env({"TRAZA_DATABASE_URL": "postgresql://u@h/db"}, env_file=None).database_url == (
        "postgresql+asyncpg://u@h/db"
    )
    assert Settings.from_env({"TRAZA_DATABASE_URL": "sqlite:///x.db"}, env_file=None).is_sqlite


def test_secrets_are_masked_in_log_records() -> None:
    settings = Settings.from_env({**CREDS, "TRAZA_DATABASE_URL": "postgresql://u:dbpass@h/db"}, env_file=None)
    assert "dbpass" in settings.secrets() and "s3cr3t-sign" in settings.secrets()
    assert "s3cr3t-sign" not in repr(settings)
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "token %s and %s", ("EAAtoken", "dbpass"), None
    )
    SecretMask(settings.secrets()).filter(record)
    assert record.getMessage() == "token *** and ***"


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"teams": []}, "teams"),
        ({"teams": [{"id": "a", "name": "A"}], "routing": {"default_team": "a"}}, "teams[0].slack_channel"),
        (
            {"teams": [{"id": "a", "name": "A", "slack_channel": "C0AAA"}], "routing": {"default_team": "b"}},
            "routing.default_team",
        ),
        (
            {
                "teams": [{"id": "a", "name": "A", "slack_channel": "C0AAA", "members": ["bob"]}],
                "routing": {"default_team": "a"},
            },
            "teams[0].members[0]",
        ),
        (
            {
                "teams": [{"id": "a", "name": "A", "slack_channel": "C0AAA"}],
                "routing": {"default_team": "a"},
                "stamp": "{agent}: hi",
            },
            "stamp",
        ),
        (
            {
                "teams": [{"id": "a", "name": "A", "slack_channel": "C0AAA"}],
                "routing": {"default_team": "a"},
                "numbers": [{"phone_number_id": "123", "default_team": "zz"}],
            },
            "numbers[0].default_team",
        ),
        (
            {
                "teams": [{"id": "a", "name": "A", "slack_channel": "C0AAA"}],
                "routing": {"default_team": "a"},
                "language": "fr",
            },
            "language",
        ),
    ],
)
def test_config_errors_name_the_key(doc: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(doc)
    assert any(p.startswith(f"{key}:") for p in caught.value.problems), caught.value.problems
