"""Conversation control from Slack: slash commands, card buttons, shortcuts and the transfer modal."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes import whatsapp_payloads as wp
from tests.harness import Harness, eventually

SOPORTE, VENTAS = "C0SOPORTE1", "C0VENTAS01"
AGENT, MATE, LEAD, OUTSIDER = "U0AGENT003", "U0AGENT004", "U0LEAD0002", "U0AGENT005"


async def open_conversation(traza: Harness, wa_id: str, text: str = "Hola") -> tuple[int, str]:
    assert (await traza.webhook(wp.inbound_text_webhook(text, wa_id=wa_id))).status_code == 200
    thread = await traza.thread_of(SOPORTE)
    card = traza.slack.message(SOPORTE, thread)
    assert card is not None
    return int(card["metadata"]["event_payload"]["ref"]), thread


async def slash(traza: Harness, command: str, text: str, user: str, channel: str = SOPORTE) -> str:
    response = await traza.slack_form(
        {
            "command": command,
            "text": text,
            "user_id": user,
            "channel_id": channel,
            "team_id": "T0ACME0001",
            "response_url": traza.slack.new_response_url(),
            "trigger_id": "1337.42.abcd",
        }
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["response_type"] == "ephemeral"
    return str(body["text"])


def card_of(traza: Harness, channel: str, ts: str) -> str:
    return json.dumps(traza.slack.message(channel, ts), ensure_ascii=False)


async def test_claim_by_member_takes_the_conversation_and_updates_the_card(traza: Harness) -> None:
    ref, thread = await open_conversation(traza, "5491100000201")
    answer = await slash(traza, "/claim", str(ref), AGENT)
    assert "You now hold" in answer
    await eventually(lambda: f"<@{AGENT}>" in card_of(traza, SOPORTE, thread), what="card shows the holder")
    assert "held by" in await slash(traza, "/traza", f"claim #{ref}", MATE)


async def test_outsider_is_refused_and_the_refusal_is_recorded(traza: Harness) -> None:
    ref, _ = await open_conversation(traza, "5491100000202")
    answer = await slash(traza, "/claim", str(ref), OUTSIDER)
    assert "only its members" in answer
    timeline = await slash(traza, "/history", str(ref), AGENT)
    assert "CommandRefused" in timeline or "refused" in timeline.lower()


async def test_bad_arguments_get_the_usage_line_never_a_trace(traza: Harness) -> None:
    assert "Usage: `/traza claim" in await slash(traza, "/claim", "", AGENT)
    assert "Usage: `/traza transfer" in await slash(traza, "/transfer", "12", AGENT)
    assert "not a conversation number" in await slash(traza, "/close", "abc", AGENT)
    assert "Unknown verb" in await slash(traza, "/traza", "dance", AGENT)
    assert "There is no conversation #999999" in await slash(traza, "/claim", "999999", AGENT)
    assert "/traza claim" in await slash(traza, "/traza", "help", AGENT)
    assert "Traceback" not in await slash(traza, "/traza", 'search "unbalanced', AGENT)


async def test_transfer_moves_later_traffic_to_a_new_thread(traza: Harness) -> None:
    ref, old_thread = await open_conversation(traza, "5491100000203")
    await slash(traza, "/claim", str(ref), AGENT)
    answer = await slash(traza, "/transfer", f"{ref} ventas quiere comprar", AGENT)
    assert "Transferred" in answer
    new_thread = await traza.thread_of(VENTAS)
    context = await traza.replies(VENTAS, new_thread, 1)
    assert "quiere comprar" in context[0]["text"]
    await eventually(
        lambda: any("moved to team" in m.get("text", "") for m in traza.slack.thread(SOPORTE, old_thread)),
        what="old thread notice",
    )
    await traza.webhook(wp.inbound_text_webhook("¿Y el precio?", wa_id="5491100000203"))
    await eventually(
        lambda: any(m.get("text") == "¿Y el precio?" for m in traza.slack.thread(VENTAS, new_thread)),
        what="next customer message in the new thread",
    )
    await traza.agent_says(VENTAS, new_thread, "U0AGENT001", "Son 10 USD")
    sent = await eventually(lambda: traza.graph.sends(), what="reply from the new team")
    assert sent[0].text.endswith("Son 10 USD") and "Ventas" in sent[0].text


async def test_close_then_customer_writes_again_opens_a_new_conversation(traza: Harness) -> None:
    ref, thread = await open_conversation(traza, "5491100000204")
    assert "Closed" in await slash(traza, "/close", f"{ref} resuelto", AGENT)
    await eventually(lambda: "closed" in card_of(traza, SOPORTE, thread), what="closed card")
    await eventually(lambda: "conv_reopen" in card_of(traza, SOPORTE, thread), what="reopen button")
    await traza.webhook(wp.inbound_text_webhook("Otra consulta", wa_id="5491100000204"))
    second = await traza.thread_of(SOPORTE, index=1)
    assert second != thread
    assert "already has an open conversation" in await slash(traza, "/traza", f"reopen {ref}", AGENT)


async def test_history_by_phone_and_search_find_the_conversation(traza: Harness) -> None:
    ref, _ = await open_conversation(traza, "5491100000205", "Necesito la factura de octubre")
    await traza.replies(SOPORTE, await traza.thread_of(SOPORTE), 1)
    history = await slash(traza, "/history", "+54 9 11 0000-0205", AGENT)
    assert f"#{ref}" in history and "slack.com/archives" in history
    found = await slash(traza, "/traza", "search factura", AGENT)
    assert f"#{ref}" in found
    assert "No messages match" in await slash(traza, "/traza", "search factura", "U0AGENT001")


async def test_card_buttons_claim_and_transfer_modal(traza: Harness) -> None:
    ref, thread = await open_conversation(traza, "5491100000206")
    click = {
        "type": "block_actions",
        "user": {"id": MATE},
        "channel": {"id": SOPORTE},
        "container": {"type": "message", "message_ts": thread, "channel_id": SOPORTE},
        "trigger_id": "1.2.3",
        "response_url": traza.slack.new_response_url(),
        "actions": [{"action_id": "conv_claim", "value": str(ref), "type": "button"}],
    }
    assert (await traza.slack_interaction(click)).status_code == 200
    await eventually(lambda: f"<@{MATE}>" in card_of(traza, SOPORTE, thread), what="claimed by button")
    click["actions"] = [{"action_id": "conv_transfer", "value": str(ref), "type": "button"}]
    await traza.slack_interaction(click)
    modal = (
        await eventually(
            lambda: traza.slack.views("modal") or traza.slack.calls_to("views.open"), what="modal"
        )
    )[0]
    view = modal.args["view"] if hasattr(modal, "args") else modal
    submission = {
        "type": "view_submission",
        "user": {"id": MATE},
        "view": {
            "type": "modal",
            "id": "V0TEST",
            "callback_id": "conv_transfer_modal",
            "private_metadata": view["private_metadata"],
            "state": {
                "values": {
                    "transfer_team": {
                        "team": {"type": "static_select", "selected_option": {"value": "cobranzas"}}
                    },
                    "transfer_reason": {"reason": {"type": "plain_text_input", "value": "deuda"}},
                }
            },
        },
    }
    response = await traza.slack_interaction(submission)
    assert response.status_code == 200 and response.text in ("", "null")
    await traza.thread_of("C0COBRANZ1")


async def test_message_shortcut_closes_from_any_message_of_the_thread(traza: Harness) -> None:
    ref, thread = await open_conversation(traza, "5491100000207")
    reply = (await traza.replies(SOPORTE, thread, 1))[0]
    shortcut = {
        "type": "message_action",
        "callback_id": "conv_close_shortcut",
        "user": {"id": AGENT},
        "channel": {"id": SOPORTE},
        "trigger_id": "1.2.3",
        "response_url": traza.slack.new_response_url(),
        "message": {"ts": reply["ts"], "thread_ts": thread, "text": reply["text"]},
    }
    assert (await traza.slack_interaction(shortcut)).status_code == 200
    await eventually(lambda: "conv_reopen" in card_of(traza, SOPORTE, thread), what="closed by shortcut")
    await eventually(
        lambda: f"#{ref}" in json.dumps(traza.slack.ephemerals(SOPORTE)), what="answer to the agent"
    )


async def test_start_sends_an_approved_template_and_opens_a_conversation(traza: Harness) -> None:
    traza.graph.add_template("seguimiento", "Hola {{1}}, ¿podemos ayudarte?", language="es")
    answer = await slash(traza, "/traza", "start +54 9 11 0000-0208 seguimiento Ana", AGENT)
    assert "Sending template `seguimiento`" in answer
    sent = (await eventually(lambda: traza.graph.sends(), what="template send"))[0]
    assert sent.type == "template"
    assert sent.body["template"]["name"] == "seguimiento"
    assert sent.body["template"]["components"][0]["parameters"][0]["text"] == "Ana"
    await traza.thread_of(SOPORTE)


async def test_closed_window_card_offers_a_template_button_that_sends_one(traza: Harness) -> None:
    traza.graph.add_template("reactivar", "Hola {{1}}", language="es")
    old = int(__import__("time").time()) - 26 * 3600
    assert (
        await traza.webhook(wp.inbound_text_webhook("Hola", wa_id="5491100000209", ts=old))
    ).status_code == 200
    thread = await traza.thread_of(SOPORTE)
    card = traza.slack.message(SOPORTE, thread)
    assert card is not None and "conv_template" in json.dumps(card)
    ref = int(card["metadata"]["event_payload"]["ref"])
    click = {
        "type": "block_actions",
        "user": {"id": AGENT},
        "channel": {"id": SOPORTE},
        "container": {"type": "message", "message_ts": thread, "channel_id": SOPORTE},
        "trigger_id": "1.2.3",
        "response_url": traza.slack.new_response_url(),
        "actions": [{"action_id": "conv_template", "value": str(ref), "type": "button"}],
    }
    await traza.slack_interaction(click)
    opened = await eventually(lambda: traza.slack.calls_to("views.open"), what="template modal")
    view = opened[0].args["view"]
    assert view["callback_id"] == "conv_template_modal"
    submission = {
        "type": "view_submission",
        "user": {"id": AGENT},
        "view": {
            "type": "modal",
            "id": "V0TPL",
            "callback_id": "conv_template_modal",
            "private_metadata": view["private_metadata"],
            "state": {
                "values": {
                    "template_name": {"value": {"type": "plain_text_input", "value": "reactivar"}},
                    "template_params": {"value": {"type": "plain_text_input", "value": "Ana María"}},
                }
            },
        },
    }
    assert (await traza.slack_interaction(submission)).status_code == 200
    sent = (await eventually(lambda: traza.graph.sends(), what="template send"))[0]
    assert sent.body["template"]["name"] == "reactivar"
    assert sent.body["template"]["components"][0]["parameters"][0]["text"] == "Ana María"


async def test_app_home_shows_the_agents_queue(traza: Harness) -> None:
    ref, _ = await open_conversation(traza, "5491100000210")
    event = {"type": "app_home_opened", "user": AGENT, "channel": "D0HOME", "tab": "home", "event_ts": "1.2"}
    from tests import slack_payloads as sp

    assert (await traza.slack_event(sp.envelope(event))).status_code == 200
    published = await eventually(lambda: traza.slack.calls_to("views.publish"), what="home published")
    assert published[0].args["user_id"] == AGENT
    assert f"#{ref}" in json.dumps(published[0].args["view"]) and "Waiting in your teams (1)" in json.dumps(
        published[0].args["view"]
    )


async def test_customer_writing_within_the_grace_period_reopens_instead(
    sqlite_url: str, fakes: tuple[Any, Any]
) -> None:
    import dataclasses

    from tests.harness import env_for, load_test_config, running_traza
    from traza.settings import Settings

    slack, graph = fakes
    env = env_for(sqlite_url, slack, graph)
    config = dataclasses.replace(load_test_config(), reopen_grace_minutes=30)
    async with running_traza(env, config=config) as client:
        traza = Harness(client, slack, graph, Settings.from_env(env, env_file=None))
        ref, thread = await open_conversation(traza, "5491100000211")
        assert "Closed" in await slash(traza, "/close", str(ref), AGENT)
        await traza.webhook(wp.inbound_text_webhook("Una cosa más", wa_id="5491100000211"))
        await eventually(
            lambda: any(m.get("text") == "Una cosa más" for m in slack.thread(SOPORTE, thread)),
            what="message in the reopened thread",
        )
        await eventually(lambda: "conv_close" in card_of(traza, SOPORTE, thread), what="card open again")
        assert len([m for m in slack.messages_in(SOPORTE) if m.get("metadata")]) == 1
