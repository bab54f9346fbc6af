"""CRM enrichment end to end (SQLite and PostgreSQL+Redis): a new conversation's customer is looked up
in a fake CRM; the card gains Account/Owner/Stage, or says why the lookup failed, and mirroring never
waits for the CRM. The facts are an auditable event and a mapping routing can read."""

from __future__ import annotations

import json
from typing import Any

from store.customer_facts import facts_for_contact, facts_for_conversation
from store.db import create_engine
from tests.e2e.integrations_support import (
    CRM_TOKEN,
    config_with,
    env_with_secrets,
    fake_receiver,
    logged_events,
    receiver,
    traza_with,
)
from tests.e2e.test_inbound_support import (
    SOPORTE,
    card_for,
    cards,
    customer_text,
    texts,
    wa_ids,
    wait_customer_replies,
)
from tests.fakes.graph import FakeGraph
from tests.fakes.receiver import FakeReceiver
from tests.fakes.slack import FakeSlack
from tests.harness import eventually

__all__ = ["fake_receiver", "receiver"]
Fakes = tuple[FakeSlack, FakeGraph]


def enrichment(receiver: FakeReceiver, timeout: float = 1.0) -> dict[str, Any]:
    return {
        "url": f"{receiver.url}/crm/lookup?phone={{phone}}&ref={{ref}}",
        "token_env": "CRM_TOKEN",
        "timeout_seconds": timeout,
        "fields": {"account": "$.account.name", "owner": "owner.name", "stage": "stage", "vip": "flags.0"},
    }


def crm_lines(slack: FakeSlack, wa_id: str) -> list[str] | None:
    for card in cards(slack, SOPORTE):
        if wa_id in repr(card.get("blocks")):
            for block in card.get("blocks", []):
                if block.get("block_id") == "conv_crm":
                    return [e["text"] for e in block["elements"]]
    return None


async def test_a_new_conversations_card_shows_the_customers_crm_facts(
    traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver, database_url: str
) -> None:
    receiver.crm_document = {
        "account": {"name": "Acme & Co"},
        "owner": {"name": "Ana"},
        "stage": "won",
        "flags": [],
    }
    wa_id = wa_ids()[0]
    config = config_with(enrichment=enrichment(receiver))
    async with traza_with(env_with_secrets(traza_env), fakes, config) as traza:
        await traza.webhook(customer_text("hola", wa_id=wa_id))
        lines = await eventually(lambda: crm_lines(traza.slack, wa_id), 10, "the CRM facts on the card")
        card = await card_for(traza.slack, SOPORTE, wa_id)
        assert texts(await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1)) == ["hola"]
    assert lines == ["*Account:* Acme &amp; Co", "*Owner:* Ana", "*Stage:* won"]
    url, headers = receiver.crm_requests[0]
    assert f"phone=%2B{wa_id}&ref=1001" in url and headers["authorization"] == f"Bearer {CRM_TOKEN}"
    enriched = [e for e in await logged_events(database_url) if e["type"] == "CustomerEnriched"]
    assert len(enriched) == 1 and enriched[0]["ref"] == 1001 and enriched[0]["actor"] == "crm"
    facts = {"account": "Acme & Co", "owner": "Ana", "stage": "won"}
    assert json.loads(enriched[0]["payload"])["facts"] == facts
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert dict(await facts_for_conversation(conn, 1)) == facts
            assert dict(await facts_for_contact(conn, 1)) == facts
            assert dict(await facts_for_contact(conn, 999)) == {}
    finally:
        await engine.dispose()


async def test_a_crm_timeout_is_shown_on_the_card_and_mirroring_does_not_wait(
    traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver, database_url: str
) -> None:
    receiver.crm_delay = 3.0
    wa_id = wa_ids()[0]
    config = config_with(enrichment=enrichment(receiver, timeout=1.0))
    async with traza_with(env_with_secrets(traza_env), fakes, config) as traza:
        await traza.webhook(customer_text("¿hay alguien?", wa_id=wa_id))
        lines = await eventually(lambda: crm_lines(traza.slack, wa_id), 10, "the CRM failure on the card")
        card = await card_for(traza.slack, SOPORTE, wa_id)
        assert texts(await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1)) == ["¿hay alguien?"]
    assert lines == [":warning: CRM lookup failed: timed out after 1 s"]
    order = [e["type"] for e in await logged_events(database_url)]
    assert order.index("CustomerMessageMirrored") < order.index("CustomerEnrichmentFailed")


async def test_a_crm_error_is_shown_on_the_card_and_recorded(
    traza_env: dict[str, str], fakes: Fakes, receiver: FakeReceiver, database_url: str
) -> None:
    receiver.crm_status = 500
    wa_id = wa_ids()[0]
    config = config_with(enrichment=enrichment(receiver))
    async with traza_with(env_with_secrets(traza_env), fakes, config) as traza:
        await traza.webhook(customer_text("hola", wa_id=wa_id))
        lines = await eventually(lambda: crm_lines(traza.slack, wa_id), 10, "the CRM failure on the card")
        card = await card_for(traza.slack, SOPORTE, wa_id)
        await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1)
    assert lines == [":warning: CRM lookup failed: HTTP 500"]
    failed = [
        json.loads(e["payload"])
        for e in await logged_events(database_url)
        if e["type"] == "CustomerEnrichmentFailed"
    ]
    assert failed == [{"contact_id": 1, "reason": "HTTP 500"}]
