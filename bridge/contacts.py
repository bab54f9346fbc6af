"""Contact identity: the stable key of a WhatsApp customer and phone-number normalisation.

This module owns how a customer is named inside Traza. ``contact_key`` prefers the business-scoped
user id (BSUID, ``"bsuid:US.1349…"``), present in every 2026 webhook and the only id for username
users without a visible phone, and falls back to phone digits (``"wa:16505551234"``). A person first
stored under ``wa:`` before BSUIDs reached them is found again through ``contact_keys``, which lists
every key a sender may already be stored under. Identity changes are the caller's job: a ``system``
message ``user_changed_number`` carries ``SystemBody.new_wa_id`` and ``user_changed_user_id``
carries ``SystemBody.new_user_id`` (Meta regenerates the BSUID when the phone number changes); the
caller looks the contact up by the message's sender key, then re-keys it (and updates the stored
phone) with ``contact_key(Sender(wa_id=new_wa_id or old, user_id=new_user_id or old))``, keeping the
old key as an alias so late webhooks still resolve. Phone helpers: ``normalize_phone`` turns typed
text into digits, ``phone_variants`` covers the Mexico/Argentina/Brazil mobile-prefix quirks (§7.6
of the reference) so a typed phone finds the stored ``wa_id``, ``display_phone`` adds the ``+``.
"""

from __future__ import annotations

import unicodedata

from bridge.inbound import Sender

BSUID_PREFIX = "bsuid:"
PHONE_PREFIX = "wa:"
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15  # E.164
_PHONE_SEPARATORS = frozenset(" \t-().·/\u00a0\u2009\u202f\u2010\u2011\u2012\u2013")


def contact_key(sender: Sender) -> str:
    """The stable key of one person on one business portfolio: BSUID first, else phone digits.

    Raises ``ValueError`` for a sender with neither id (the webhook parser never produces one).
    """
    if sender.user_id:
        return BSUID_PREFIX + sender.user_id
    digits = _digits_of(sender.wa_id) if sender.wa_id else ""
    if digits:
        return PHONE_PREFIX + digits
    raise ValueError("sender has neither a user_id nor a wa_id")


def contact_keys(sender: Sender) -> tuple[str, ...]:
    """Every key this sender may be stored under, preferred first (BSUID, then phone)."""
    keys = []
    if sender.user_id:
        keys.append(BSUID_PREFIX + sender.user_id)
    digits = _digits_of(sender.wa_id) if sender.wa_id else ""
    if digits:
        keys.append(PHONE_PREFIX + digits)
    return tuple(keys)


def normalize_phone(text: str) -> str | None:
    """Typed phone text → digits without ``+`` (``"+55 11 98765-4321"`` → ``"5511987654321"``).

    Spaces, dashes, dots, slashes and parentheses are ignored, a single leading ``+`` is allowed and
    non-ASCII decimal digits (Arabic-Indic …) are read as digits. No country code is added: a number
    typed without one comes back as typed. ``None`` for letters or other symbols, or for fewer than
    7 or more than 15 digits.
    """
    body = text.strip()
    if body.startswith("+"):
        body = body[1:]
    digits: list[str] = []
    for char in body:
        if "0" <= char <= "9":
            digits.append(char)
        elif char.isdecimal():
            digits.append(str(unicodedata.decimal(char)))
        elif char not in _PHONE_SEPARATORS:
            return None
    if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        return None
    return "".join(digits)


def phone_variants(digits: str) -> set[str]:
    """``digits`` plus the forms WhatsApp may store for the same mobile (always includes itself).

    - Mexico: ``521`` + 10 digits (``wa_id`` form) ⇄ ``52`` + 10 digits (dialled form).
    - Argentina: ``549`` + 10 digits ⇄ ``54`` + 10 digits.
    - Brazil: ``55`` + area + ``9`` + 8 digits ⇄ ``55`` + area + 8 digits (accounts registered
      before the extra mobile ``9``); the ``9`` is only added when the 8-digit number looks mobile
      (starts with 6–9), since landlines (2–5) never had it.
    """
    variants = {digits}
    if len(digits) == 13 and digits.startswith("521"):
        variants.add("52" + digits[3:])
    elif len(digits) == 12 and digits.startswith("52"):
        variants.add("521" + digits[2:])
    if len(digits) == 13 and digits.startswith("549"):
        variants.add("54" + digits[3:])
    elif len(digits) == 12 and digits.startswith("54"):
        variants.add("549" + digits[2:])
    if digits.startswith("55") and digits[2:3] != "0":
        local = digits[4:]
        if len(digits) == 13 and local.startswith("9"):
            variants.add(digits[:4] + local[1:])
        elif len(digits) == 12 and local[:1] in ("6", "7", "8", "9"):
            variants.add(digits[:4] + "9" + local)
    return variants


def display_phone(digits: str | None) -> str:
    """``"16505551234"`` → ``"+16505551234"``; ``""`` for ``None`` or an empty string."""
    if not digits:
        return ""
    return digits if digits.startswith("+") else "+" + digits


def _digits_of(wa_id: str) -> str:
    return "".join(char for char in wa_id if "0" <= char <= "9")
