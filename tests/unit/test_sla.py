"""SLA targets: ``traza.yml`` validation with key paths, when a target falls due, the card's flag, the
nudge's words and the nudge job posting exactly once even when retried after a crash."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.cards import card_message
from bridge import sla
from bridge.config import ConfigError, load_config
from bridge.domain import ConversationState, ConversationView, SlackTs, SlaTarget, SlaTargets
from tests.unit.test_cards import NOW, make_view

TARGETS = SlaTargets(first_response=timedelta(minutes=15), resolution=timedelta(hours=24))


def config_with(**extra: Any) -> dict[str, Any]:
    team = {"id": "soporte", "name": "Soporte", "slack_channel": "C0SOPORTE1", "leads": ["U0LEAD0002"]}
    other = {"id": "ventas", "name": "Ventas", "slack_channel": "C0VENTAS01"}
    team.update(extra.pop("team", {}))
    return {"teams": [team, other], "routing": {"default_team": "soporte"}, **extra}


def test_team_targets_are_read_in_minutes_and_hours() -> None:
    config = load_config(config_with(team={"sla": {"first_response_minutes": 15, "resolution_hours": 24}}))
    assert config.sla_for("soporte") == TARGETS
    assert config.sla_for("ventas") is None


def test_top_level_targets_are_every_teams_default_and_null_turns_them_off() -> None:
    config = load_config(config_with(sla={"first_response_minutes": 5}, team={"sla": None}))
    assert config.sla_for("ventas") == SlaTargets(first_response=timedelta(minutes=5))
    assert config.sla_for("soporte") is None


@pytest.mark.parametrize(
    ("sla_value", "problem"),
    [
        ({"first_response_minute": 15}, "teams[0].sla.first_response_minute: unknown SLA key"),
        ({"first_response_minutes": "15"}, "teams[0].sla.first_response_minutes: must be a number, got str"),
        ({"resolution_hours": 0}, "teams[0].sla.resolution_hours: must be a positive number, got 0"),
        ({"resolution_hours": True}, "teams[0].sla.resolution_hours: must be a number, got bool"),
        ([15], "teams[0].sla: must be a mapping"),
    ],
)
def test_bad_targets_are_refused_naming_the_key(sla_value: object, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_with(team={"sla": sla_value}))
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_top_level_problems_name_the_top_level_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_with(sla={"first_response_minutes": -1}))
    assert caught.value.problems == ["sla.first_response_minutes: must be a positive number, got -1"]


def view(**changes: Any) -> ConversationView:
    """Opened 30 min before NOW, the customer wrote 12 min before NOW, nobody answered."""
    return make_view(ConversationState.OPEN, sla=TARGETS, **changes)


def test_first_response_is_due_from_the_opening_until_an_agent_answers() -> None:
    assert view().sla_due(SlaTarget.FIRST_RESPONSE) == NOW - timedelta(minutes=15)
    assert view().sla_overdue(NOW) == (SlaTarget.FIRST_RESPONSE,)
    assert view().sla_overdue(NOW - timedelta(minutes=16)) == ()
    assert view(first_response_at=NOW).sla_due(SlaTarget.FIRST_RESPONSE) is None
    assert view(last_customer_message_at=None).sla_due(SlaTarget.FIRST_RESPONSE) is None  # agent wrote first


def test_resolution_is_due_until_closed_and_nothing_is_due_without_targets() -> None:
    assert view().sla_overdue(NOW + timedelta(hours=24)) == (SlaTarget.FIRST_RESPONSE, SlaTarget.RESOLUTION)
    closed = make_view(ConversationState.CLOSED, sla=TARGETS)
    assert closed.sla_overdue(NOW + timedelta(days=9)) == ()
    assert make_view(ConversationState.OPEN).sla_overdue(NOW + timedelta(days=9)) == ()


def test_card_flags_an_overdue_conversation_and_stays_valid_block_kit() -> None:
    card = card_message(view(), NOW)
    flag = [b for b in card["blocks"] if b.get("block_id") == "conv_sla"]
    assert len(flag) == 1
    assert flag[0]["elements"][0]["text"] == ":alarm_clock: *SLA overdue*: first response (target 15 min)"
    for block in card["blocks"]:
        Block.parse(block)
    answered = card_message(view(first_response_at=NOW - timedelta(minutes=1)), NOW)
    assert not [b for b in answered["blocks"] if b.get("block_id") == "conv_sla"]


def test_nudge_mentions_every_lead_and_says_which_target() -> None:
    text = sla.nudge_text(1042, SlaTarget.FIRST_RESPONSE, timedelta(minutes=15), ["U0LEAD0002", "U0LEAD0001"])
    assert text == (
        "⏰ *SLA missed*: #1042 has had no first response for 15 min (target 15 min). "
        "<@U0LEAD0001> <@U0LEAD0002>: please take a look."
    )
    resolution = sla.nudge_text(7, SlaTarget.RESOLUTION, timedelta(hours=48), [])
    assert "is still open 2 d after it started (target 2 d)" in resolution
    assert "no lead to mention" in resolution


@pytest.mark.parametrize(
    ("limit", "text"),
    [
        (timedelta(minutes=15), "15 min"),
        (timedelta(seconds=30), "0.5 min"),
        (timedelta(hours=1, minutes=30), "1 h 30 min"),
        (timedelta(hours=24), "24 h"),
        (timedelta(hours=72), "3 d"),
    ],
)
def test_limits_read_as_typed(limit: timedelta, text: str) -> None:
    assert sla.describe_limit(limit) == text


class FakeLedger:
    def __init__(self, v: ConversationView) -> None:
        self.v, self.finished = v, 0

    async def view(self, conversation_id: int) -> ConversationView:
        return self.v

    async def done(self) -> None:
        self.finished += 1


class FakeThread:
    """Remembers tagged posts like Slack's message metadata; can crash right after posting."""

    def __init__(self) -> None:
        self.posts: list[tuple[int, SlaTarget, str]] = []
        self.crash_after_post = False

    async def post_nudge(self, view: ConversationView, target: SlaTarget, text: str) -> SlackTs:
        self.posts.append((view.id, target, text))
        if self.crash_after_post:
            self.crash_after_post = False
            raise ConnectionResetError("the worker died before recording the post")
        return SlackTs(f"1.{len(self.posts)}")

    async def find_nudge(self, view: ConversationView, target: SlaTarget) -> SlackTs | None:
        return next((SlackTs("1.1") for v, t, _ in self.posts if v == view.id and t == target), None)


async def test_nudge_retried_after_a_crash_is_not_posted_twice() -> None:
    ledger, thread = FakeLedger(view()), FakeThread()
    thread.crash_after_post = True
    with pytest.raises(ConnectionResetError):
        await sla.nudge(77, SlaTarget.FIRST_RESPONSE, "late", 1, ledger, thread)
    await sla.nudge(77, SlaTarget.FIRST_RESPONSE, "late", 2, ledger, thread)
    assert thread.posts == [(77, SlaTarget.FIRST_RESPONSE, "late")]
    assert ledger.finished == 1
    # The other target of the same conversation is its own nudge.
    await sla.nudge(77, SlaTarget.RESOLUTION, "open too long", 2, ledger, thread)
    assert len(thread.posts) == 2 and ledger.finished == 2
