"""The manifest, the command registry and the Bolt listeners stay in step, and parsing is forgiving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import commands
from commands.moves import parse_agent
from commands.registry import split_args

MANIFEST = yaml.safe_load((Path(__file__).parents[2] / "app_manifest.yml").read_text())
SPEC_VERBS = {"claim", "transfer", "close", "reopen", "history", "search", "stats", "note", "start", "help"}
TEAM_VERBS = {"tag", "away", "back"}  # issue 5: labels and being away from automatic assignment


def test_every_manifest_command_is_in_the_registry_and_back() -> None:
    manifest = {c["command"] for c in MANIFEST["features"]["slash_commands"]}
    assert manifest == set(commands.ALL_COMMANDS)


def test_the_traza_verbs_are_the_spec_list_and_the_team_verbs() -> None:
    assert set(commands.VERBS) == SPEC_VERBS | TEAM_VERBS


def test_every_verb_is_in_the_manifest_usage_hint_and_the_help() -> None:
    hint = next(c for c in MANIFEST["features"]["slash_commands"] if c["command"] == "/traza")["usage_hint"]
    listed = set(hint.strip("<> .").split(">")[0].split("|"))
    assert listed == set(commands.VERBS)
    for name in commands.VERBS:
        assert f"/traza {name}" in commands.help_text()


def test_every_manifest_shortcut_has_a_listener_and_back() -> None:
    from bot.slack_app import SHORTCUT_CALLBACK_IDS

    assert {s["callback_id"] for s in MANIFEST["features"]["shortcuts"]} == set(SHORTCUT_CALLBACK_IDS)


def test_every_card_button_has_a_listener() -> None:
    from bot.cards import card_message
    from bot.slack_app import BUTTON_ACTION_IDS
    from bridge.domain import ConversationState
    from tests.unit.test_cards import NOW, make_view

    for state in ConversationState:
        card = card_message(make_view(state), NOW)
        actions = [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert set(actions) <= set(BUTTON_ACTION_IDS)


class NoDesk:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the desk must not be called for bad input ({name})")


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/claim", "", "Usage: `/traza claim"),
        ("/transfer", "1042", "Usage: `/traza transfer"),
        ("/transfer", "1042 @ana", "mention the agent"),
        ("/close", "nope", "not a conversation number"),
        ("/history", "", "Usage: `/traza history"),
        ("/history", "hello", "neither +phone nor a conversation number"),
        ("/traza", "", "Traza commands"),
        ("/traza", "fly away", "Unknown verb `fly`"),
        ("/traza", "search", "Usage: `/traza search"),
        ("/traza", "stats ventas 7d extra", "unexpected 'extra'"),
        ("/traza", "note 1042", "Usage: `/traza note"),
        ("/traza", "start", "Usage: `/traza start"),
        ("/traza", "tag 1042", "Usage: `/traza tag"),
        ("/traza", "tag", "Usage: `/traza tag"),
        ("/traza", "away now", "unexpected 'now'"),
        ("/traza", "back later", "unexpected 'later'"),
        ("/nope", "", "Unknown command"),
    ],
)
async def test_bad_input_gets_a_usage_line_without_touching_anything(
    command: str, text: str, expected: str
) -> None:
    answer = await commands.run(NoDesk(), command, text, "U0AGENT001", "C0SOPORTE1")  # type: ignore[arg-type]
    assert expected in answer


def test_a_phone_typed_with_spaces_is_one_argument() -> None:
    assert split_args("+54 9 11 5555-1234 seguimiento Ana") == ["+549115555-1234", "seguimiento", "Ana"]
    assert split_args('1042 ventas "cliente quiere comprar"') == ["1042", "ventas", "cliente quiere comprar"]


def test_agents_are_read_from_escaped_mentions() -> None:
    assert parse_agent("<@U0AGENT001|ana>") == "U0AGENT001"
    assert parse_agent("<@U0AGENT001>") == "U0AGENT001"
    assert parse_agent("ventas") is None
