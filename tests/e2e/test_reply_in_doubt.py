"""A reply whose send reached WhatsApp but whose answer was never read (a read timeout, a dropped
connection, a crash between Meta's 200 and our commit) is not sent twice: Traza waits for the status
webhook that names the entry (``biz_opaque_callback_data``) and sends again only if none comes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bridge import deliver
from bridge.errors import TransientRemoteError
from bridge.whatsapp.graph import GraphClient
from tests import slack_payloads as sp
from tests.harness import Harness, eventually

SOPORTE = "C0SOPORTE1"
AGENT = "U0AGENT003"


@pytest.fixture
def answer_lost(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first send reaches the fake Graph (Meta accepts it) but its answer is lost on the way back."""
    accepted: list[str] = []
    original = GraphClient.send

    async def send(self: GraphClient, phone_number_id: str, body: dict[str, Any]) -> str:
        wamid = await original(self, phone_number_id, body)
        if not accepted:
            accepted.append(wamid)
            raise TransientRemoteError(
                "whatsapp", "timeout", "read timed out", retry_after=0.2, in_doubt=True
            )
        return wamid

    monkeypatch.setattr(GraphClient, "send", send)
    monkeypatch.setattr(deliver, "IN_DOUBT_WAIT", timedelta(seconds=2))
    return accepted


async def _reply(traza: Harness, wa_id: str) -> str:
    await traza.webhook(traza.graph.inbound_text_webhook("Hola", wa_id=wa_id))
    thread = await traza.thread_of(SOPORTE)
    await traza.replies(SOPORTE, thread, 1)
    await traza.slack_event(sp.thread_reply(SOPORTE, thread, AGENT, "Ya lo reviso"))
    return thread


async def test_a_send_in_doubt_named_by_its_status_is_not_sent_again(
    traza: Harness, answer_lost: list[str]
) -> None:
    await _reply(traza, "5491100000401")
    await eventually(lambda: answer_lost, what="the first send to reach the Graph API")
    wamid = answer_lost[0]
    sent = traza.graph.send_by_wamid(wamid)
    assert sent is not None
    await asyncio.sleep(1.0)  # Meta's status comes a moment later, after the job's own retry is due
    assert len(traza.graph.sends()) == 1, "sent again before the in-doubt wait was over"
    status = traza.graph.status_webhook_for(
        wamid, "delivered", biz_opaque_callback_data=sent.body["biz_opaque_callback_data"]
    )
    assert (await traza.webhook(status)).status_code == 200
    await asyncio.sleep(2.5)  # past the in-doubt wait: a retry would have sent by now
    assert [s.wamid for s in traza.graph.sends()] == [wamid]


async def test_a_send_in_doubt_with_no_status_is_sent_again_after_the_wait(
    traza: Harness, answer_lost: list[str]
) -> None:
    await _reply(traza, "5491100000402")
    await eventually(lambda: answer_lost, what="the first send to reach the Graph API")
    await asyncio.sleep(1.0)
    assert len(traza.graph.sends()) == 1, "sent again before the in-doubt wait was over"
    sends = await eventually(lambda: len(traza.graph.sends()) == 2 and traza.graph.sends(), timeout=6)
    assert sends[0].text == sends[1].text
    await asyncio.sleep(1.0)
    assert len(traza.graph.sends()) == 2


async def test_a_send_refused_by_an_answer_is_retried_without_waiting(traza: Harness) -> None:
    traza.graph.server_error_next(times=1)
    await _reply(traza, "5491100000403")
    # Backoff after one 5xx is ~2 s; the 60 s in-doubt wait would make this time out.
    await eventually(lambda: traza.graph.sends(), timeout=8, what="the retried send")
