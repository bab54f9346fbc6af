"""Routing end to end: signed webhooks are routed by each kind of rule, the card lands in the team's
channel (spread over a large team's channels), the routing menu holds a conversation until it is
answered or times out, and the history (``ConversationRouted``) names the rule and why."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bridge.config import load_config
from store.customer_facts import facts_for_contact
from store.db import create_engine
from store.tables import contacts, conversations, events
from tests.e2e.integrations_support import env_with_secrets, fake_receiver, receiver, traza_with
from tests.e2e.test_control import slash
from tests.e2e.test_inbound_support import cards, cards_for, customer_replies, ok_posts, wa_ids
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.receiver import FakeReceiver
from tests.fakes.slack import FakeSlack
from tests.harness import Harness, eventually, running_traza
from traza.settings import Settings

__all__ = ["fake_receiver", "receiver"]
NUMBER, MENU_NUMBER, QUICK_MENU_NUMBER = "106540352242922", "106540352242923", "106540352242924"
VENTAS_1, VENTAS_2, SOPORTE, GUARDIA = "C0VENTAS01", "C0VENTAS02", "C0SOPORTE1", "C0GUARDIA1"
CUENTAS, FACTURA = "C0CUENTAS1", "C0FACTURA1"
WEDNESDAY_11_MADRID = int(datetime(2026, 11, 25, 10, 0, tzinfo=UTC).timestamp())
WEDNESDAY_23_MADRID = int(datetime(2026, 11, 25, 22, 0, tzinfo=UTC).timestamp())
GOLD, VIP = "5491100777001", "5491100777002"
MENU = """
        text: "Hola, ¿con quién quieres hablar?"
        timeout: {timeout}
        options:
          - {{title: Ventas, team: ventas}}
          - {{title: Soporte, team: soporte}}
          - {{title: Facturación, team: facturacion}}
"""
CONFIG = f"""
teams:
  - id: ventas
    name: Ventas
    slack_channels: [C0VENTAS01, C0VENTAS02]
    members: [U0AGENT001]
    keywords: [precio]
  - id: soporte
    name: Soporte
    slack_channel: C0SOPORTE1
    members: [U0AGENT003]
    hours:
      timezone: Europe/Madrid
      open: {{mon-fri: "09:00-18:00"}}
      after_hours_reply: "Estamos cerrados; te atiende la guardia."
      on_call_team: guardia
  - id: guardia
    name: Guardia
    slack_channel: C0GUARDIA1
  - id: cuentas
    name: Cuentas clave
    slack_channel: C0CUENTAS1
  - id: facturacion
    name: Facturación
    slack_channel: C0FACTURA1
numbers:
  - phone_number_id: "{NUMBER}"
    default_team: soporte
  - phone_number_id: "{MENU_NUMBER}"
  - phone_number_id: "{QUICK_MENU_NUMBER}"
customers:
  "+{GOLD}": {{tier: gold}}
routing:
  default_team: soporte
  vip: ["+{VIP}"]
  rules:
    - name: vip
      when: {{vip: true}}
      team: cuentas
    - name: gold
      when: {{customer: {{tier: gold}}}}
      team: cuentas
    - name: invoices
      when: {{pattern: 'factura\\s*#?\\d+'}}
      team: facturacion
    - name: returning
      when: {{number: "{MENU_NUMBER}", stage: returning}}
      team: ventas
    - name: menu
      when: {{number: "{MENU_NUMBER}"}}
      menu: {MENU.format(timeout="10m")}
    - name: quick menu
      when: {{number: "{QUICK_MENU_NUMBER}"}}
      menu: {MENU.format(timeout="1s")}
"""


@pytest.fixture
async def routed_paced(
    traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]
) -> AsyncIterator[Harness]:
    """Routing config with Slack's pace kept: TRAZA_SLACK_PACE=2 posts per second per channel."""
    slack, graph = fakes
    env = {**traza_env, "TRAZA_SLACK_PACE": "2"}
    async with running_traza(env, config=load_config(yaml.safe_load(CONFIG))) as client:
        yield Harness(client, slack, graph, Settings.from_env(env, env_file=None))


@pytest.fixture
async def routed(traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]) -> AsyncIterator[Harness]:
    slack, graph = fakes
    config = load_config(yaml.safe_load(CONFIG))
    async with running_traza(traza_env, config=config) as client:
        yield Harness(client, slack, graph, Settings.from_env(traza_env, env_file=None))


async def say(
    h: Harness, wa_id: str, text: str, *, number: str = NUMBER, at: int = WEDNESDAY_11_MADRID
) -> None:
    body = wp.inbound_text_webhook(text, wa_id=wa_id, user_id=None, phone_number_id=number, ts=at)
    assert (await h.webhook(body)).status_code == 200


async def routed_events(h: Harness, wa_id: str) -> list[dict[str, Any]]:
    """The ConversationRouted / MenuOffered payloads of the customer's conversations, oldest first."""
    engine = create_engine(h.settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(events.c.type, events.c.payload)
                .join(conversations, conversations.c.id == events.c.conversation_id)
                .join(contacts, contacts.c.id == conversations.c.contact_id)
                .where(events.c.type.in_(("ConversationRouted", "MenuOffered")), contacts.c.wa_id == wa_id)
                .order_by(events.c.seq)
            )
            return [{"type": r.type, **json.loads(r.payload)} for r in rows]
    finally:
        await engine.dispose()


async def decision_for(h: Harness, channel: str | tuple[str, ...], wa_id: str) -> dict[str, Any]:
    """The card for ``wa_id`` in ``channel`` (or one of them) and its conversation's ConversationRouted."""
    channels = (channel,) if isinstance(channel, str) else channel

    def found() -> list[dict[str, Any]]:
        return [c for ch in channels for c in cards_for(h.slack, ch, wa_id)]

    card = (await eventually(found, 10, f"card for {wa_id} in {channels}"))[0]
    ref = card["metadata"]["event_payload"]["ref"]
    engine = create_engine(h.settings.database_url)
    try:
        async with engine.connect() as conn:
            payload = await conn.scalar(
                select(events.c.payload).where(events.c.ref == ref, events.c.type == "ConversationRouted")
            )
    finally:
        await engine.dispose()
    assert payload is not None
    return {"card": card, **json.loads(payload)}


async def test_each_rule_kind_routes_a_webhook_and_the_history_explains_it(routed: Harness) -> None:
    h = routed
    plain, words, pattern, night, returning = wa_ids(5)
    await say(h, VIP, "hola")
    await say(h, GOLD, "hola")
    await say(h, pattern, "No encuentro la factura #4821")
    await say(h, words, "¿Qué PRECIO tiene?")
    await say(h, plain, "hola")
    await say(h, night, "hola", at=WEDNESDAY_23_MADRID)
    await say(h, returning, "hola")
    await say(h, returning, "otra vez yo", number=MENU_NUMBER)

    vip = await decision_for(h, CUENTAS, VIP)
    assert (vip["rule"], vip["name"], vip["reason"]) == ("rules[0]", "vip", "the customer is VIP")
    gold = await decision_for(h, CUENTAS, GOLD)
    assert (gold["rule"], gold["reason"]) == ("rules[1]", "customer.tier is 'gold'")
    assert gold["tried"][0] == {
        "rule": "rules[0] (vip)",
        "matched": False,
        "why": "the customer is not on the VIP list",
    }
    invoice = await decision_for(h, FACTURA, pattern)
    assert invoice["rule"] == "rules[2]" and "factura #4821" in invoice["reason"]
    keyword = await decision_for(h, (VENTAS_1, VENTAS_2), words)
    assert (keyword["rule"], keyword["reason"]) == ("teams[0].keywords", "keyword 'precio'")
    by_number = await decision_for(h, SOPORTE, plain)
    assert by_number["rule"] == "numbers[0].default_team"
    ref = by_number["card"]["metadata"]["event_payload"]["ref"]
    story = await slash(h, "/history", str(ref), "U0AGENT003")
    assert "routed to soporte by numbers[0].default_team: business number 106540352242922" in story, story
    assert ":compass: numbers[0].default_team" in json.dumps(by_number["card"]["blocks"], ensure_ascii=False)
    on_call = await decision_for(h, GUARDIA, night)
    assert (on_call["team"], on_call["chosen_team"]) == ("guardia", "soporte")
    assert "Wed 2026-11-25 23:00 Europe/Madrid is outside 09:00-18:00" in on_call["closed"]
    reply = await eventually(
        lambda: [s for s in h.graph.sends() if s.to == f"+{night}"], 10, "after-hours reply"
    )
    assert reply[0].text == "Estamos cerrados; te atiende la guardia."
    stage = await decision_for(h, (VENTAS_1, VENTAS_2), returning)
    assert (stage["rule"], stage["name"], stage["reason"]) == (
        "rules[3]",
        "returning",
        "business number 106540352242923; a returning customer",
    )
    # Only the night customer got an automatic message; nobody else was written to.
    assert {s.to for s in h.graph.sends()} == {f"+{night}"}


async def test_the_menu_holds_the_conversation_until_the_customer_answers(routed: Harness) -> None:
    h = routed
    (customer,) = wa_ids(1)
    await say(h, customer, "hola", number=MENU_NUMBER)
    menu = await eventually(lambda: [s for s in h.graph.sends() if s.to == f"+{customer}"], 10, "the menu")
    interactive = menu[0].body["interactive"]
    assert interactive["type"] == "button"
    assert [b["reply"]["title"] for b in interactive["action"]["buttons"]] == [
        "Ventas",
        "Soporte",
        "Facturación",
    ]
    assert interactive["body"]["text"].endswith("1. Ventas\n2. Soporte\n3. Facturación")

    await say(h, customer, "tengo una duda con un cobro", number=MENU_NUMBER)  # not an answer: still held
    answer = wp.inbound_message(
        "interactive",
        {"type": "button_reply", "button_reply": {"id": "traza-menu-3", "title": "Facturación"}},
        wa_id=customer,
        user_id=None,
        ts=WEDNESDAY_11_MADRID,
    )
    body = wp.inbound_webhook([answer], wa_id=customer, user_id=None, phone_number_id=MENU_NUMBER)
    assert not any(cards_for(h.slack, c, customer) for c in (SOPORTE, FACTURA, VENTAS_1, VENTAS_2))
    assert (await h.webhook(body)).status_code == 200

    decision = await decision_for(h, FACTURA, customer)
    assert (decision["rule"], decision["name"]) == ("rules[4]", "menu")
    assert decision["reason"].startswith("menu answer 3 (Facturación)")
    thread = decision["card"]["ts"]
    mirrored = await eventually(
        lambda: (
            len(customer_replies(h.slack, FACTURA, thread)) >= 3
            and customer_replies(h.slack, FACTURA, thread)
        ),
        10,
        "the held messages mirrored",
    )
    texts = [m["text"] for m in mirrored]
    assert "hola" in texts[0] and "cobro" in texts[1] and "Facturación" in texts[2]
    history = await routed_events(h, customer)
    assert [e["type"] for e in history] == ["MenuOffered", "ConversationRouted"]
    assert history[0]["rule"] == "rules[4]" and history[0]["options"][0]["title"] == "Ventas"


async def test_the_customer_may_answer_the_menu_by_typing_its_number(routed: Harness) -> None:
    h = routed
    (customer,) = wa_ids(1)
    await say(h, customer, "buenas", number=MENU_NUMBER)
    await eventually(lambda: [s for s in h.graph.sends() if s.to == f"+{customer}"], 10, "the menu")
    await say(h, customer, "2.", number=MENU_NUMBER)
    decision = await decision_for(h, SOPORTE, customer)
    assert (decision["rule"], decision["reason"]) == (
        "rules[4]",
        "menu answer 2 (Soporte); business number 106540352242923",
    )


async def test_an_unanswered_menu_times_out_to_the_default_team(routed: Harness) -> None:
    h = routed
    (customer,) = wa_ids(1)
    await say(h, customer, "hola", number=QUICK_MENU_NUMBER)
    decision = await decision_for(h, SOPORTE, customer)
    assert decision["rule"] == "routing.default_team"
    assert {
        "rule": "rules[5] (quick menu)",
        "matched": False,
        "why": "menu not answered: no answer within 1 s",
    } in (decision["tried"])
    thread = decision["card"]["ts"]
    await eventually(lambda: customer_replies(h.slack, SOPORTE, thread), 10, "the held message mirrored")


async def test_a_large_team_spreads_cards_over_its_channels_and_works_in_each(routed: Harness) -> None:
    h = routed
    customers = wa_ids(4)
    now = int(datetime.now(UTC).timestamp())  # the 24-hour window must be open for the reply below
    for customer in customers:
        await say(h, customer, "precio por favor", at=now)
    await eventually(
        lambda: len(cards(h.slack, VENTAS_1)) + len(cards(h.slack, VENTAS_2)) == 4, 10, "4 cards"
    )
    assert len(cards(h.slack, VENTAS_1)) == 2 and len(cards(h.slack, VENTAS_2)) == 2

    # Threads and commands work from the second channel just as from the first.
    card = cards(h.slack, VENTAS_2)[0]
    ref = card["metadata"]["event_payload"]["ref"]
    answer = await slash(h, "/claim", str(ref), "U0AGENT001", channel=VENTAS_2)
    assert answer.startswith(f"You now hold #{ref}"), answer
    customer = next(c for c in customers if card in cards_for(h.slack, VENTAS_2, c))
    await h.agent_says(VENTAS_2, card["ts"], "U0AGENT001", "Hola, ¿qué producto?")
    sent = await eventually(lambda: [s for s in h.graph.sends() if s.to == f"+{customer}"], 10, "the reply")
    assert "Hola, ¿qué producto?" in (sent[0].text or "")


async def test_a_menu_that_cannot_be_delivered_routes_at_once_without_waiting(routed: Harness) -> None:
    h = routed
    (customer,) = wa_ids(1)
    h.graph.fail_next_send(100, details="Invalid parameter")
    await say(h, customer, "hola", number=MENU_NUMBER)  # this menu would wait 10 minutes
    decision = await decision_for(h, SOPORTE, customer)
    assert decision["rule"] == "routing.default_team"
    assert decision["tried"][4]["rule"] == "rules[4] (menu)"
    assert decision["tried"][4]["why"].startswith("menu not answered: the menu could not be delivered")


async def test_a_menu_reported_failed_by_a_status_webhook_routes_at_once(routed: Harness) -> None:
    h = routed
    (customer,) = wa_ids(1)
    await say(h, customer, "hola", number=MENU_NUMBER)
    menu = await eventually(lambda: [s for s in h.graph.sends() if s.to == f"+{customer}"], 10, "the menu")
    failed = wp.status_webhook(
        menu[0].wamid,
        "failed",
        phone_number_id=MENU_NUMBER,
        recipient=customer,
        errors=[wp.status_error(131026, details="Message undeliverable")],
        # As Meta does: the status names the send, even before Traza has stored the send's answer.
        biz_opaque_callback_data=menu[0].body["biz_opaque_callback_data"],
    )
    assert (await h.webhook(failed)).status_code == 200
    decision = await decision_for(h, SOPORTE, customer)
    assert decision["tried"][4]["why"].startswith("menu not answered: the menu could not be delivered")


async def test_a_held_conversation_cannot_be_claimed_before_it_is_routed(routed: Harness) -> None:
    h = routed
    (customer,) = wa_ids(1)
    await say(h, customer, "hola", number=MENU_NUMBER)
    await eventually(lambda: [s for s in h.graph.sends() if s.to == f"+{customer}"], 10, "the menu")
    answer = await slash(h, "/claim", f"+{customer}", "U0AGENT003")
    assert "waiting for the customer to answer the routing menu" in answer, answer


def busiest_second(times: list[float]) -> int:
    times, best, start = sorted(times), 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_the_pace_applies_per_channel_so_a_team_with_two_channels_posts_twice_as_fast(
    routed_paced: Harness,
) -> None:
    h = routed_paced
    for customer in wa_ids(8):
        await say(h, customer, "precio")
    await eventually(
        lambda: len(ok_posts(h.slack, VENTAS_1)) + len(ok_posts(h.slack, VENTAS_2)) >= 16,
        30,
        "8 cards, 8 replies",
    )
    one, two = h.slack.post_times(VENTAS_1), h.slack.post_times(VENTAS_2)
    assert len(one) == len(two) == 8
    # Each channel keeps 2 posts a second (3 may fall in one window at its edges) ...
    assert h.slack.max_posts_per_window(VENTAS_1, 1.0) <= 3
    assert h.slack.max_posts_per_window(VENTAS_2, 1.0) <= 3
    # ... but the two channels do not share it: together they post more than one channel may.
    assert busiest_second(one + two) >= 4


async def test_facts_from_a_crm_lookup_route_the_customers_next_conversation(
    traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph], receiver: FakeReceiver
) -> None:
    receiver.crm_document = {"tier": "gold"}
    data = yaml.safe_load(CONFIG)
    data["enrichment"] = {
        "url": f"{receiver.url}/crm/lookup?phone={{phone}}",
        "token_env": "CRM_TOKEN",
        "fields": {"tier": "tier"},
    }
    (customer,) = wa_ids(1)
    async with traza_with(env_with_secrets(traza_env), fakes, load_config(data)) as h:
        await say(h, customer, "hola")  # nothing known yet: the number's team
        first = await decision_for(h, SOPORTE, customer)
        assert first["rule"] == "numbers[0].default_team"
        await eventually(lambda: crm_facts(h, customer), 10, "the CRM lookup recorded")
        await say(h, customer, "hola otra vez", number=MENU_NUMBER)
        second = await decision_for(h, CUENTAS, customer)
        assert (second["rule"], second["name"], second["reason"]) == (
            "rules[1]",
            "gold",
            "customer.tier is 'gold'",
        )


async def crm_facts(h: Harness, wa_id: str) -> dict[str, str]:
    engine = create_engine(h.settings.database_url)
    try:
        async with engine.connect() as conn:
            contact = await conn.scalar(select(contacts.c.id).where(contacts.c.wa_id == wa_id))
            return dict(await facts_for_contact(conn, int(contact))) if contact is not None else {}
    finally:
        await engine.dispose()


async def test_a_conversation_routed_when_its_menu_times_out_is_assigned_by_its_team(
    traza_env: dict[str, str], fakes: tuple[FakeSlack, FakeGraph]
) -> None:
    data = yaml.safe_load(CONFIG)
    data["teams"][1]["assignment"] = {"mode": "round_robin"}  # soporte: U0AGENT003
    (customer,) = wa_ids(1)
    async with traza_with(traza_env, fakes, load_config(data)) as h:
        await say(h, customer, "hola", number=QUICK_MENU_NUMBER)
        decision = await decision_for(h, SOPORTE, customer)
        assert decision["rule"] == "routing.default_team"

        async def assignee() -> str | None:
            engine = create_engine(h.settings.database_url)
            try:
                async with engine.connect() as conn:
                    return await conn.scalar(
                        select(conversations.c.assignee)
                        .join(contacts, contacts.c.id == conversations.c.contact_id)
                        .where(contacts.c.wa_id == customer)
                    )
            finally:
                await engine.dispose()

        assert await eventually(assignee, 10, "the conversation assigned") == "U0AGENT003"


async def test_messages_after_the_answer_in_the_same_webhook_are_mirrored_in_order(routed: Harness) -> None:
    h = routed
    (customer,) = wa_ids(1)
    await say(h, customer, "hola", number=MENU_NUMBER)
    await eventually(lambda: [s for s in h.graph.sends() if s.to == f"+{customer}"], 10, "the menu")
    both = wp.inbound_webhook(
        [
            wp.text_message("2", wa_id=customer, user_id=None, ts=WEDNESDAY_11_MADRID),
            wp.text_message("mi router no enciende", wa_id=customer, user_id=None, ts=WEDNESDAY_11_MADRID),
        ],
        wa_id=customer,
        user_id=None,
        phone_number_id=MENU_NUMBER,
    )
    assert (await h.webhook(both)).status_code == 200
    decision = await decision_for(h, SOPORTE, customer)
    thread = decision["card"]["ts"]
    mirrored = await eventually(
        lambda: (
            len(customer_replies(h.slack, SOPORTE, thread)) >= 3
            and customer_replies(h.slack, SOPORTE, thread)
        ),
        10,
        "three messages in the thread",
    )
    text = "\n".join(m["text"] for m in mirrored)
    assert text.index("hola") < text.index("2") < text.index("router")
