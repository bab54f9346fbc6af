"""``@Traza <verb>`` in a conversation's thread acts on that conversation (Slack runs no slash
commands in threads); the answer is private to the author, and a retried event acts once."""

from __future__ import annotations

import json

from tests import slack_payloads as sp
from tests.e2e.test_control import AGENT, OUTSIDER, SOPORTE, open_conversation
from tests.harness import Harness, eventually

BOT = "<@U0BOT00001>"


def card_of(traza: Harness, thread: str) -> str:
    return json.dumps(traza.slack.message(SOPORTE, thread))


def told(traza: Harness, user: str, thread: str) -> list[str]:
    return [
        str(e.get("text"))
        for e in traza.slack.ephemerals(SOPORTE)
        if e.get("user") == user and e.get("thread_ts") == thread
    ]


async def test_mention_in_a_thread_closes_its_conversation_once(traza: Harness) -> None:
    ref, thread = await open_conversation(traza, "5491100000501")
    event = sp.app_mention(SOPORTE, thread, AGENT, f"{BOT} close resuelto por teléfono")
    assert (await traza.slack_event(event)).status_code == 200
    assert (await traza.slack_event(event, **{"X-Slack-Retry-Num": "1"})).status_code == 200
    await eventually(lambda: "conv_reopen" in card_of(traza, thread), what="closed card")
    answers = await eventually(lambda: told(traza, AGENT, thread), what="a private answer in the thread")
    assert f"#{ref}" in answers[0]
    assert len(told(traza, AGENT, thread)) == 1, "the retried event acted twice"


async def test_mention_is_refused_like_the_command_for_someone_outside_the_team(traza: Harness) -> None:
    _, thread = await open_conversation(traza, "5491100000502")
    await traza.slack_event(sp.app_mention(SOPORTE, thread, OUTSIDER, f"{BOT} claim"))
    answers = await eventually(lambda: told(traza, OUTSIDER, thread), what="a refusal")
    assert "conv_reopen" not in card_of(traza, thread)
    assert "claim" in answers[0].lower() or "team" in answers[0].lower()


async def test_mention_with_an_unknown_verb_answers_the_usage(traza: Harness) -> None:
    _, thread = await open_conversation(traza, "5491100000503")
    await traza.slack_event(sp.app_mention(SOPORTE, thread, AGENT, f"{BOT} cerrá esto"))
    answers = await eventually(lambda: told(traza, AGENT, thread), what="the usage")
    assert "Unknown verb" in answers[0]
