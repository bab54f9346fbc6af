"""Contact keys and phone normalisation, including the Mexico/Argentina/Brazil quirks."""

from __future__ import annotations

import pytest

from bridge.contacts import (
    contact_key,
    contact_keys,
    display_phone,
    normalize_phone,
    phone_variants,
)
from bridge.inbound import Sender
from bridge.whatsapp.parsing import parse_webhook
from tests.fixture_files import wa_json


def test_key_prefers_bsuid_when_present() -> None:
    sender = Sender(wa_id="16505551234", user_id="US.13491208655302741918")
    assert contact_key(sender) == "bsuid:US.13491208655302741918"


def test_key_falls_back_to_phone_digits() -> None:
    assert contact_key(Sender(wa_id="16505551234", user_id=None)) == "wa:16505551234"


def test_key_of_phone_ignores_plus_sign() -> None:
    assert contact_key(Sender(wa_id="+16505551234", user_id=None)) == "wa:16505551234"


def test_key_ignores_profile_name_and_username() -> None:
    a = Sender(wa_id=None, user_id="IT.1", profile_name="Marco", username="marco")
    b = Sender(wa_id=None, user_id="IT.1", profile_name="Marco R.", username=None)
    assert contact_key(a) == contact_key(b) == "bsuid:IT.1"


def test_key_of_sender_without_ids_is_an_error() -> None:
    with pytest.raises(ValueError):
        contact_key(Sender(wa_id=None, user_id=None))


def test_contact_keys_lists_bsuid_then_phone() -> None:
    sender = Sender(wa_id="16505551234", user_id="US.1")
    assert contact_keys(sender) == ("bsuid:US.1", "wa:16505551234")
    assert contact_keys(Sender(wa_id=None, user_id=None)) == ()


def test_same_person_on_two_business_numbers_has_one_key() -> None:
    first = parse_webhook(wa_json("in_01_text.json")).messages[0].sender
    second = parse_webhook(wa_json("multi_01_second_phone_number_id.json")).messages[0].sender
    assert contact_key(first) == contact_key(second)


def test_number_change_rekeys_to_new_phone_for_phone_only_contacts() -> None:
    (message,) = parse_webhook(wa_json("in_17_system_user_changed_number.json")).messages
    assert contact_key(message.sender) == "wa:16505551234"
    new_wa_id = getattr(message.body, "new_wa_id", None)
    assert new_wa_id is not None
    assert contact_key(Sender(wa_id=new_wa_id, user_id=message.sender.user_id)) == "wa:16505559876"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+55 11 98765-4321", "5511987654321"),
        ("(650) 555-1234", "6505551234"),
        ("+1 (650) 555-1234", "16505551234"),
        ("16505551234", "16505551234"),
        ("  +44 20 7946 0958 ", "442079460958"),
        ("+52.1.55.1234.5678", "5215512345678"),
        ("٠١٢٣٤٥٦٧٨٩", "0123456789"),
        ("1234567", "1234567"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_normalize_phone_keeps_digits_only(text: str, expected: str) -> None:
    assert normalize_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "+", "123456", "1234567890123456", "call me 6505551234", "650*555*1234", "++16505551234"],
)
def test_normalize_phone_rejects_non_numbers_and_bad_lengths(text: str) -> None:
    assert normalize_phone(text) is None


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("5215512345678", {"5215512345678", "525512345678"}),  # Mexico wa_id → dialled form
        ("525512345678", {"525512345678", "5215512345678"}),
        ("5491123456789", {"5491123456789", "541123456789"}),  # Argentina
        ("541123456789", {"541123456789", "5491123456789"}),
        ("5511987654321", {"5511987654321", "551187654321"}),  # Brazil mobile with/without 9
        ("551187654321", {"551187654321", "5511987654321"}),
        ("551132654321", {"551132654321"}),  # Brazil landline never gains a 9
        ("16505551234", {"16505551234"}),
        ("442079460958", {"442079460958"}),
    ],
)
def test_phone_variants_cover_country_quirks(digits: str, expected: set[str]) -> None:
    assert phone_variants(digits) == expected


def test_typed_mexican_phone_finds_stored_wa_id() -> None:
    stored = {"5215512345678"}
    typed = normalize_phone("+52 55 1234 5678")
    assert typed is not None and phone_variants(typed) & stored


def test_typed_brazilian_phone_without_nine_finds_stored_wa_id() -> None:
    typed = normalize_phone("+55 (11) 8765-4321")
    assert typed is not None and "5511987654321" in phone_variants(typed)


@pytest.mark.parametrize(
    ("digits", "expected"),
    [("16505551234", "+16505551234"), (None, ""), ("", ""), ("+16505551234", "+16505551234")],
)
def test_display_phone_adds_plus(digits: str | None, expected: str) -> None:
    assert display_phone(digits) == expected
