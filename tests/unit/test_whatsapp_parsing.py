"""Webhook parsing: every fixture, the skip/malformed policy, sender resolution, fuzzing, speed."""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.domain import WaMessageId
from bridge.inbound import (
    ChoiceBody,
    ContactsBody,
    EditBody,
    InboundMessage,
    LocationBody,
    MediaBody,
    OrderBody,
    ParsedWebhook,
    ReactionBody,
    RevokeBody,
    Sender,
    SystemBody,
    TextBody,
    UnsupportedBody,
)
from bridge.whatsapp.parsing import MalformedWebhook, parse_webhook
from tests.fixture_files import wa_json, wa_names

SHEENA_WA = "16505551234"
SHEENA_BSUID = "US.13491208655302741918"
NUMBER_ID = "106540352242922"


def only_message(name: str) -> InboundMessage:
    parsed = parse_webhook(wa_json(name))
    assert parsed.skipped == []
    assert len(parsed.messages) == 1
    return parsed.messages[0]


def _check_text(m: InboundMessage) -> None:
    assert m.body == TextBody("Hi, my order #4821 hasn't arrived yet. Can you check?")


def _check_reply(m: InboundMessage) -> None:
    assert isinstance(m.body, TextBody)
    assert m.context is not None
    assert m.context.quoted == "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"


def _check_forwarded(m: InboundMessage) -> None:
    assert m.context is not None and m.context.forwarded and not m.context.frequently_forwarded
    assert m.context.quoted is None


def _check_image(m: InboundMessage) -> None:
    assert isinstance(m.body, MediaBody)
    assert (m.body.kind, m.body.media_id, m.body.mime_type) == ("image", "1003383421387256", "image/jpeg")
    assert m.body.caption == "The box arrived damaged"
    assert m.body.sha256 == "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI="
    assert m.body.url is not None and m.body.url.startswith("https://lookaside.fbsbx.com/")


def _check_voice(m: InboundMessage) -> None:
    assert isinstance(m.body, MediaBody)
    assert m.body.kind == "audio" and m.body.voice
    assert m.body.mime_type == "audio/ogg; codecs=opus"


def _check_video(m: InboundMessage) -> None:
    assert isinstance(m.body, MediaBody)
    assert (m.body.kind, m.body.caption) == ("video", "Unboxing")


def _check_document(m: InboundMessage) -> None:
    assert isinstance(m.body, MediaBody)
    assert (m.body.kind, m.body.filename) == ("document", "invoice-4821.pdf")
    assert m.body.caption == "Invoice attached"


def _check_sticker(m: InboundMessage) -> None:
    assert isinstance(m.body, MediaBody)
    assert (m.body.kind, m.body.animated, m.body.mime_type) == ("sticker", False, "image/webp")


def _check_location(m: InboundMessage) -> None:
    assert m.body == LocationBody(
        latitude=37.483872,
        longitude=-122.148358,
        name="Philz Coffee",
        address="101 Forest Ave, Palo Alto, CA 94301",
        url="https://philzcoffee.com",
    )


def _check_contacts(m: InboundMessage) -> None:
    assert isinstance(m.body, ContactsBody)
    (card,) = m.body.contacts
    assert card.formatted_name == "Barbara Johnson"
    assert card.phones == ("+1 (940) 555-1234",)
    assert card.emails == ("bjohnson@example.com",)
    assert card.organization == "Lucky Shrub"


def _check_button_reply(m: InboundMessage) -> None:
    assert m.body == ChoiceBody("button_reply", "cancel-order-4821", "Cancel order")
    assert m.context is not None and m.context.quoted is not None


def _check_list_reply(m: InboundMessage) -> None:
    assert m.body == ChoiceBody(
        "list_reply", "priority_express", "Priority Mail Express", "Next Day to 2 Days"
    )


def _check_template_button(m: InboundMessage) -> None:
    assert m.body == ChoiceBody("template_button", "reopen-support-thread", "Talk to an agent")


def _check_reaction(m: InboundMessage) -> None:
    assert isinstance(m.body, ReactionBody)
    assert m.body.emoji == "👍"
    assert m.body.target == "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"


def _check_reaction_removed(m: InboundMessage) -> None:
    assert isinstance(m.body, ReactionBody) and m.body.emoji == ""


def _check_order(m: InboundMessage) -> None:
    assert isinstance(m.body, OrderBody)
    assert m.body.catalog_id == "194836987003835"
    assert m.body.text == "Please deliver before Friday"
    assert [(i.product_retailer_id, i.quantity, i.item_price, i.currency) for i in m.body.items] == [
        ("mug-blue-350", 2, 12.5, "USD"),
        ("tea-sampler-6", 1, 30.0, "USD"),
    ]


def _check_system_number(m: InboundMessage) -> None:
    assert isinstance(m.body, SystemBody)
    assert (m.body.kind, m.body.new_wa_id) == ("user_changed_number", "16505559876")
    assert m.sender.wa_id == SHEENA_WA and m.sender.profile_name is None


def _check_unsupported(m: InboundMessage) -> None:
    assert isinstance(m.body, UnsupportedBody)
    assert m.body.type_name == "poll_creation"
    assert [(e.code, e.title) for e in m.body.errors] == [(131051, "Message type unknown")]
    assert m.body.errors[0].details == "Message type is currently not supported."
    assert m.errors == m.body.errors


def _check_referral(m: InboundMessage) -> None:
    assert isinstance(m.body, TextBody)
    assert m.referral is not None
    assert m.referral.source_type == "ad"
    assert m.referral.headline == "Spring sale: 20% off mugs"
    assert m.referral.source_url == "https://fb.me/3cr4Wqqkv"
    assert m.referral.body == "Free shipping on every order this week"


def _check_bsuid_only(m: InboundMessage) -> None:
    assert m.sender.wa_id is None
    assert m.sender.user_id == "IT.83920174652019384756"
    assert (m.sender.profile_name, m.sender.username) == ("Marco Rossi", "marco.rossi")


def _check_edit(m: InboundMessage) -> None:
    assert isinstance(m.body, EditBody)
    assert m.body.target == "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTA1MDAxRjc4QkU5QzREMDAxAA=="
    assert m.body.new_body == TextBody("Hi, my order #4821 still hasn't arrived. Can you check today?")


def _check_revoke(m: InboundMessage) -> None:
    target = WaMessageId("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTA1MDAyRTFCN0UzQTk5MDAyAA==")
    assert m.body == RevokeBody(target=target)


def _check_second_number(m: InboundMessage) -> None:
    assert (m.phone_number_id, m.display_phone_number) == ("106540352242923", "15550783882")


INBOUND_CHECKS: dict[str, Callable[[InboundMessage], None]] = {
    "in_01_text.json": _check_text,
    "in_02_text_reply_context.json": _check_reply,
    "in_03_text_forwarded.json": _check_forwarded,
    "in_04_image_caption.json": _check_image,
    "in_05_audio_voice_note.json": _check_voice,
    "in_06_video.json": _check_video,
    "in_07_document.json": _check_document,
    "in_08_sticker.json": _check_sticker,
    "in_09_location.json": _check_location,
    "in_10_contacts_shared.json": _check_contacts,
    "in_11_interactive_button_reply.json": _check_button_reply,
    "in_12_interactive_list_reply.json": _check_list_reply,
    "in_13_button_template_quick_reply.json": _check_template_button,
    "in_14_reaction.json": _check_reaction,
    "in_15_reaction_removed.json": _check_reaction_removed,
    "in_16_order.json": _check_order,
    "in_17_system_user_changed_number.json": _check_system_number,
    "in_18_unsupported.json": _check_unsupported,
    "in_19_referral_click_to_whatsapp_ad.json": _check_referral,
    "in_20_bsuid_username_no_phone.json": _check_bsuid_only,
    "in_21_edit.json": _check_edit,
    "in_22_revoke.json": _check_revoke,
    "multi_01_second_phone_number_id.json": _check_second_number,
}


def test_every_inbound_fixture_has_an_expectation() -> None:
    assert set(wa_names("in_*.json")) | set(wa_names("multi_*.json")) == set(INBOUND_CHECKS)


@pytest.mark.parametrize("name", sorted(INBOUND_CHECKS))
def test_inbound_fixture_parses_into_its_body(name: str) -> None:
    message = only_message(name)
    assert message.wa_message_id.startswith("wamid.")
    assert message.sent_at.tzinfo is UTC
    assert message.phone_number_id in (NUMBER_ID, "106540352242923")
    INBOUND_CHECKS[name](message)


@pytest.mark.parametrize("name", sorted(set(INBOUND_CHECKS) - {"in_20_bsuid_username_no_phone.json"}))
def test_sheena_is_identified_by_phone_and_bsuid(name: str) -> None:
    sender = only_message(name).sender
    assert sender.wa_id == SHEENA_WA
    if "system" not in name:
        assert (sender.user_id, sender.profile_name) == (SHEENA_BSUID, "Sheena Nelson")


def test_timestamp_becomes_aware_utc_datetime() -> None:
    assert only_message("in_01_text.json").sent_at == datetime(2026, 4, 1, 11, 0, tzinfo=UTC)


STATUS_EXPECTATIONS = {
    "st_01_sent_v23_with_conversation.json": ("sent", SHEENA_BSUID, ()),
    "st_02_delivered_v24.json": ("delivered", SHEENA_BSUID, ()),
    "st_03_read.json": ("read", SHEENA_BSUID, ()),
    "st_04_failed_131047_reengagement.json": ("failed", None, (131047,)),
    "st_05_failed_131026_undeliverable.json": ("failed", None, (131026,)),
}


@pytest.mark.parametrize("name", sorted(STATUS_EXPECTATIONS))
def test_status_fixture_parses_into_status_update(name: str) -> None:
    parsed = parse_webhook(wa_json(name))
    assert (parsed.messages, parsed.skipped, parsed.errors) == ([], [], [])
    (status,) = parsed.statuses
    expected_status, expected_user, expected_codes = STATUS_EXPECTATIONS[name]
    assert status.status == expected_status
    assert status.recipient_id == SHEENA_WA
    assert status.recipient_user_id == expected_user
    assert tuple(e.code for e in status.errors) == expected_codes
    assert status.phone_number_id == NUMBER_ID and status.at.tzinfo is UTC


def test_failed_status_keeps_error_details_and_opaque_callback_data() -> None:
    (status,) = parse_webhook(wa_json("st_05_failed_131026_undeliverable.json")).statuses
    assert status.biz_opaque_callback_data == "traza:outbound:4711"
    assert status.errors[0].title == "Message undeliverable"
    assert status.errors[0].details.startswith("Unable to deliver message.")


def test_value_errors_become_webhook_errors() -> None:
    parsed = parse_webhook(wa_json("st_06_value_errors_130429.json"))
    (errors,) = parsed.errors
    assert errors.phone_number_id == NUMBER_ID
    assert [(e.code, e.title) for e in errors.errors] == [(130429, "Rate limit hit")]
    assert (parsed.messages, parsed.statuses, parsed.skipped) == ([], [], [])


def test_every_status_fixture_has_an_expectation() -> None:
    assert set(wa_names("st_*.json")) == set(STATUS_EXPECTATIONS) | {"st_06_value_errors_130429.json"}


def test_batch_yields_every_update_in_order() -> None:
    parsed = parse_webhook(wa_json("batch_01_several_updates_one_post.json"))
    assert parsed.skipped == [] and parsed.update_count == 6
    kinds = [type(m.body).__name__ for m in parsed.messages]
    assert kinds == ["TextBody", "MediaBody", "TextBody", "TextBody"]
    senders = [m.sender.profile_name for m in parsed.messages]
    assert senders == ["Sheena Nelson"] * 3 + ["Rafael Souza"]
    assert parsed.messages[3].sender.wa_id == "5511987654321"
    assert [s.status for s in parsed.statuses] == ["delivered", "read"]


def test_strings_are_kept_verbatim() -> None:
    payload = wa_json("in_01_text.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["text"]["body"] = "  <b>spaced</b> & \u00e9\u0301 \n"
    assert only_message_of(payload).body == TextBody("  <b>spaced</b> & \u00e9\u0301 \n")


def only_message_of(payload: dict[str, Any]) -> InboundMessage:
    parsed = parse_webhook(payload)
    assert parsed.skipped == []
    (message,) = parsed.messages
    return message


# --- envelope and skip policy -------------------------------------------------------------------


def text_payload(*messages: object, contacts: list[Any] | None = None) -> dict[str, Any]:
    """in_01's envelope around the given raw messages (and optionally other contacts)."""
    payload = wa_json("in_01_text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = list(messages)
    if contacts is not None:
        value["contacts"] = contacts
    return payload


def raw_message(**overrides: Any) -> dict[str, Any]:
    value = wa_json("in_01_text.json")["entry"][0]["changes"][0]["value"]
    raw: dict[str, Any] = copy.deepcopy(value["messages"][0])
    for key, value in overrides.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "top level"),
        ("text", "top level"),
        (None, "top level"),
        ({"object": "page", "entry": []}, "object"),
        ({"object": "whatsapp_business_account"}, "entry missing"),
        ({"entry": {"id": "1"}}, "entry is not an array"),
        ({"entry": ["x"]}, "entry[0]"),
        ({"entry": [{"changes": [None]}]}, "entry[0].changes[0]"),
    ],
)
def test_unusable_envelope_raises_malformed_webhook(payload: object, reason: str) -> None:
    with pytest.raises(MalformedWebhook, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_webhook(payload)


def test_malformed_webhook_is_a_value_error_with_reason() -> None:
    with pytest.raises(ValueError) as caught:
        parse_webhook([])
    assert isinstance(caught.value, MalformedWebhook) and "top level" in caught.value.reason


def test_missing_object_key_is_tolerated() -> None:
    payload = wa_json("in_01_text.json")
    del payload["object"]
    assert len(parse_webhook(payload).messages) == 1


def test_empty_entry_list_is_an_empty_result() -> None:
    assert parse_webhook({"object": "whatsapp_business_account", "entry": []}).update_count == 0


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"id": None}, "id missing"),
        ({"id": 12}, "id is a number"),
        ({"from": None, "from_user_id": None}, "sender missing"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "9" * 40}, "timestamp out of range"),
        ({"timestamp": None}, "timestamp missing"),
        ({"type": None}, "type missing"),
        ({"text": "not an object"}, "text is a string"),
        ({"text": {"body": ["x"]}}, "body is an array"),
    ],
)
def test_bad_message_is_skipped_and_the_batch_goes_on(override: dict[str, Any], reason: str) -> None:
    bad = raw_message(**override)
    good = raw_message(id="wamid.good")
    parsed = parse_webhook(text_payload(good, bad, good))
    assert [m.wa_message_id for m in parsed.messages] == ["wamid.good", "wamid.good"]
    (skipped,) = parsed.skipped
    assert skipped.where == "entry[0].changes[0].value.messages[1]"
    assert reason in skipped.reason


def test_non_object_message_is_skipped_with_its_path() -> None:
    parsed = parse_webhook(text_payload(raw_message(), 42))
    assert len(parsed.messages) == 1
    assert parsed.skipped[0].where == "entry[0].changes[0].value.messages[1]"


def test_non_messages_field_is_skipped_naming_the_field() -> None:
    payload = wa_json("batch_01_several_updates_one_post.json")
    payload["entry"][1]["changes"].insert(0, {"field": "message_template_status_update", "value": {}})
    parsed = parse_webhook(payload)
    assert parsed.update_count == 7 and len(parsed.statuses) == 2
    (skipped,) = parsed.skipped
    assert skipped.where == "entry[1].changes[0]"
    assert "message_template_status_update" in skipped.reason


def test_change_without_metadata_is_skipped_whole() -> None:
    payload = wa_json("in_01_text.json")
    del payload["entry"][0]["changes"][0]["value"]["metadata"]
    parsed = parse_webhook(payload)
    assert parsed.messages == [] and parsed.skipped[0].reason == "metadata missing"


def test_bad_status_is_skipped_and_others_kept() -> None:
    payload = wa_json("batch_01_several_updates_one_post.json")
    statuses = payload["entry"][1]["changes"][0]["value"]["statuses"]
    statuses[0]["timestamp"] = None
    parsed = parse_webhook(payload)
    assert [s.status for s in parsed.statuses] == ["read"]
    assert parsed.skipped[0].where == "entry[1].changes[0].value.statuses[0]"


def test_value_without_any_updates_is_recorded() -> None:
    payload = wa_json("in_01_text.json")
    del payload["entry"][0]["changes"][0]["value"]["messages"]
    assert "no messages" in parse_webhook(payload).skipped[0].reason


# --- senders --------------------------------------------------------------------------------------


def test_sender_without_phone_takes_bsuid_and_username_from_contact() -> None:
    message = only_message_of(
        text_payload(
            raw_message(**{"from": None, "from_user_id": "BR.1"}),
            contacts=[
                {"profile": {"name": "Other"}, "wa_id": "1999", "user_id": "BR.2"},
                {"profile": {"name": "Ana", "username": "ana"}, "user_id": "BR.1"},
            ],
        )
    )
    assert message.sender == Sender(None, "BR.1", "Ana", "ana")


def test_sender_phone_is_completed_from_contact_matched_by_user_id() -> None:
    message = only_message_of(
        text_payload(
            raw_message(**{"from": None}),
            contacts=[{"profile": {"name": "Sheena"}, "wa_id": SHEENA_WA, "user_id": SHEENA_BSUID}],
        )
    )
    assert (message.sender.wa_id, message.sender.user_id) == (SHEENA_WA, SHEENA_BSUID)


def test_lone_contact_is_used_when_ids_do_not_match_it_directly() -> None:
    message = only_message_of(
        text_payload(raw_message(**{"from_user_id": None}), contacts=[{"profile": {"name": "S"}}])
    )
    assert message.sender.profile_name == "S"


def test_lone_contact_naming_another_phone_is_not_borrowed() -> None:
    contacts = [{"profile": {"name": "Someone else"}, "wa_id": "4477000000"}]
    message = only_message_of(text_payload(raw_message(), contacts=contacts))
    assert message.sender == Sender(SHEENA_WA, SHEENA_BSUID, None, None)


def test_user_changed_user_id_notice_is_attributed_to_the_previous_bsuid() -> None:
    system = {"body": "User changed", "user_id": "MX.2", "previous_user_id": "CO.1"}
    raw: dict[str, Any] = {"id": "wamid.sys", "timestamp": "1775042100", "type": "system"}
    raw["system"] = {**system, "type": "user_changed_user_id"}
    message = only_message_of(text_payload(raw, contacts=[]))
    assert message.sender == Sender(None, "CO.1")
    assert message.body == SystemBody("user_changed_user_id", "User changed", None, "MX.2")


# --- body edge cases ------------------------------------------------------------------------------


def body_of(**raw: Any) -> Any:
    return only_message_of(text_payload(raw_message(text=None, **raw))).body


def test_unknown_type_becomes_unsupported_with_its_name() -> None:
    assert body_of(type="poll", poll={"q": 1}) == UnsupportedBody("poll")
    assert body_of(type="unknown") == UnsupportedBody("unknown")


def test_unsupported_without_detail_keeps_generic_name() -> None:
    assert body_of(type="unsupported") == UnsupportedBody("unsupported")


def test_unknown_interactive_subtype_is_unsupported() -> None:
    body = body_of(type="interactive", interactive={"type": "call_permission_reply"})
    assert body == UnsupportedBody("interactive.call_permission_reply")


def test_flow_reply_becomes_choice() -> None:
    reply = {"name": "flow", "body": "Sent", "response_json": '{"a": 1}'}
    body = body_of(type="interactive", interactive={"type": "nfm_reply", "nfm_reply": reply})
    assert body == ChoiceBody("nfm_reply", "flow", "Sent", '{"a": 1}')


def test_media_without_body_but_with_errors_is_shown_as_unsupported() -> None:
    errors = [{"code": 131052, "title": "Media download error"}]
    body = body_of(type="video", errors=errors)
    assert isinstance(body, UnsupportedBody) and body.type_name == "video"
    assert body.errors[0].code == 131052


def test_media_without_id_is_skipped() -> None:
    parsed = parse_webhook(text_payload(raw_message(text=None, type="image", image={"caption": "x"})))
    assert parsed.messages == [] and "id missing" in parsed.skipped[0].reason


def test_edit_of_a_caption_carries_the_parsed_media_body() -> None:
    inner = {"type": "image", "image": {"id": "65463453", "caption": "new", "mime_type": "image/jpeg"}}
    body = body_of(type="edit", edit={"original_message_id": "wamid.old", "message": inner})
    assert isinstance(body, EditBody) and body.target == "wamid.old"
    assert isinstance(body.new_body, MediaBody) and body.new_body.caption == "new"


def test_edit_nested_in_edit_does_not_recurse() -> None:
    inner = {"type": "edit", "edit": {"original_message_id": "wamid.x", "message": {}}}
    body = body_of(type="edit", edit={"original_message_id": "wamid.old", "message": inner})
    assert isinstance(body, EditBody) and body.new_body == UnsupportedBody("edit")


def test_edit_reported_as_unsupported_stays_unsupported() -> None:
    body = body_of(type="unsupported", unsupported={"type": "edit"})
    assert body == UnsupportedBody("edit")


def test_reaction_without_emoji_means_removed() -> None:
    body = body_of(type="reaction", reaction={"message_id": "wamid.t"})
    assert isinstance(body, ReactionBody) and body.emoji == ""


def test_frequently_forwarded_and_referred_product_are_read_from_context() -> None:
    context = {"frequently_forwarded": True, "referred_product": {"product_retailer_id": "sku-1"}}
    message = only_message_of(text_payload(raw_message(context=context)))
    assert message.context is not None
    assert message.context.frequently_forwarded and message.context.referred_product == "sku-1"


def test_order_with_bad_item_is_skipped() -> None:
    order = {"catalog_id": "1", "product_items": [{"product_retailer_id": "a", "quantity": "two"}]}
    parsed = parse_webhook(text_payload(raw_message(text=None, type="order", order=order)))
    assert parsed.messages == [] and "quantity" in parsed.skipped[0].reason


def test_legacy_new_wa_id_system_field_is_read() -> None:
    system = {"type": "user_changed_number", "body": "changed", "new_wa_id": "15550001111"}
    assert body_of(type="system", system=system) == SystemBody(
        "user_changed_number", "changed", "15550001111", None
    )


# --- robustness and speed -------------------------------------------------------------------------

_REPLACEMENTS: tuple[object, ...] = (None, 0, -1, 1.5, True, "", "x", [], {}, [None], {"a": []})


def _paths(node: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


def _mutate(payload: object, rng: random.Random) -> object:
    """Drop a key or swap one node (possibly the root) for a value of another type."""
    path = rng.choice(_paths(payload))
    replacement = copy.deepcopy(rng.choice(_REPLACEMENTS))
    if not path:
        return replacement
    parent: Any = payload
    for step in path[:-1]:
        parent = parent[step]
    if isinstance(parent, dict) and rng.random() < 0.4:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return payload


FUZZ_SOURCES = wa_names("in_*.json") + wa_names("st_*.json") + wa_names("batch_*.json")


@pytest.mark.parametrize("name", FUZZ_SOURCES)
def test_mutated_payloads_only_ever_parse_or_raise_malformed(name: str) -> None:
    rng = random.Random(name)
    original = json.dumps(wa_json(name))
    for _ in range(150):
        payload: object = json.loads(original)
        for _ in range(rng.randint(1, 4)):
            payload = _mutate(payload, rng)
        try:
            result = parse_webhook(payload)
        except MalformedWebhook:
            continue
        assert isinstance(result, ParsedWebhook)
        assert not any(s.reason.startswith("parser error") for s in result.skipped), result.skipped


def test_thousand_update_batch_parses_in_a_few_milliseconds() -> None:
    payload = wa_json("batch_01_several_updates_one_post.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = [dict(value["messages"][i % 3], id=f"wamid.{i}") for i in range(700)]
    status_value = payload["entry"][1]["changes"][0]["value"]
    status_value["statuses"] = [dict(status_value["statuses"][i % 2]) for i in range(300)]
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        parsed = parse_webhook(payload)
        best = min(best, time.perf_counter() - started)
    assert parsed.update_count == 1001 and parsed.skipped == []
    assert best < 0.05, f"1000 updates took {best * 1000:.1f} ms"
