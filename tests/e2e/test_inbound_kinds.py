"""Every inbound message kind of the Cloud API, posted as the exact bytes of the reference fixtures,
becomes a card and a readable thread reply under the customer's name; media travels as files."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.test_inbound_support import (
    SOPORTE,
    card_for,
    cards,
    completed_uploads,
    customer_replies,
    customer_text,
    ok_posts,
    slack_text_of,
    wa_ids,
    wait_customer_replies,
    wait_uploads,
)
from tests.fakes import whatsapp_payloads as wp
from tests.fixture_files import wa_fixture, wa_json, wa_names
from tests.harness import Harness, eventually

INBOUND_FIXTURES = wa_names("in_*.json")

# media id, mime type of every media fixture
MEDIA = {
    "in_04_image_caption.json": ("1003383421387256", "image/jpeg"),
    "in_05_audio_voice_note.json": ("1187654321098765", "audio/ogg"),
    "in_06_video.json": ("765756756123456", "video/mp4"),
    "in_07_document.json": ("1376223850470843", "application/pdf"),
    "in_08_sticker.json": ("2011223344556677", "image/webp"),
}

# What an agent must be able to read in the thread for each kind (taken from the payload itself).
EXPECTED_TEXT = {
    "in_01_text.json": ["Hi, my order #4821 hasn't arrived yet. Can you check?"],
    "in_02_text_reply_context.json": ["Yes, that's the right address"],
    "in_03_text_forwarded.json": ["Look what I got from your shop last week", "orward"],
    "in_04_image_caption.json": ["The box arrived damaged"],
    "in_05_audio_voice_note.json": ["voice"],
    "in_06_video.json": ["Unboxing"],
    "in_07_document.json": ["Invoice attached"],
    "in_08_sticker.json": ["sticker"],
    "in_09_location.json": ["Philz Coffee", "101 Forest Ave"],
    "in_10_contacts_shared.json": ["Barbara Johnson"],
    "in_11_interactive_button_reply.json": ["Cancel order"],
    "in_12_interactive_list_reply.json": ["Priority Mail Express"],
    "in_13_button_template_quick_reply.json": ["Talk to an agent"],
    "in_14_reaction.json": ["👍"],
    "in_15_reaction_removed.json": ["reaction"],
    "in_16_order.json": ["mug-blue-350", "tea-sampler-6"],
    "in_17_system_user_changed_number.json": ["number"],
    "in_18_unsupported.json": ["poll"],
    "in_19_referral_click_to_whatsapp_ad.json": ["Hi, is the spring sale still on?"],
    "in_20_bsuid_username_no_phone.json": ["Ciao! Do you ship to Milan?"],
    "in_21_edit.json": ["Hi, my order #4821 still hasn't arrived. Can you check today?"],
    "in_22_revoke.json": ["delet"],
}


def _message(name: str) -> dict[str, Any]:
    return wa_json(name)["entry"][0]["changes"][0]["value"]["messages"][0]


def _customer_name(name: str) -> str:
    value = wa_json(name)["entry"][0]["changes"][0]["value"]
    contacts = value.get("contacts")
    if contacts:
        return str(contacts[0]["profile"]["name"])
    return "+" + str(value["messages"][0]["from"])  # no profile: the phone names the customer


def _seed_all_media(traza: Harness) -> dict[str, bytes]:
    data = {}
    for name, (media_id, mime) in MEDIA.items():
        data[name] = f"bytes of {name} ".encode() * 50 + bytes(range(256))
        traza.graph.add_media(media_id, data[name], mime)
    return data


def test_every_inbound_fixture_has_an_expectation() -> None:
    assert sorted(EXPECTED_TEXT) == INBOUND_FIXTURES


@pytest.mark.parametrize("fixture", INBOUND_FIXTURES)
async def test_inbound_fixture_opens_card_and_readable_reply_under_customer_name(
    traza: Harness, fixture: str
) -> None:
    media = _seed_all_media(traza)
    response = await traza.webhook(wa_fixture(fixture))  # exact bytes, as Meta sent them
    assert response.status_code == 200, response.text
    thread = await traza.thread_of(SOPORTE)
    replies = await wait_customer_replies(traza.slack, SOPORTE, thread, 1)
    reply = replies[0]
    text = slack_text_of(reply)
    assert text.strip(), "the thread reply must never be empty"
    for expected in EXPECTED_TEXT[fixture]:
        assert expected in text, f"{expected!r} not in {text!r}"
    assert "WhatsApp" in reply["username"]
    customer = _customer_name(fixture)
    if fixture != "in_17_system_user_changed_number.json":
        assert customer in reply["username"], reply["username"]
    assert (reply.get("metadata") or {}).get("event_payload", {}).get("wa_message_id") == _message(fixture)[
        "id"
    ]
    if fixture in MEDIA:
        [(_, data, args)] = await wait_uploads(traza.slack, 1)
        assert data == media[fixture]
        assert args.get("thread_ts") == thread
    await asyncio.sleep(0.3)
    assert len(cards(traza.slack, SOPORTE)) == 1
    assert len(customer_replies(traza.slack, SOPORTE, thread)) == 1


@pytest.mark.parametrize("fixture", sorted(MEDIA))
async def test_inbound_media_bytes_are_uploaded_into_the_thread(traza: Harness, fixture: str) -> None:
    media_id, mime = MEDIA[fixture]
    data = b"\x89MEDIA" + fixture.encode() + bytes(range(256)) * 40
    traza.graph.add_media(media_id, data, mime)
    assert (await traza.webhook(wa_fixture(fixture))).status_code == 200
    thread = await traza.thread_of(SOPORTE)
    await wait_customer_replies(traza.slack, SOPORTE, thread, 1)

    [(file_id, uploaded, args)] = await wait_uploads(traza.slack, 1)
    assert uploaded == data
    assert args.get("thread_ts") == thread
    assert args.get("channel_id", args.get("channels")) in (SOPORTE, [SOPORTE])
    await asyncio.sleep(0.3)
    assert len(completed_uploads(traza.slack)) == 1
    if fixture == "in_07_document.json":
        assert traza.slack.files()[file_id]["name"] == "invoice-4821.pdf"
    graph_token = [c.headers.get("authorization") for c in traza.graph.requests("media_download")]
    assert graph_token and all(t == "Bearer wa-test-token" for t in graph_token)


@pytest.mark.parametrize("fixture", sorted(MEDIA))
async def test_media_that_cannot_be_downloaded_leaves_a_readable_notice(traza: Harness, fixture: str) -> None:
    # nothing seeded: the Graph API answers "object does not exist"
    assert (await traza.webhook(wa_fixture(fixture))).status_code == 200
    thread = await traza.thread_of(SOPORTE)
    await wait_customer_replies(traza.slack, SOPORTE, thread, 1)
    notices = await eventually(
        lambda: [
            m
            for m in traza.slack.thread(SOPORTE, thread)
            if "WhatsApp" not in str(m.get("username", "")) and "download" in m.get("text", "").lower()
        ],
        15,
        "a notice that the media could not be downloaded",
    )
    assert len(notices) == 1
    assert traza.slack.files() == {}
    # the worker is alive and keeps mirroring
    follow_up = customer_text("did you get it?", wa_id=wp.CUSTOMER_WA_ID, user_id=wp.CUSTOMER_USER_ID)
    assert (await traza.webhook(follow_up)).status_code == 200
    replies = await wait_customer_replies(traza.slack, SOPORTE, thread, 2)
    assert replies[-1]["text"] == "did you get it?"


async def test_media_download_transient_failure_is_retried_and_uploaded_once(traza: Harness) -> None:
    fixture = "in_04_image_caption.json"
    media_id, mime = MEDIA[fixture]
    data = b"\xff\xd8\xff-jpeg-" * 500
    traza.graph.add_media(media_id, data, mime)
    traza.graph.server_error_next(times=1, code=131000, op="media_download")
    assert (await traza.webhook(wa_fixture(fixture))).status_code == 200
    thread = await traza.thread_of(SOPORTE)
    await wait_uploads(traza.slack, 1, 20)
    await asyncio.sleep(0.5)
    assert [u[1] for u in completed_uploads(traza.slack)] == [data]
    assert len(customer_replies(traza.slack, SOPORTE, thread)) == 1  # the caption is not posted twice
    notices = [m for m in traza.slack.thread(SOPORTE, thread) if "download" in m.get("text", "").lower()]
    assert notices == []


async def test_unsupported_message_type_is_a_readable_notice_not_dropped(traza: Harness) -> None:
    wa_id = wa_ids()[0]
    body = wp.inbound_webhook(
        [
            wp.inbound_message(
                "unsupported",
                {"type": "poll_creation"},
                wa_id=wa_id,
                user_id=None,
                errors=[wp.status_error(131051, title="Message type unknown")],
            ),
            wp.inbound_message("some_future_type", {"x": 1}, wa_id=wa_id, user_id=None),
        ],
        wa_id=wa_id,
        user_id=None,
        name="Ana Gómez",
    )
    assert (await traza.webhook(body)).status_code == 200
    card = await card_for(traza.slack, SOPORTE, wa_id)
    replies = await wait_customer_replies(traza.slack, SOPORTE, card["ts"], 2)
    for reply in replies:
        assert reply["text"].strip()
        assert "Ana Gómez" in reply["username"]
    assert "poll" in replies[0]["text"]
    assert "some_future_type" in replies[1]["text"]


async def test_bsuid_only_customer_without_phone_gets_a_card_and_reply(traza: Harness) -> None:
    assert (await traza.webhook(wa_fixture("in_20_bsuid_username_no_phone.json"))).status_code == 200
    thread = await traza.thread_of(SOPORTE)
    [reply] = await wait_customer_replies(traza.slack, SOPORTE, thread, 1)
    assert reply["text"] == "Ciao! Do you ship to Milan?"
    assert "Marco Rossi" in reply["username"] and "marco.rossi" in reply["username"]
    card = cards(traza.slack, SOPORTE)[0]
    assert "Marco Rossi" in card["text"]
    # a second message from the same BSUID user lands in the same thread
    again = customer_text("Also Rome?", wa_id=None, user_id="IT.83920174652019384756", name="Marco Rossi")
    assert (await traza.webhook(again)).status_code == 200
    replies = await wait_customer_replies(traza.slack, SOPORTE, thread, 2)
    assert [r["text"] for r in replies] == ["Ciao! Do you ship to Milan?", "Also Rome?"]
    assert len(cards(traza.slack, SOPORTE)) == 1


async def test_batch_fixture_with_several_updates_mirrors_each_message_in_order(traza: Harness) -> None:
    image = b"\xff\xd8batch-image" * 100
    traza.graph.add_media("1009988776655443", image, "image/jpeg")
    assert (await traza.webhook(wa_fixture("batch_01_several_updates_one_post.json"))).status_code == 200
    sheena = await card_for(traza.slack, SOPORTE, "16505551234")
    rafael = await card_for(traza.slack, SOPORTE, "5511987654321")
    sheena_replies = await wait_customer_replies(traza.slack, SOPORTE, sheena["ts"], 3)
    assert slack_text_of(sheena_replies[0]) == "One more thing:"
    assert slack_text_of(sheena_replies[2]) == "the label says 4821 & it's torn <see photo>"
    assert "<see photo>" not in sheena_replies[2]["text"]  # escaped for mrkdwn
    [rafael_reply] = await wait_customer_replies(traza.slack, SOPORTE, rafael["ts"], 1)
    assert rafael_reply["text"] == "Olá, vocês entregam em Campinas?"
    assert "Rafael Souza" in rafael_reply["username"]
    [(_, uploaded, args)] = await wait_uploads(traza.slack, 1)
    assert uploaded == image
    assert args.get("thread_ts") == sheena["ts"]
    await asyncio.sleep(0.5)
    assert len(cards(traza.slack, SOPORTE)) == 2
    assert len(ok_posts(traza.slack, SOPORTE)) == 2 + 4
