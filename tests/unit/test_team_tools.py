"""Labels, canned replies and CSAT as pure policy: parsing, config key paths, question shape, metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.config import ConfigError, load_config
from bridge.teamtools import (
    CsatPolicy,
    decode_labels,
    encode_labels,
    parse_csat_answer,
    parse_label_changes,
)
from store.satisfaction import csat_summary

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "teams": [{"id": "soporte", "name": "Soporte", "slack_channel": "C0SOPORTE1"}],
    "routing": {"default_team": "soporte"},
}


def config(**top: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(BASE))
    team = top.pop("team", {})
    data["teams"][0].update(team)
    data.update(top)
    return data


def test_label_changes_add_remove_and_refuse_bad_names() -> None:
    assert parse_label_changes(["+VIP", "-refund", "urgent", "#late"]) == (
        {"vip", "urgent", "late"},
        {"refund"},
        [],
    )
    add, remove, problems = parse_label_changes(["+a b", "-", "+" + "x" * 31])
    assert not add and not remove and len(problems) == 3
    assert parse_label_changes(["+vip", "-vip"]) == (set(), {"vip"}, [])


def test_labels_are_stored_so_a_filter_cannot_match_a_longer_label() -> None:
    stored = encode_labels({"vip", "vip_gold"})
    assert stored == ",vip,vip_gold,"
    assert ",vip," in stored and decode_labels(stored) == ("vip", "vip_gold")
    assert encode_labels(set()) is None and decode_labels(None) == ()


def test_team_canned_replies_come_first_and_shadow_global_ones() -> None:
    cfg = load_config(
        config(
            canned=[
                {"id": "hi", "title": "Hi", "text": "Hello"},
                {"id": "bye", "title": "Bye", "text": "Bye!"},
            ],
            team={"canned": [{"id": "hi", "title": "Hola", "text": "Hola"}]},
        )
    )
    assert [(c.id, c.title) for c in cfg.canned_for("soporte")] == [("hi", "Hola"), ("bye", "Bye")]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (config(canned=[{"id": "x", "title": "X"}]), "canned[0].text: required"),
        (
            config(canned=[{"id": "x", "title": "X", "text": "a"}, {"id": "x", "title": "Y", "text": "b"}]),
            "canned[1].id",
        ),
        (config(team={"canned": "hola"}), "teams[0].canned: must be a list"),
        (config(csat={"scale": "ten"}), "csat.scale"),
        (config(team={"csat": {"question": ""}}), "teams[0].csat.question"),
        (config(team={"assignment": {"mode": "lottery"}}), "teams[0].assignment.mode"),
    ],
)
def test_bad_team_tools_config_names_the_key(data: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(data)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_team_csat_wins_over_the_global_one() -> None:
    cfg = load_config(config(csat={"enabled": True}, team={"csat": {"enabled": False}}))
    assert not cfg.csat_for("soporte").enabled
    assert not load_config(config()).csat_for("soporte").enabled  # off unless configured


def test_csat_question_fits_whatsapp_limits_in_both_scales() -> None:
    faces = CsatPolicy(True).body(1042)
    buttons = faces["action"]["buttons"]  # type: ignore[index]
    assert faces["type"] == "button" and len(buttons) == 3
    assert all(len(b["reply"]["title"]) <= 20 for b in buttons)
    five = CsatPolicy(True, scale="five").body(1042)
    rows = five["action"]["sections"][0]["rows"]  # type: ignore[index]
    assert five["type"] == "list" and rows[0]["id"] == "csat:1042:5" and len(rows) == 5
    assert all(len(r["title"]) <= 24 for r in rows)


def test_csat_answer_ids_name_the_conversation_and_score() -> None:
    assert parse_csat_answer("csat:1042:3") == (1042, 3)
    for other in ("csat:1042:9", "csat:x:1", "cancel-order-4821", "csat:1042"):
        assert parse_csat_answer(other) is None


def ev(kind: str, minutes: int, conv: int, team: str = "soporte", **payload: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "occurred_at": T0 + timedelta(minutes=minutes),
        "conversation_id": conv,
        "team_id": team,
        "payload": json.dumps(payload),
    }


def test_csat_metrics_average_and_response_rate() -> None:
    rows = [
        ev("CsatRequested", 0, 1, sent=True),
        ev("CsatRequested", 1, 2, sent=True),
        ev("CsatRequested", 2, 3, sent=False, reason="window closed"),
        ev("CsatRequested", 3, 4, "ventas", sent=True),
        ev("CsatAnswered", 5, 1, score=1),
        ev("CsatAnswered", 6, 1, score=3),  # changed their mind: the last answer counts
        ev("CsatAnswered", 7, 4, "ventas", score=2),
    ]
    until = T0 + timedelta(hours=1)
    everything = csat_summary(rows, since=None, until=until, team=None)
    assert everything == {
        "asked": 3,
        "answered": 2,
        "response_rate": round(2 / 3, 4),
        "average": 2.5,
        "answers": 2,
        "by_score": {"2": 1, "3": 1},
    }
    soporte = csat_summary(rows, since=None, until=until, team="soporte")
    assert soporte["asked"] == 2 and soporte["response_rate"] == 0.5 and soporte["average"] == 3.0
    before_answers = csat_summary(rows, since=None, until=T0 + timedelta(minutes=4), team=None)
    assert before_answers["answered"] == 0 and before_answers["average"] is None
    assert csat_summary([], since=None, until=until, team=None)["response_rate"] is None


def test_backlog_replays_automatic_assignment_and_returns() -> None:
    from store.reports import summarize

    rows = [
        {**ev("ConversationOpened", 0, 1), "seq": 1, "actor": "contact:1"},
        {**ev("ConversationAssigned", 1, 1, assignee="U0AGENT001"), "seq": 2, "actor": "traza"},
    ]
    until = T0 + timedelta(hours=1)
    assert summarize(rows, since=None, until=until)["backlog"] == {"open": 0, "assigned": 1}
    rows.append(
        {**ev("ConversationReturned", 20, 1, previous_assignee="U0AGENT001"), "seq": 3, "actor": "traza"}
    )
    assert summarize(rows, since=None, until=until)["backlog"] == {"open": 1, "assigned": 0}
