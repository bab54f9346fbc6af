"""At-least-once in, exactly-once out, order kept, routing, statuses: the delivery guarantees of the
inbound path, observed only through signed webhooks in and Slack calls out."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.test_inbound_support import (
    NUMBER_1,
    NUMBER_2,
    SOPORTE,
    VENTAS,
    all_cards,
    card_for,
    cards,
    cards_for,
    customer_replies,
    customer_text,
    ok_posts,
    text_batch,
    texts,
    wa_ids,
    wait_customer_replies,
)
from tests.fakes import whatsapp_payloads as wp
from tests.fixture_files import wa_fixture, wa_names
from tests.harness import Harness, eventually

# ---------------------------------------------------------------- duplicates


async def test_same_webhook_delivered_twice_gives_one_thread_reply(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    raw = wp.serialize(customer_text("una sola vez", wa_id=wa_id))
    assert (await traza.webhook(raw)).status_code == 200
    assert (await traza.webhook(raw)).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id)
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1)
    await asyncio.sleep(1.0)
    assert texts(customer_replies(traza.slack, SOPORTE, card["ts"])) == ["una sola vez"]
    assert len(cards_for(traza.slack, SOPORTE, wa_id)) == 1
    assert len(ok_posts(traza.slack)) == 2


async def test_same_webhook_delivered_concurrently_gives_one_thread_reply(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    raw = wp.serialize(customer_text("reintento simultáneo", wa_id=wa_id))
    responses = await asyncio.gather(*(traza.webhook(raw) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    card = await card_for(traza.slack, SOPORTE, wa_id)
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1)
    await asyncio.sleep(1.0)
    assert texts(customer_replies(traza.slack, SOPORTE, card["ts"])) == ["reintento simultáneo"]
    assert len(ok_posts(traza.slack)) == 2


async def test_same_wamid_in_two_different_batches_is_mirrored_once(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    shared = wp.text_message("compartido", wa_id=wa_id, user_id=None, wamid=wp.new_wamid())
    first = wp.inbound_webhook(
        [wp.text_message("antes", wa_id=wa_id, user_id=None), shared], wa_id=wa_id, user_id=None
    )
    second = wp.inbound_webhook(
        [shared, wp.text_message("después", wa_id=wa_id, user_id=None)], wa_id=wa_id, user_id=None
    )
    assert (await traza.webhook(first)).status_code == 200
    assert (await traza.webhook(second)).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id)
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 3)
    await asyncio.sleep(1.0)
    assert texts(customer_replies(traza.slack, SOPORTE, card["ts"])) == ["antes", "compartido", "después"]


async def test_same_wamid_twice_inside_one_batch_is_mirrored_once(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    msg = wp.text_message("duplicado interno", wa_id=wa_id, user_id=None)
    body = wp.inbound_webhook(
        [msg, msg, wp.text_message("fin", wa_id=wa_id, user_id=None)], wa_id=wa_id, user_id=None
    )
    assert (await traza.webhook(body)).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id)
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 2)
    await asyncio.sleep(1.0)
    assert texts(customer_replies(traza.slack, SOPORTE, card["ts"])) == ["duplicado interno", "fin"]


async def test_redelivered_fixture_after_it_was_mirrored_is_ignored(traza: Harness) -> None:
    raw = wa_fixture("in_01_text.json")
    assert (await traza.webhook(raw)).status_code == 200
    thread = await traza.thread_of(SOPORTE)
    await wait_customer_replies(traza.slack, SOPORTE, thread, 1)
    await asyncio.sleep(0.5)
    assert (await traza.webhook(raw)).status_code == 200  # Meta retries hours later
    await asyncio.sleep(1.0)
    assert len(customer_replies(traza.slack, SOPORTE, thread)) == 1
    assert len(cards(traza.slack, SOPORTE)) == 1


# ---------------------------------------------------------------- order


async def test_thirty_separate_webhooks_from_one_customer_keep_their_order(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    sent = [f"mensaje {i:02d}" for i in range(30)]
    for body in sent:
        response = await traza.webhook(customer_text(body, wa_id=wa_id, user_id=None))
        assert response.status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id)
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 30, timeout=30)
    await asyncio.sleep(0.5)
    assert texts(customer_replies(traza.slack, SOPORTE, card["ts"])) == sent
    assert len(cards_for(traza.slack, SOPORTE, wa_id)) == 1


async def test_interleaved_customers_each_keep_their_own_order(traza: Harness) -> None:
    customers = wa_ids(5)
    expected = {c: [f"{c[-4:]}-{i:02d}" for i in range(8)] for c in customers}
    for i in range(8):
        for c in customers:
            response = await traza.webhook(customer_text(expected[c][i], wa_id=c, user_id=None))
            assert response.status_code == 200
    for c in customers:
        card = await card_for(traza.slack, SOPORTE, c, timeout=20)
        await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 8, timeout=30)
    await asyncio.sleep(0.5)
    for c in customers:
        [card] = cards_for(traza.slack, SOPORTE, c)
        assert texts(customer_replies(traza.slack, SOPORTE, card["ts"])) == expected[c]


async def test_messages_of_one_batch_keep_their_order_even_with_media_between(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    traza.graph.add_media("55501", b"img" * 100, "image/jpeg")
    items = [
        wp.text_message("uno", wa_id=wa_id, user_id=None),
        wp.media_message("image", "55501", "image/jpeg", caption="dos (foto)", wa_id=wa_id, user_id=None),
        wp.text_message("tres", wa_id=wa_id, user_id=None),
        {"type": "location", "location": {"latitude": -34.6, "longitude": -58.38, "name": "cuatro"}},
        wp.text_message("cinco", wa_id=wa_id, user_id=None),
    ]
    assert (await traza.webhook(wp.inbound_webhook(items, wa_id=wa_id, user_id=None))).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id)
    replies = await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 5)
    got = texts(replies)
    assert got[0] == "uno" and got[1] == "dos (foto)" and got[2] == "tres"
    assert "cuatro" in got[3] and got[4] == "cinco"


@pytest.mark.slow
async def test_batch_of_1000_messages_from_100_customers_is_acked_fast_and_fully_mirrored(
    traza: Harness,
) -> None:
    customers = wa_ids(100)
    batch = {c: [f"{c[-4:]} n{i}" for i in range(10)] for c in customers}
    raw = wp.serialize(text_batch(batch))
    started = time.perf_counter()
    response = await traza.webhook(raw)
    ack = time.perf_counter() - started
    assert response.status_code == 200
    assert ack < 1.0, f"acknowledging 1000 messages took {ack:.3f}s"

    def progress() -> tuple[int, int]:
        posts = ok_posts(traza.slack, SOPORTE)
        return sum(1 for p in posts if "thread_ts" not in p), sum(1 for p in posts if "thread_ts" in p)

    await eventually(lambda: progress() == (100, 1000), 60, "100 cards and 1000 replies")
    mirrored = time.perf_counter() - started
    await asyncio.sleep(1.0)
    assert progress() == (100, 1000)
    for c in customers:
        [card] = cards_for(traza.slack, SOPORTE, c)
        assert texts(customer_replies(traza.slack, SOPORTE, card["ts"])) == batch[c]
    print(f"\n1000-message batch: ack {ack * 1000:.0f} ms, fully mirrored in {mirrored:.1f} s")


# ---------------------------------------------------------------- routing


@pytest.mark.parametrize(
    "text",
    ["Hola, ¿cuál es el precio del plan anual?", "Quiero COMPRAR dos", "Necesito una cotización"],
    ids=["precio", "uppercase", "accented"],
)
async def test_keyword_message_routes_to_ventas(traza: Harness, text: str) -> None:
    wa_id = wa_ids()[0]
    assert (await traza.webhook(customer_text(text, wa_id=wa_id))).status_code == 200
    card = await card_for(traza.slack, VENTAS, wa_id)
    assert "Ventas" in repr(card["blocks"])
    await wait_customer_replies(traza.slack, VENTAS, card["ts"], 1)
    await asyncio.sleep(0.3)
    assert cards(traza.slack, SOPORTE) == []


async def test_keyword_inside_another_word_does_not_route_to_ventas(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    body = customer_text("Mi comprador no recibió nada", wa_id=wa_id)
    assert (await traza.webhook(body)).status_code == 200
    await card_for(traza.slack, SOPORTE, wa_id)
    assert cards(traza.slack, VENTAS) == []


async def test_plain_message_on_first_number_goes_to_its_default_team_soporte(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    body = customer_text("No me funciona la app", wa_id=wa_id, phone_number_id=NUMBER_1)
    assert (await traza.webhook(body)).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id)
    assert "Soporte" in repr(card["blocks"])
    await asyncio.sleep(0.3)
    assert cards(traza.slack, VENTAS) == []


async def test_second_number_without_default_team_falls_back_to_routing_default(traza: Harness) -> None:
    assert (await traza.webhook(wa_fixture("multi_01_second_phone_number_id.json"))).status_code == 200
    thread = await traza.thread_of(SOPORTE)
    [reply] = await wait_customer_replies(traza.slack, SOPORTE, thread, 1)
    assert reply["text"] == "Hi, I'm writing to your returns number now"
    await asyncio.sleep(0.3)
    assert set(all_cards(traza.slack)) == {SOPORTE}


async def test_one_open_conversation_per_customer_and_number(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    first = customer_text("primero", wa_id=wa_id, phone_number_id=NUMBER_1)
    # a keyword later in the conversation does not move it nor open another one
    second = customer_text("y el precio?", wa_id=wa_id, phone_number_id=NUMBER_1)
    other_number = customer_text(
        "ahora al otro número", wa_id=wa_id, phone_number_id=NUMBER_2, display_phone_number="15550783882"
    )
    assert (await traza.webhook(first)).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id)
    assert (await traza.webhook(second)).status_code == 200
    replies = await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 2)
    assert texts(replies) == ["primero", "y el precio?"]
    assert cards(traza.slack, VENTAS) == []
    assert (await traza.webhook(other_number)).status_code == 200
    both = await eventually(
        lambda: len(cards_for(traza.slack, SOPORTE, wa_id)) == 2 and cards_for(traza.slack, SOPORTE, wa_id),
        10,
        "a second card",
    )
    assert both[0]["ts"] == card["ts"]
    assert "15550783882" in repr(both[1]["blocks"]) or "555-078-3882" in repr(both[1]["blocks"])
    assert both[0]["text"].split(" · ")[0] != both[1]["text"].split(" · ")[0]  # a different ref
    [reply] = await wait_customer_replies(traza.slack, SOPORTE, both[1]["ts"], 1)
    assert reply["text"] == "ahora al otro número"
    assert len(customer_replies(traza.slack, SOPORTE, card["ts"])) == 2


# ---------------------------------------------------------------- statuses


async def test_statuses_for_unknown_messages_are_accepted_and_post_nothing(traza: Harness) -> None:
    fixtures = wa_names("st_*.json")
    assert len(fixtures) >= 5
    for fixture in fixtures:
        response = await traza.webhook(wa_fixture(fixture))
        assert response.status_code == 200, fixture
    await asyncio.sleep(1.0)
    assert traza.slack.calls_to("chat.postMessage") == []
    assert traza.slack.calls_to("chat.update") == []
    # and Traza is still healthy and mirroring
    wa_id = wa_ids()[0]
    assert (await traza.webhook(customer_text("sigo aquí", wa_id=wa_id))).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id)
    await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 1)
