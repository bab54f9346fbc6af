"""Agent replies from Slack reach the customer stamped, exactly once, or the agent learns why not."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests import slack_payloads as sp
from tests.fakes import whatsapp_payloads as wp
from tests.harness import Harness, eventually

SOPORTE = "C0SOPORTE1"
AGENT = "U0AGENT003"
OTHER = "U0AGENT004"


async def open_conversation(traza: Harness, wa_id: str, text: str = "Hola", ts: int | None = None) -> str:
    response = await traza.webhook(wp.inbound_text_webhook(text, wa_id=wa_id, ts=ts))
    assert response.status_code == 200
    thread = await traza.thread_of(SOPORTE)
    await traza.replies(SOPORTE, thread, 1)
    return thread


async def test_reply_in_thread_is_sent_once_with_the_stamp(traza: Harness) -> None:
    traza.slack.set_user(AGENT, display_name="Lucía")
    thread = await open_conversation(traza, "5491100000101")
    event = sp.thread_reply(SOPORTE, thread, AGENT, "Hola! *Ya* lo reviso :smile:")
    assert (await traza.slack_event(event)).status_code == 200
    assert (
        await traza.slack_event(event, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    ).status_code == 200
    await eventually(lambda: traza.graph.sent_texts(), what="a send")
    await asyncio.sleep(0.5)
    sends = traza.graph.sends()
    assert len(sends) == 1
    assert sends[0].body["to"] == "+5491100000101"
    assert sends[0].text == "*Lucía · Soporte*\nHola! *Ya* lo reviso 😄"
    assert sends[0].body["biz_opaque_callback_data"].startswith("link:")


async def test_reply_from_someone_else_is_a_note_and_the_author_is_told(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000102")
    await traza.slack_event(sp.thread_reply(SOPORTE, thread, AGENT, "Yo me encargo"))
    await eventually(lambda: len(traza.graph.sends()) == 1, what="holder's reply sent")
    await traza.slack_event(sp.thread_reply(SOPORTE, thread, OTHER, "Te ayudo yo"))
    told = await eventually(
        lambda: [e for e in traza.slack.ephemerals(SOPORTE) if e.get("user") == OTHER],
        what="ephemeral to the other agent",
    )
    assert "internal note" in told[0]["text"]
    assert len(traza.graph.sends()) == 1


async def test_double_slash_is_always_a_note(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000103")
    await traza.slack_event(sp.thread_reply(SOPORTE, thread, AGENT, "// cliente difícil, ojo"))
    await traza.slack_event(sp.thread_reply(SOPORTE, thread, AGENT, "Buenos días"))
    await eventually(lambda: len(traza.graph.sends()) == 1, what="the real reply")
    assert "cliente difícil" not in traza.graph.sends()[0].text


async def test_reply_outside_window_is_not_sent_and_agent_is_told(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000104", ts=int(time.time()) - 25 * 3600)
    await traza.slack_event(sp.thread_reply(SOPORTE, thread, AGENT, "Perdón la demora"))
    told = await eventually(lambda: traza.slack.ephemerals(SOPORTE), what="window notice")
    assert "24-hour window" in told[0]["text"]
    assert traza.graph.sends() == []


async def test_permanent_graph_failure_is_shown_in_the_thread(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000105")
    traza.graph.fail_next_send(131026)
    reply = await traza.agent_says(SOPORTE, thread, AGENT, "¿Sigues ahí?")
    notice = await eventually(
        lambda: [m for m in traza.slack.thread(SOPORTE, thread) if "not delivered" in m.get("text", "")],
        what="failure notice",
    )
    assert "131026" in notice[0]["text"]
    assert "x" in traza.slack.reactions(SOPORTE, reply["event"]["ts"])


async def test_rate_limited_send_is_retried_and_sent_once(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000106")
    traza.graph.fail_next_send(130429, retry_after=1)
    await traza.slack_event(sp.thread_reply(SOPORTE, thread, AGENT, "Un momento"))
    await eventually(lambda: len(traza.graph.sends()) == 1, timeout=15, what="retried send")
    assert [s.text.split("\n")[-1] for s in traza.graph.sends()] == ["Un momento"]


async def test_bot_echo_and_edits_are_never_sent(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000107")
    await traza.slack_event(sp.bot_echo(SOPORTE, thread, "echo of our own post"))
    reply = sp.thread_reply(SOPORTE, thread, AGENT, "Original")
    await traza.slack_event(reply)
    await eventually(lambda: len(traza.graph.sends()) == 1, what="reply")
    await traza.slack_event(
        sp.message_changed(SOPORTE, thread, reply["event"]["ts"], AGENT, "Original", "Editado")
    )
    told = await eventually(
        lambda: [e for e in traza.slack.ephemerals(SOPORTE) if "keeps the" in e["text"]], what="edit notice"
    )
    assert told
    assert len(traza.graph.sends()) == 1


async def test_delivery_statuses_mark_the_reply_and_never_go_back(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000108")
    reply = await traza.agent_says(SOPORTE, thread, AGENT, "Listo")
    sent = (await eventually(lambda: traza.graph.sends(), what="send"))[0]
    for status in ("read", "sent"):
        await traza.webhook(wp.status_webhook(sent.wamid, status, recipient="5491100000108"))
    ts = reply["event"]["ts"]
    await eventually(lambda: "eyes" in traza.slack.reactions(SOPORTE, ts), what="read mark")
    await asyncio.sleep(0.5)
    assert "outbox_tray" not in traza.slack.reactions(SOPORTE, ts)


async def test_file_shared_by_agent_reaches_the_customer(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000109")
    shared = traza.slack.add_file(b"%PDF-1.4 receipt", "recibo.pdf", mimetype="application/pdf", user=AGENT)
    await traza.slack_event(
        sp.thread_reply(SOPORTE, thread, AGENT, "Tu recibo", subtype="file_share", files=[shared])
    )
    sent = (await eventually(lambda: traza.graph.sends(), what="media send"))[0]
    assert sent.type == "document"
    assert sent.body["document"]["filename"] == "recibo.pdf"
    assert "Tu recibo" in sent.body["document"]["caption"]
    assert traza.graph.uploads()[0].data == b"%PDF-1.4 receipt"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (131047, "24 hours"),
        (190, "WHATSAPP_ACCESS_TOKEN"),
        (100, "parameter"),
        (131048, "spam"),
        (131051, "not supported"),
    ],
)
async def test_each_permanent_error_is_explained_once_and_never_retried(
    traza: Harness, code: int, words: str
) -> None:
    thread = await open_conversation(traza, f"54911000003{code % 100:02d}")
    traza.graph.fail_next_send(code)
    await traza.agent_says(SOPORTE, thread, AGENT, "Hola?")
    notice = await eventually(
        lambda: [m for m in traza.slack.thread(SOPORTE, thread) if "not delivered" in m.get("text", "")],
        what="failure notice",
    )
    assert words in notice[0]["text"] and str(code) in notice[0]["text"]
    await asyncio.sleep(0.5)
    assert traza.graph.sends() == []
    assert len([m for m in traza.slack.thread(SOPORTE, thread) if "not delivered" in m.get("text", "")]) == 1


async def test_failed_status_after_acceptance_is_explained_in_the_thread(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000111")
    reply = await traza.agent_says(SOPORTE, thread, AGENT, "¿Seguimos?")
    sent = (await eventually(lambda: traza.graph.sends(), what="send"))[0]
    errors = [
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "More than 24 hours have passed"},
        }
    ]
    await traza.webhook(wp.status_webhook(sent.wamid, "failed", recipient="5491100000111", errors=errors))
    notice = await eventually(
        lambda: [m for m in traza.slack.thread(SOPORTE, thread) if "could not deliver" in m.get("text", "")],
        what="async failure notice",
    )
    assert "template" in notice[0]["text"]
    await eventually(lambda: "x" in traza.slack.reactions(SOPORTE, reply["event"]["ts"]), what="failed mark")


async def test_replies_reach_the_customer_in_the_order_they_were_written(traza: Harness) -> None:
    thread = await open_conversation(traza, "5491100000120")
    traza.graph.fail_next_send(130429, retry_after=1)  # the first one waits: the others must wait behind it
    for n in range(5):
        await traza.agent_says(SOPORTE, thread, AGENT, f"paso {n}")
    await eventually(lambda: len(traza.graph.sends()) == 5, timeout=15, what="five sends")
    assert [s.text.split("\n")[-1] for s in traza.graph.sends()] == [f"paso {n}" for n in range(5)]
