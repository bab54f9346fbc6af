"""The card and the transfer modal: valid Block Kit in every state, right buttons, honest texts."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.blocks import escape_mrkdwn
from bot.cards import (
    card_message,
    format_duration,
    transfer_modal,
)
from bridge.domain import (
    ConversationState,
    ConversationView,
    Ref,
    SlackChannel,
    SlackTs,
    SlackUserId,
    TeamId,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_view(state: ConversationState = ConversationState.OPEN, **changes: Any) -> ConversationView:
    base = ConversationView(
        id=77,
        ref=Ref(1042),
        state=state,
        team_id=TeamId("ventas"),
        team_name="Ventas",
        slack_channel=SlackChannel("C0VENTAS01"),
        slack_thread_ts=SlackTs("1767268800.000100"),
        assignee=SlackUserId("U0AGENT001") if state is ConversationState.ASSIGNED else None,
        contact_name="Maria Oliveira",
        contact_display="+55 11 98765-4321",
        business_number="+1 555 010 2030",
        opened_at=NOW - timedelta(minutes=30),
        last_customer_message_at=NOW - timedelta(minutes=12),
        last_agent_message_at=None,
        window_ends_at=NOW - timedelta(minutes=12) + timedelta(hours=24),
    )
    if state is ConversationState.CLOSED:
        changes.setdefault("closed_at", NOW - timedelta(minutes=1))
        changes.setdefault("closed_by", SlackUserId("U0LEAD0001"))
    return dataclasses.replace(base, **changes)


def all_text(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


def actions_block(card: dict[str, Any]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [b for b in card["blocks"] if b["type"] == "actions"]
    assert len(blocks) == 1
    return blocks[0]


def action_ids(card: dict[str, Any]) -> list[str]:
    return [e["action_id"] for e in actions_block(card)["elements"]]


def summary_fields(card: dict[str, Any]) -> dict[str, str]:
    fields = card["blocks"][0]["fields"]
    return dict(f["text"].split("\n", 1) for f in fields)


def assert_valid_blocks(blocks: list[dict[str, Any]]) -> None:
    assert 0 < len(blocks) <= 50
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()


ALL_STATES = list(ConversationState)


@pytest.mark.parametrize("state", ALL_STATES)
def test_card_blocks_validate_in_every_state(state: ConversationState) -> None:
    card = card_message(make_view(state), NOW)
    assert_valid_blocks(card["blocks"])
    json.dumps(card)  # JSON-ready


@pytest.mark.parametrize("state", ALL_STATES)
def test_card_has_fallback_text_and_metadata(state: ConversationState) -> None:
    card = card_message(make_view(state), NOW)
    assert "#1042" in card["text"]
    assert "Maria Oliveira" in card["text"]
    assert card["metadata"] == {
        "event_type": "traza_card",
        "event_payload": {"ref": 1042, "conversation_id": 77},
    }


def test_header_names_ref_contact_and_phone() -> None:
    header = card_message(make_view(), NOW)["blocks"][0]["text"]["text"]
    assert header == "*#1042* · Maria Oliveira · +55 11 98765-4321"


def test_fields_show_number_team_assignee_state() -> None:
    fields = summary_fields(card_message(make_view(), NOW))
    assert fields["*Business number*"] == "+1 555 010 2030"
    assert fields["*Team*"] == "Ventas"
    assert fields["*Assignee*"] == "unassigned"
    assert fields["*State*"].endswith("open")
    assigned = summary_fields(card_message(make_view(ConversationState.ASSIGNED), NOW))
    assert assigned["*Assignee*"] == "<@U0AGENT001>"
    assert assigned["*State*"].endswith("assigned")


@pytest.mark.parametrize("state", [ConversationState.OPEN, ConversationState.ASSIGNED])
def test_live_card_buttons(state: ConversationState) -> None:
    card = card_message(make_view(state), NOW)
    block = actions_block(card)
    assert block["block_id"] == f"conv_actions_{state.value}"
    assert action_ids(card) == ["conv_claim", "conv_transfer", "conv_canned", "conv_close"]
    by_id = {e["action_id"]: e for e in block["elements"]}
    assert by_id["conv_claim"]["style"] == "primary"
    assert by_id["conv_close"]["style"] == "danger"
    assert "confirm" in by_id["conv_close"]
    assert {e["value"] for e in block["elements"]} == {"1042"}


def test_closed_card_offers_only_reopen_and_says_who_closed() -> None:
    card = card_message(make_view(ConversationState.CLOSED), NOW)
    assert actions_block(card)["block_id"] == "conv_actions_closed"
    assert action_ids(card) == ["conv_reopen"]
    assert actions_block(card)["elements"][0]["value"] == "1042"
    assert "Closed by <@U0LEAD0001>" in all_text(card)
    assert summary_fields(card)["*State*"].endswith("closed")


def test_closed_without_closer_still_validates() -> None:
    view = make_view(ConversationState.CLOSED, closed_by=None, closed_at=None)
    card = card_message(view, NOW)
    assert_valid_blocks(card["blocks"])
    assert "Closed by" in all_text(card)


def test_block_ids_differ_between_states() -> None:
    ids = {
        tuple(b["block_id"] for b in card_message(make_view(state), NOW)["blocks"]) for state in ALL_STATES
    }
    assert len(ids) == len(ALL_STATES)


def test_waiting_time_is_human() -> None:
    fields = summary_fields(card_message(make_view(), NOW))
    assert fields["*Waiting*"] == "waiting 12 min"


def test_not_waiting_after_an_answer() -> None:
    answered = make_view(last_agent_message_at=NOW - timedelta(minutes=5))
    assert summary_fields(card_message(answered, NOW))["*Waiting*"] == "—"
    closed = make_view(ConversationState.CLOSED)
    assert summary_fields(card_message(closed, NOW))["*Waiting*"] == "—"
    silent = make_view(last_customer_message_at=None)
    assert summary_fields(card_message(silent, NOW))["*Waiting*"] == "—"


def test_window_open_shows_utc_end() -> None:
    fields = summary_fields(card_message(make_view(), NOW))
    assert fields["*24-hour window*"] == "window open until 11:48 UTC"


def test_window_end_is_shown_in_utc_for_other_zones() -> None:
    sao_paulo = datetime(2026, 1, 2, 5, 48, tzinfo=timezone(timedelta(hours=-3)))
    fields = summary_fields(card_message(make_view(window_ends_at=sao_paulo), NOW))
    assert fields["*24-hour window*"] == "window open until 08:48 UTC"


@pytest.mark.parametrize("ends", [None, NOW, NOW - timedelta(hours=1)])
def test_window_closed_means_templates_only(ends: datetime | None) -> None:
    fields = summary_fields(card_message(make_view(window_ends_at=ends), NOW))
    assert fields["*24-hour window*"] == "window closed — templates only"


def test_user_text_is_escaped() -> None:
    view = make_view(
        contact_name="<!channel> Tom & Jerry <@U0EVIL>",
        team_name="R&D <team>",
        business_number="<+1>",
    )
    card = card_message(view, NOW)
    assert_valid_blocks(card["blocks"])
    header = card["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt; Tom &amp; Jerry &lt;@U0EVIL&gt;" in header
    assert "<!channel>" not in all_text(card)
    assert "<@U0EVIL>" not in all_text(card)
    assert summary_fields(card)["*Team*"] == "R&amp;D &lt;team&gt;"
    assert "<!channel>" not in card["text"]


def test_huge_user_text_stays_inside_slack_limits() -> None:
    view = make_view(
        contact_name="&" * 5000,
        contact_display="9" * 5000,
        team_name="<" * 5000,
        business_number="x" * 5000,
    )
    for state in ALL_STATES:
        card = card_message(dataclasses.replace(view, state=state), NOW)
        assert_valid_blocks(card["blocks"])
        section = card["blocks"][0]
        assert len(section["text"]["text"]) <= 3000
        assert len(section["fields"]) <= 10
        assert all(len(f["text"]) <= 2000 for f in section["fields"])
        assert "&am…" not in all_text(card)  # never cuts an entity in half


def test_button_texts_fit() -> None:
    for state in ALL_STATES:
        for element in actions_block(card_message(make_view(state), NOW))["elements"]:
            assert len(element["text"]["text"]) <= 75


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (59.9, "59 s"),
        (60, "1 min"),
        (12 * 60 + 30, "12 min"),
        (3599, "59 min"),
        (3600, "1 h 00 min"),
        (3 * 3600 + 5 * 60, "3 h 05 min"),
        (86399, "23 h 59 min"),
        (86400, "1 d 0 h"),
        (2 * 86400 + 4 * 3600 + 59 * 60, "2 d 4 h"),
        (-5, "0 s"),
        (float("nan"), "0 s"),
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_escape_mrkdwn_clips_between_entities() -> None:
    assert escape_mrkdwn("a<b>&c") == "a&lt;b&gt;&amp;c"
    assert escape_mrkdwn("&&&&", limit=12) == "&amp;&amp;…"
    assert escape_mrkdwn("short", limit=12) == "short"


TEAMS = [("ventas", "Ventas"), ("soporte", "Soporte")]


def test_transfer_modal_validates() -> None:
    modal = transfer_modal(1042, TEAMS, '{"ref": 1042}')
    View(**modal).validate_json()
    assert modal["type"] == "modal"
    assert modal["callback_id"] == "conv_transfer_modal"
    assert modal["private_metadata"] == '{"ref": 1042}'
    for key in ("title", "submit", "close"):
        assert len(modal[key]["text"]) <= 24


def test_transfer_modal_inputs() -> None:
    blocks = {b["block_id"]: b for b in transfer_modal(1042, TEAMS, "")["blocks"]}
    team = blocks["transfer_team"]
    assert team["element"]["type"] == "static_select"
    assert team["element"]["action_id"] == "team"
    assert not team.get("optional", False)
    assert [o["value"] for o in team["element"]["options"]] == ["ventas", "soporte"]
    assert [o["text"]["text"] for o in team["element"]["options"]] == ["Ventas", "Soporte"]
    agent = blocks["transfer_agent"]
    assert agent["element"] == agent["element"] | {"type": "users_select", "action_id": "agent"}
    assert agent["optional"] is True
    reason = blocks["transfer_reason"]
    assert reason["element"]["type"] == "plain_text_input"
    assert reason["element"]["action_id"] == "reason"
    assert reason["optional"] is True


def test_transfer_modal_with_many_long_teams_stays_valid() -> None:
    teams = [(f"team-{i}", "N" * 200) for i in range(150)]
    modal = transfer_modal(999_999_999_999, teams, "x" * 3000)
    View(**modal).validate_json()
    options = next(b for b in modal["blocks"] if b["block_id"] == "transfer_team")["element"]
    assert len(options["options"]) == 100


def test_transfer_modal_refuses_impossible_input() -> None:
    with pytest.raises(ValueError, match="team"):
        transfer_modal(1042, [], "")
    with pytest.raises(ValueError, match="private_metadata"):
        transfer_modal(1042, TEAMS, "x" * 3001)


def crm_block(card: dict[str, Any]) -> dict[str, Any] | None:
    return next((b for b in card["blocks"] if b.get("block_id") == "conv_crm"), None)


def test_crm_facts_appear_as_labelled_lines_under_the_summary() -> None:
    view = make_view(customer_facts=(("account", "Acme <Ltd>"), ("owner", "Ana"), ("deal_stage", "won")))
    card = card_message(view, NOW)
    block = crm_block(card)
    assert block is not None and card["blocks"].index(block) == 1
    assert [e["text"] for e in block["elements"]] == [
        "*Account:* Acme &lt;Ltd&gt;",
        "*Owner:* Ana",
        "*Deal stage:* won",
    ]
    assert Block.parse(block) is not None


def test_a_failed_crm_lookup_is_said_on_the_card_and_no_facts_means_no_line() -> None:
    failed = card_message(make_view(crm_problem="timed out after 2 s"), NOW)
    block = crm_block(failed)
    assert block is not None
    assert block["elements"] == [
        {"type": "mrkdwn", "text": ":warning: CRM lookup failed: timed out after 2 s"}
    ]
    assert crm_block(card_message(make_view(), NOW)) is None


def test_card_shows_labels_and_the_customers_earlier_conversations_with_links() -> None:
    from bridge.domain import EarlierConversation

    earlier = (
        EarlierConversation(
            Ref(1001),
            NOW - timedelta(days=40),
            ConversationState.CLOSED,
            SlackChannel("C0VENTAS01"),
            SlackTs("1.2"),
        ),
        EarlierConversation(
            Ref(999), NOW - timedelta(days=90), ConversationState.CLOSED, SlackChannel("C0X"), None
        ),
    )
    card = card_message(make_view(labels=("refund", "vip"), earlier=earlier), NOW)
    context = next(b for b in card["blocks"] if b.get("block_id") == "conv_labels_earlier")
    text = context["elements"][0]["text"]
    assert "`refund` `vip`" in text
    assert "<https://slack.com/archives/C0VENTAS01/p12|#1001 (2025-11-22)>" in text
    assert "#999 (2025-10-03)" in text and "p999" not in text
    Block.parse(context)


def test_card_without_labels_or_history_has_no_extra_block() -> None:
    card = card_message(make_view(), NOW)
    assert all(b.get("block_id") != "conv_labels_earlier" for b in card["blocks"])


def test_canned_modal_offers_each_reply_with_a_preview() -> None:
    from bot.modals import canned_modal

    modal = canned_modal(1042, [("hours", "Opening hours", "We open 9-18\nMon-Fri " + "x" * 200)], "{}")
    View(**modal).validate_json()
    option = modal["blocks"][1]["element"]["options"][0]
    assert option["value"] == "hours" and option["text"]["text"] == "Opening hours"
    assert len(option["description"]["text"]) <= 75 and "\n" not in option["description"]["text"]
    with pytest.raises(ValueError):
        canned_modal(1042, [], "{}")


def test_card_says_which_routing_rule_sent_the_conversation_and_why() -> None:
    view = make_view(routing_rule="rules[1] (gold): customer.tier is 'gold' & <vip>")
    blocks = card_message(view, NOW)["blocks"]
    assert_valid_blocks(blocks)
    routing = next(b for b in blocks if b.get("block_id") == "conv_routing")
    assert (
        routing["elements"][0]["text"]
        == ":compass: rules[1] (gold): customer.tier is 'gold' &amp; &lt;vip&gt;"
    )
    assert not any(b.get("block_id") == "conv_routing" for b in card_message(make_view(), NOW)["blocks"])
