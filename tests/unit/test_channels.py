"""A large team spreads its conversations over several Slack channels."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import yaml

from bridge.channels import pick_channel
from bridge.config import ConfigError, load_config

CONFIG = """
teams:
  - id: ventas
    name: Ventas
    slack_channels: [C0VENTAS01, C0VENTAS02, C0VENTAS03]
  - id: soporte
    name: Soporte
    slack_channel: C0SOPORTE1
    slack_channels: [C0SOPORTE2]
    distribute: round_robin
routing:
  default_team: soporte
"""


def load(**team_changes: Any) -> Any:
    data = yaml.safe_load(CONFIG)
    data["teams"][0].update(team_changes)
    return load_config(data)


def test_slack_channels_and_the_older_slack_channel_are_both_accepted() -> None:
    config = load()
    ventas, soporte = config.teams
    assert ventas.slack_channels == ("C0VENTAS01", "C0VENTAS02", "C0VENTAS03")
    assert ventas.slack_channel == "C0VENTAS01"
    assert soporte.slack_channels == ("C0SOPORTE1", "C0SOPORTE2")


def test_every_channel_of_a_team_names_the_team() -> None:
    config = load()
    assert all(config.team_for_channel(c) is config.teams[0] for c in config.teams[0].slack_channels)
    assert config.team_for_channel("C0SOPORTE2") is config.teams[1]
    assert config.team_for_channel("C0NOBODY00") is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"slack_channels": ["C0VENTAS01", "general"]},
            "teams[0].slack_channels[1]: must be a Slack channel id",
        ),
        ({"slack_channels": ["C0SOPORTE2"]}, "teams[1]: channel C0SOPORTE2 already belongs to team 'ventas'"),
        ({"distribute": "random"}, "teams[0].distribute: must be one of least_busy, round_robin"),
        ({"slack_channels": None}, "teams[0].slack_channel: required"),
    ],
)
def test_bad_channel_settings_name_their_key(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(**changes)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_least_busy_picks_the_channel_with_fewest_open_conversations() -> None:
    ventas = load().teams[0]
    assert pick_channel(ventas, {"C0VENTAS01": 4, "C0VENTAS02": 1, "C0VENTAS03": 2}, seed=7) == "C0VENTAS02"


def test_least_busy_takes_turns_among_equally_busy_channels() -> None:
    ventas = load().teams[0]
    picks = [pick_channel(ventas, {}, seed) for seed in range(30)]
    assert Counter(picks) == {"C0VENTAS01": 10, "C0VENTAS02": 10, "C0VENTAS03": 10}


def test_least_busy_evens_out_load_as_conversations_arrive() -> None:
    ventas = load().teams[0]
    load_now: Counter[str] = Counter({"C0VENTAS01": 5})
    for seed in range(13):
        load_now[pick_channel(ventas, load_now, seed)] += 1
    assert sorted(load_now.values()) == [6, 6, 6]


def test_round_robin_ignores_load() -> None:
    soporte = load().teams[1]
    picks = [pick_channel(soporte, {"C0SOPORTE1": 100}, seed) for seed in range(4)]
    assert picks == ["C0SOPORTE1", "C0SOPORTE2", "C0SOPORTE1", "C0SOPORTE2"]


def test_a_single_channel_team_always_uses_it() -> None:
    config = load(slack_channels=None, slack_channel="C0VENTAS09")
    assert pick_channel(config.teams[0], {"C0VENTAS09": 50}, seed=3) == "C0VENTAS09"
