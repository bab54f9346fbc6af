"""Slack rendering of inbound messages: every body kind, escaping, decorations, usernames."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from bot.render import RenderedMessage, customer_username, escape_mrkdwn, render_inbound
from bridge.domain import WaMessageId, WaPhoneNumberId
from bridge.inbound import (
    ChoiceBody,
    ContactsBody,
    EditBody,
    InboundMessage,
    LocationBody,
    MediaBody,
    MessageBody,
    MessageContext,
    OrderBody,
    OrderItem,
    ReactionBody,
    Referral,
    RemoteError,
    RevokeBody,
    Sender,
    SharedContact,
    SystemBody,
    TextBody,
    UnsupportedBody,
)
from bridge.whatsapp.parsing import parse_webhook
from tests.fixture_files import wa_json, wa_names


def message(body: MessageBody, **changes: object) -> InboundMessage:
    base = InboundMessage(
        wa_message_id=WaMessageId("wamid.1"),
        phone_number_id=WaPhoneNumberId("106540352242922"),
        display_phone_number="15550783881",
        sender=Sender("16505551234", "US.1", "Sheena Nelson"),
        sent_at=datetime(2026, 4, 1, tzinfo=UTC),
        body=body,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def render(body: MessageBody, **changes: object) -> RenderedMessage:
    return render_inbound(message(body, **changes))


FIXTURES = wa_names("in_*.json") + wa_names("batch_*.json") + wa_names("multi_*.json")


@pytest.mark.parametrize("name", FIXTURES)
def test_every_fixture_message_renders_readable_text(name: str) -> None:
    for inbound in parse_webhook(wa_json(name)).messages:
        rendered = render_inbound(inbound)
        assert rendered.text.strip()
        assert "<!" not in rendered.text


def test_text_is_the_customers_own_words() -> None:
    rendered = render(TextBody("Where is my order?"))
    assert rendered == RenderedMessage("Where is my order?", None, False)


def test_customer_text_cannot_inject_mentions_or_links() -> None:
    rendered = render(TextBody("<!channel> <@U123> <http://evil|click> & more"))
    assert rendered.text == ("&lt;!channel&gt; &lt;@U123&gt; &lt;http://evil|click&gt; &amp; more")


def test_escape_mrkdwn_escapes_ampersand_first() -> None:
    assert escape_mrkdwn("&lt;") == "&amp;lt;"


def test_blank_text_renders_a_placeholder_notice() -> None:
    rendered = render(TextBody("  "))
    assert rendered.text and rendered.notice


def test_image_with_caption_shows_caption_and_carries_media() -> None:
    body = MediaBody("image", "m1", "image/jpeg", caption="Broken <box>")
    rendered = render(body)
    assert rendered == RenderedMessage("Broken &lt;box&gt;", body, False)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (MediaBody("image", "m", "image/jpeg"), "📷 image"),
        (MediaBody("audio", "m", "audio/ogg", voice=True), "🎤 voice note"),
        (MediaBody("audio", "m", "audio/mpeg"), "🎧 audio"),
        (MediaBody("video", "m", "video/mp4"), "🎬 video"),
        (MediaBody("document", "m", "application/pdf", filename="a&b.pdf"), "📄 document a&amp;b.pdf"),
        (MediaBody("sticker", "m", "image/webp"), "💟 sticker"),
        (MediaBody("sticker", "m", "image/webp", animated=True), "💟 animated sticker"),
    ],
)
def test_media_without_caption_gets_a_kind_label(body: MediaBody, expected: str) -> None:
    rendered = render(body)
    assert (rendered.text, rendered.media, rendered.notice) == (expected, body, True)


def test_location_shows_name_address_and_maps_link() -> None:
    body = LocationBody(37.483872, -122.148358, name="Philz <Coffee>", address="101 Forest Ave")
    rendered = render(body)
    assert "*Philz &lt;Coffee&gt;*" in rendered.text
    assert "101 Forest Ave" in rendered.text
    assert "<https://maps.google.com/?q=37.483872,-122.148358|Open in Google Maps>" in rendered.text
    assert rendered.notice and rendered.media is None


def test_contacts_render_as_card_list() -> None:
    cards = (
        SharedContact("Barbara Johnson", ("+1 940 555 1234",), ("b@example.com",), "Lucky Shrub"),
        SharedContact("Ann", ()),
    )
    text = render(ContactsBody(cards)).text
    assert text.splitlines() == [
        "👤 shared 2 contacts",
        "• *Barbara Johnson* (Lucky Shrub) — +1 940 555 1234, b@example.com",
        "• *Ann*",
    ]


def test_choice_shows_chosen_title() -> None:
    assert render(ChoiceBody("button_reply", "c1", "Cancel order")).text == "↩︎ chose: *Cancel order*"
    list_text = render(ChoiceBody("list_reply", "p", "Express", "Next day")).text
    assert list_text == "↩︎ chose: *Express* — Next day"
    template = render(ChoiceBody("template_button", "reopen", "Talk to an agent"))
    assert template.text == "↩︎ chose: *Talk to an agent*" and template.notice


def test_reaction_and_its_removal() -> None:
    assert render(ReactionBody(WaMessageId("w"), "👍")).text == "reacted 👍 to a message"
    assert render(ReactionBody(WaMessageId("w"), "")).text == "removed their reaction"


def test_order_lists_items_and_totals_per_currency() -> None:
    items = (
        OrderItem("mug", 2, 12.5, "USD"),
        OrderItem("tea", 1, 30, "USD"),
        OrderItem("map", 1, 5, "EUR"),
    )
    text = render(OrderBody("cat", "Before Friday", items)).text
    assert "• 2 × mug @ 12.50 USD" in text
    assert "*Total: 55.00 USD*" in text and "*Total: 5.00 EUR*" in text
    assert text.endswith("Before Friday")


def test_number_change_shows_new_phone() -> None:
    body = SystemBody("user_changed_number", "changed", new_wa_id="16505559876")
    assert render(body).text == "📱 changed their phone number to +16505559876"


def test_other_system_notices_show_their_text() -> None:
    assert render(SystemBody("customer_identity_changed", "Identity <changed>")).text == (
        "ℹ️ Identity &lt;changed&gt;"
    )
    assert render(SystemBody("user_changed_user_id", "", new_user_id="MX.2")).text


def test_edit_shows_new_text() -> None:
    body = EditBody(WaMessageId("w"), TextBody("new <text>"))
    assert render(body).text == "✏️ edited a message: new &lt;text&gt;"


def test_revoke_is_a_deletion_notice() -> None:
    rendered = render(RevokeBody(WaMessageId("w")))
    assert (rendered.text, rendered.notice) == ("🗑️ deleted a message", True)


def test_unsupported_names_type_and_error_title() -> None:
    body = UnsupportedBody("poll_creation", (RemoteError(131051, "Message type unknown"),))
    assert render(body).text == ("⚠️ sent a message Slack cannot show (poll_creation: Message type unknown)")
    assert render(UnsupportedBody("gif")).text == "⚠️ sent a message Slack cannot show (gif)"


def test_forwarded_message_is_prefixed() -> None:
    rendered = render(TextBody("look"), context=MessageContext(forwarded=True))
    assert rendered.text == "_Forwarded_\nlook"
    many = render(TextBody("look"), context=MessageContext(frequently_forwarded=True))
    assert many.text.startswith("_Forwarded many times_")


def test_referral_adds_ad_line() -> None:
    referral = Referral("ad", "https://fb.me/x", "Spring <sale>")
    text = render(TextBody("hi"), referral=referral).text
    assert text == "hi\n📣 came from ad: Spring &lt;sale&gt; https://fb.me/x"


def test_quoted_reply_renders_only_the_text() -> None:
    rendered = render(TextBody("yes"), context=MessageContext(quoted=WaMessageId("wamid.q")))
    assert rendered.text == "yes"


@pytest.mark.parametrize(
    ("name", "phone", "username", "expected"),
    [
        ("Sheena Nelson", "+16505551234", None, "Sheena Nelson (WhatsApp +16505551234)"),
        ("Marco Rossi", "", "marco.rossi", "Marco Rossi (WhatsApp @marco.rossi)"),
        (None, "", "marco.rossi", "@marco.rossi (WhatsApp)"),
        (None, "+16505551234", None, "+16505551234 (WhatsApp)"),
        ("  Ana \n Paula ", "+5511987654321", None, "Ana Paula (WhatsApp +5511987654321)"),
        (None, "", None, "WhatsApp customer"),
    ],
)
def test_customer_username(name: str | None, phone: str, username: str | None, expected: str) -> None:
    assert customer_username(name, phone, username) == expected


def test_customer_username_shortens_the_name_not_the_tag() -> None:
    result = customer_username("N" * 200, "+16505551234", None)
    assert len(result) == 80
    assert result.endswith("… (WhatsApp +16505551234)")
