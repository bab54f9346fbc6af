"""The Slack app manifest declares exactly the surface the product serves (SPEC §4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "app_manifest.yml"
REQUEST_URL_SUFFIX = "/slack/events"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_metadata_and_identity(manifest: dict[str, Any]) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    assert manifest["display_information"]["name"] == "Traza"
    assert manifest["features"]["bot_user"]["display_name"] == "Traza"
    long_description = manifest["display_information"]["long_description"]
    assert 175 <= len(long_description) <= 4000
    assert len(manifest["display_information"]["description"]) <= 140


def test_app_home(manifest: dict[str, Any]) -> None:
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    assert home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is True


def test_slash_commands(manifest: dict[str, Any]) -> None:
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {"/claim", "/transfer", "/close", "/history", "/traza"}
    for command in commands.values():
        assert command["description"]
        assert command["usage_hint"]
    assert commands["/transfer"]["should_escape"] is True
    assert commands["/claim"]["usage_hint"] == "<ref|+phone>"
    for verb in ("claim", "transfer", "close", "reopen", "history", "search", "stats", "note"):
        assert verb in commands["/traza"]["usage_hint"]
    for verb in ("start", "tag", "away", "back", "help"):
        assert verb in commands["/traza"]["usage_hint"]


def test_message_shortcuts(manifest: dict[str, Any]) -> None:
    shortcuts = {s["callback_id"]: s for s in manifest["features"]["shortcuts"]}
    assert set(shortcuts) >= {
        "conv_claim_shortcut",
        "conv_transfer_shortcut",
        "conv_close_shortcut",
        "conv_reopen_shortcut",
        "conv_history_shortcut",
    }
    assert len(shortcuts) <= 10
    for shortcut in shortcuts.values():
        assert shortcut["type"] == "message"
        assert 0 < len(shortcut["name"]) <= 24
        assert 0 < len(shortcut["description"]) <= 150


def test_bot_events(manifest: dict[str, Any]) -> None:
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events >= {
        "message.channels",
        "message.groups",
        "app_mention",
        "app_home_opened",
        "member_joined_channel",
    }


def test_bot_scopes(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes))
    assert set(scopes) == {
        "chat:write",
        "chat:write.customize",
        "channels:history",
        "groups:history",
        "channels:read",
        "groups:read",
        "channels:join",
        "app_mentions:read",
        "commands",
        "files:read",
        "files:write",
        "reactions:write",
        "users:read",
    }


def test_interactivity_enabled(manifest: dict[str, Any]) -> None:
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"].get("socket_mode_enabled") is False


def test_every_request_url_is_the_bolt_endpoint(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    urls = [
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
        *(c["url"] for c in manifest["features"]["slash_commands"]),
    ]
    assert len(urls) == 7
    for url in urls:
        assert url.startswith("https://")
        assert url.endswith(REQUEST_URL_SUFFIX)
