"""The shortest end-to-end path: one signed customer message becomes a card and a thread reply."""

from __future__ import annotations

from tests.fakes import whatsapp_payloads as wp
from tests.harness import Harness


async def test_customer_text_opens_card_and_thread_reply(traza: Harness) -> None:
    response = await traza.webhook(wp.inbound_text_webhook("Hola, necesito ayuda", wa_id="5491100000001"))
    assert response.status_code == 200
    thread = await traza.thread_of("C0SOPORTE1")
    replies = await traza.replies("C0SOPORTE1", thread, 1)
    assert replies[0]["text"] == "Hola, necesito ayuda"
    assert "WhatsApp +5491100000001" in replies[0]["username"]
