"""Issue 5 end to end: automatic assignment, away agents, the return to the queue, labels, canned
replies, earlier conversations on the card and the CSAT question — on SQLite and PostgreSQL+Redis."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from bridge.config import load_config
from tests.e2e.test_control import open_conversation, slash
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import CONFIG_PATH, Harness, eventually, running_traza
from traza.settings import Settings

SOPORTE = "C0SOPORTE1"
ANA, BETO, LEAD, OUTSIDER = "U0AGENT003", "U0AGENT004", "U0LEAD0002", "U0AGENT005"
TOKEN = "api-test-token"
CANNED = [
    {"id": "hours", "title": "Opening hours", "text": "We are open Monday to Friday, 9 to 18."},
    {"id": "thanks", "title": "Thanks", "text": "Thank you for writing to us!"},
]


@contextlib.asynccontextmanager
async def traza_with(
    env: dict[str, str],
    fakes: tuple[FakeSlack, FakeGraph],
    other_teams: dict[str, dict[str, Any]] | None = None,
    **soporte: Any,
) -> AsyncIterator[Harness]:
    """The test app with the ``soporte`` team changed by ``soporte`` (and top-level canned replies)."""
    data = yaml.safe_load(CONFIG_PATH.read_text())
    for team in data["teams"]:
        team.update(soporte if team["id"] == "soporte" else (other_teams or {}).get(team["id"], {}))
    data["canned"] = CANNED
    env = {**env, "TRAZA_API_TOKEN": TOKEN}
    async with running_traza(env, config=load_config(data)) as client:
        yield Harness(client, *fakes, Settings.from_env(env, env_file=None))


def card_text(traza: Harness, thread: str) -> str:
    return json.dumps(traza.slack.message(SOPORTE, thread), ensure_ascii=False)


def thread_says(traza: Harness, thread: str, words: str) -> bool:
    return any(words in m.get("text", "") for m in traza.slack.thread(SOPORTE, thread))


async def api(traza: Harness, path: str) -> Any:
    response = await traza.client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response.json()


def click(traza: Harness, action: str, ref: int, thread: str, user: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": SOPORTE},
        "container": {"type": "message", "message_ts": thread, "channel_id": SOPORTE},
        "trigger_id": "1.2.3",
        "response_url": traza.slack.new_response_url(),
        "actions": [{"action_id": action, "value": str(ref), "type": "button"}],
    }


async def test_round_robin_picks_the_next_present_agent_and_says_so(
    traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]
) -> None:
    async with traza_with(traza_env, fakes, assignment={"mode": "round_robin"}) as traza:
        assert "You are away" in await slash(traza, "/traza", "away", ANA)
        ref, thread = await open_conversation(traza, "5491100000501")
        await eventually(lambda: f"<@{BETO}>" in card_text(traza, thread), what="card shows Beto")
        await eventually(lambda: thread_says(traza, thread, f"Assigned to <@{BETO}>"), what="notice")
        timeline = await api(traza, f"/api/conversations/{ref}/timeline")
        [decision] = [e["payload"] for e in timeline["items"] if e["type"] == "ConversationAssigned"]
        assert decision["away"] == [ANA] and decision["candidates"] == [ANA, BETO]
        # Ana is back, Beto is away on Slack: the next one goes to Ana.
        assert "Welcome back" in await slash(traza, "/traza", "back", ANA)
        traza.slack.set_user(BETO, presence="away")
        _, second = await open_conversation_in(traza, "5491100000502", index=1)
        await eventually(lambda: f"<@{ANA}>" in card_text(traza, second), what="card shows Ana")


async def open_conversation_in(traza: Harness, wa_id: str, index: int) -> tuple[int, str]:
    webhook = wp.inbound_text_webhook("Hola", wa_id=wa_id, user_id=f"US.{wa_id}")
    assert (await traza.webhook(webhook)).status_code == 200
    thread = await traza.thread_of(SOPORTE, index=index)
    card = traza.slack.message(SOPORTE, thread)
    assert card is not None
    return int(card["metadata"]["event_payload"]["ref"]), thread


async def test_a_conversation_transferred_to_a_round_robin_team_is_assigned_there(
    traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]
) -> None:
    ventas = {"assignment": {"mode": "round_robin"}}
    async with traza_with(traza_env, fakes, other_teams={"ventas": ventas}) as traza:
        ref, _ = await open_conversation(traza, "5491100000508")
        assert "Transferred" in await slash(traza, "/transfer", f"{ref} ventas", LEAD)
        new_thread = await traza.thread_of("C0VENTAS01")
        await eventually(
            lambda: "<@U0AGENT001>" in json.dumps(traza.slack.message("C0VENTAS01", new_thread)),
            what="first ventas member holds it",
        )
        timeline = await api(traza, f"/api/conversations/{ref}/timeline")
        [decision] = [e["payload"] for e in timeline["items"] if e["type"] == "ConversationAssigned"]
        assert decision["why"] == "transferred" and decision["candidates"] == ["U0AGENT001", "U0AGENT002"]


async def test_unanswered_conversation_returns_to_the_queue_with_a_notice(
    traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]
) -> None:
    async with traza_with(traza_env, fakes, assignment={"return_after_minutes": 0.02}) as traza:
        ref, thread = await open_conversation(traza, "5491100000503")
        assert "You now hold" in await slash(traza, "/claim", str(ref), ANA)
        await eventually(lambda: thread_says(traza, thread, "back in Soporte's queue"), what="return notice")
        await eventually(lambda: "unassigned" in card_text(traza, thread), what="card unassigned")
        kinds = [e["type"] for e in (await api(traza, f"/api/conversations/{ref}/timeline"))["items"]]
        assert "ConversationReturned" in kinds
        metrics = await api(traza, "/api/metrics")
        assert metrics["backlog"] == {"open": 1, "assigned": 0}


async def test_labels_show_on_the_card_and_filter_the_api(
    traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]
) -> None:
    async with traza_with(traza_env, fakes) as traza:
        ref, thread = await open_conversation(traza, "5491100000504")
        assert "`refund` `vip`" in await slash(traza, "/traza", f"tag {ref} +vip refund", ANA)
        await eventually(lambda: "`refund` `vip`" in card_text(traza, thread), what="labels on the card")
        assert "`vip`" in await slash(traza, "/traza", f"tag #{ref} -refund", ANA)
        await eventually(lambda: "`refund`" not in card_text(traza, thread), what="label removed")
        assert "not a label" in await slash(traza, "/traza", f"tag {ref} +Bad!", ANA)
        assert "only its members" in await slash(traza, "/traza", f"tag {ref} +x", OUTSIDER)
        listed = await api(traza, "/api/conversations?label=vip")
        assert [i["ref"] for i in listed["items"]] == [ref] and listed["items"][0]["labels"] == ["vip"]
        assert (await api(traza, "/api/conversations?label=refund"))["items"] == []
        changes = [
            e["payload"]
            for e in (await api(traza, f"/api/conversations/{ref}/timeline"))["items"]
            if e["type"] == "LabelsChanged"
        ]
        assert changes == [
            {"added": ["refund", "vip"], "removed": [], "labels": ["refund", "vip"]},
            {"added": [], "removed": ["refund"], "labels": ["vip"]},
        ]


async def test_canned_reply_from_the_card_claims_and_is_sent_with_the_stamp(
    traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]
) -> None:
    async with traza_with(traza_env, fakes) as traza:
        ref, thread = await open_conversation(traza, "5491100000505")
        await traza.slack_interaction(click(traza, "conv_canned", ref, thread, ANA))
        opened = await eventually(lambda: traza.slack.calls_to("views.open"), what="canned modal")
        view = opened[0].args["view"]
        options = view["blocks"][1]["element"]["options"]
        assert [o["value"] for o in options] == ["hours", "thanks"]
        response = await traza.slack_interaction(submission(view, ANA, "hours"))
        assert response.status_code == 200 and response.text in ("", "null")
        sent = await eventually(lambda: traza.graph.sent_texts(), what="canned reply sent")
        assert sent[0].endswith("We are open Monday to Friday, 9 to 18.") and "Soporte" in sent[0]
        await eventually(lambda: f"<@{ANA}>" in card_text(traza, thread), what="Ana holds it")
        await eventually(
            lambda: thread_says(traza, thread, "sent the canned reply “Opening hours”"), what="shown"
        )
        # Someone else may not speak for Ana's conversation: the modal says why.
        refused = await traza.slack_interaction(submission(view, BETO, "thanks"))
        assert refused.json()["response_action"] == "errors"
        assert "holds conversation" in refused.json()["errors"]["canned_reply"]
        assert len(traza.graph.sent_texts()) == 1


def submission(view: dict[str, Any], user: str, choice: str) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "user": {"id": user},
        "view": {
            "type": "modal",
            "id": "V0CANNED",
            "callback_id": "conv_canned_modal",
            "private_metadata": view["private_metadata"],
            "state": {
                "values": {
                    "canned_reply": {
                        "canned": {"type": "static_select", "selected_option": {"value": choice}}
                    }
                }
            },
        },
    }


async def test_csat_on_close_is_answered_without_a_new_conversation_and_feeds_the_metrics(
    traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]
) -> None:
    async with traza_with(traza_env, fakes, csat={"question": "¿Cómo te atendimos?"}) as traza:
        ref, thread = await open_conversation(traza, "5491100000506")
        await slash(traza, "/claim", str(ref), ANA)
        assert "Closed" in await slash(traza, "/close", str(ref), ANA)
        sent = await eventually(
            lambda: [b for b in traza.graph.sent if b.get("type") == "interactive"], what="CSAT question"
        )
        question = sent[0]["interactive"]
        assert question["body"]["text"] == "¿Cómo te atendimos?"
        buttons = question["action"]["buttons"]
        assert [b["reply"]["id"] for b in buttons] == [f"csat:{ref}:3", f"csat:{ref}:2", f"csat:{ref}:1"]
        assert all(len(b["reply"]["title"]) <= 20 for b in buttons)
        tap = wp.inbound_message(
            "interactive",
            {
                "type": "button_reply",
                "button_reply": {"id": f"csat:{ref}:3", "title": buttons[0]["reply"]["title"]},
            },
            wa_id="5491100000506",
        )
        assert (await traza.webhook(wp.inbound_webhook([tap], wa_id="5491100000506"))).status_code == 200
        await traza.webhook(wp.inbound_webhook([tap], wa_id="5491100000506"))  # Meta redelivers
        await eventually(lambda: thread_says(traza, thread, f"rated #{ref}"), what="rating in the thread")
        metrics = await api(traza, "/api/metrics")
        assert metrics["csat"] == {
            "asked": 1,
            "answered": 1,
            "response_rate": 1.0,
            "average": 3.0,
            "answers": 1,
            "by_score": {"3": 1},
        }
        assert metrics["conversations_opened"] == 1  # the tap opened nothing
        cards = [m for m in traza.slack.messages_in(SOPORTE) if (m.get("metadata") or {}).get("event_type")]
        assert len(cards) == 1
        detail = await api(traza, f"/api/conversations/{ref}")
        assert detail["state"] == "closed"


async def test_the_card_links_the_customers_earlier_conversations(
    traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]
) -> None:
    async with traza_with(traza_env, fakes) as traza:
        ref, thread = await open_conversation(traza, "5491100000507")
        await slash(traza, "/close", str(ref), LEAD)
        _, second = await open_conversation_in(traza, "5491100000507", index=1)
        link = f"https://slack.com/archives/{SOPORTE}/p{thread.replace('.', '')}|#{ref}"
        await eventually(lambda: link in card_text(traza, second), what="earlier conversation on the card")


@pytest.mark.parametrize("verb", ["away", "back"])
async def test_away_and_back_are_answered_for_a_manual_team(traza: Harness, verb: str) -> None:
    answer = await slash(traza, "/traza", verb, ANA)
    assert "none of your teams assigns automatically" in answer


async def test_app_home_tells_an_away_agent_how_to_come_back(traza: Harness) -> None:
    from tests import slack_payloads as sp

    await slash(traza, "/traza", "away", ANA)
    event = {"type": "app_home_opened", "user": ANA, "channel": "D0HOME", "tab": "home", "event_ts": "1.2"}
    assert (await traza.slack_event(sp.envelope(event))).status_code == 200
    published = await eventually(lambda: traza.slack.calls_to("views.publish"), what="home published")
    assert "You are *away*" in json.dumps(published[0].args["view"])
