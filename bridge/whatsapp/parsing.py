"""Webhook envelope parsing: one decoded Cloud API POST body in, one ``ParsedWebhook`` out.

This module owns the walk ``entry[] → changes[] → value.messages[] / statuses[] / errors[]``
(never assuming ``[0]``), the per-change business number (``metadata``), sender resolution across
``from``, ``from_user_id`` and ``contacts[]`` (BSUID users may have no phone), and the failure
policy: only an unusable envelope raises ``MalformedWebhook``; anything wrong inside one update
becomes a ``SkippedUpdate`` naming its JSON path, and the rest of the batch is still parsed. It
runs on the webhook hot path: one pass, skip paths built only on a skip, no string copies.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from bridge.domain import WaMessageId, WaPhoneNumberId
from bridge.errors import InvalidInput
from bridge.inbound import (
    InboundMessage,
    ParsedWebhook,
    Sender,
    SkippedUpdate,
    StatusUpdate,
    WebhookErrors,
)
from bridge.whatsapp.bodies import parse_body, parse_context, parse_referral
from bridge.whatsapp.fields import (
    Invalid,
    JsonObject,
    opt_obj,
    opt_str,
    remote_errors,
    req_id,
    req_nonempty_str,
    req_obj,
    type_name,
    unix_time,
)

WABA_OBJECT = "whatsapp_business_account"
# Bounds of what is stored (see store.tables): ids past them are not Meta's and skip their update;
# names past them are cut. Meta's wamids are about 60 characters, phones 15 digits, BSUIDs about 30.
MAX_WAMID = 200
MAX_NUMBER_ID = 40
MAX_WA_ID = 40
MAX_USER_ID = 150
MAX_NAME = 200


class MalformedWebhook(InvalidInput, ValueError):
    """The envelope itself is unusable (not an object, no ``entry`` list, wrong ``object`` …).

    Part of the one error tree (an ``InvalidInput``); still a ``ValueError`` for older callers.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Number(NamedTuple):
    """The business number a change was delivered for (``value.metadata``)."""

    phone_number_id: WaPhoneNumberId
    display: str


class _Contacts(NamedTuple):
    """``value.contacts[]`` indexed by ``wa_id`` and ``user_id``, built once per change."""

    by_wa_id: dict[str, JsonObject]
    by_user_id: dict[str, JsonObject]
    only: JsonObject | None
    senders: dict[tuple[str | None, str | None], Sender]  # resolved once per sender per change


def parse_webhook(payload: object) -> ParsedWebhook:
    """Turn a decoded webhook body into typed updates; raises only ``MalformedWebhook``."""
    if not isinstance(payload, dict):
        raise MalformedWebhook(f"top level is {type_name(payload)}, not an object")
    kind = payload.get("object")
    if kind is not None and kind != WABA_OBJECT:
        raise MalformedWebhook(f"object is not {WABA_OBJECT!r}")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise MalformedWebhook("entry missing" if entries is None else "entry is not an array")
    out = ParsedWebhook()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise MalformedWebhook(f"entry[{i}] is {type_name(entry)}, not an object")
        changes = entry.get("changes")
        if not isinstance(changes, list):
            out.skipped.append(SkippedUpdate(f"entry[{i}]", "changes missing or not an array"))
            continue
        for j, change in enumerate(changes):
            if not isinstance(change, dict):
                raise MalformedWebhook(f"entry[{i}].changes[{j}] is not an object")
            _parse_change(change, f"entry[{i}].changes[{j}]", out)
    return out


def _parse_change(change: JsonObject, where: str, out: ParsedWebhook) -> None:
    field = change.get("field")
    if field != "messages":
        out.skipped.append(SkippedUpdate(where, _field_reason(field)))
        return
    try:
        value = req_obj(change, "value")
        metadata = req_obj(value, "metadata")
        number = _Number(
            WaPhoneNumberId(req_id(metadata, "phone_number_id", MAX_NUMBER_ID)),
            (opt_str(metadata, "display_phone_number") or "")[:MAX_NUMBER_ID],
        )
    except Invalid as exc:
        out.skipped.append(SkippedUpdate(where, exc.reason))
        return
    where = f"{where}.value"
    found = False
    for key in ("messages", "statuses", "errors"):
        items = value.get(key)
        if items is None:
            continue
        found = True
        if not isinstance(items, list):
            out.skipped.append(SkippedUpdate(f"{where}.{key}", f"{key} is not an array"))
        elif key == "messages":
            _parse_messages(items, value, number, f"{where}.messages", out)
        elif key == "statuses":
            _parse_statuses(items, number, f"{where}.statuses", out)
        else:
            _parse_value_errors(items, number, f"{where}.errors", out)
    if not found:
        out.skipped.append(SkippedUpdate(where, "no messages, statuses or errors"))


def _field_reason(field: object) -> str:
    if isinstance(field, str):
        return f"field {field[:60]!r} is not 'messages'"
    return "field missing" if field is None else f"field is {type_name(field)}, not 'messages'"


def _parse_messages(
    items: list[Any], value: JsonObject, number: _Number, where: str, out: ParsedWebhook
) -> None:
    contacts = _index_contacts(value.get("contacts"))
    for k, raw in enumerate(items):
        try:
            out.messages.append(_parse_message(raw, number, contacts))
        except Invalid as exc:
            out.skipped.append(SkippedUpdate(f"{where}[{k}]", exc.reason))
        except Exception as exc:  # one odd update must never sink the batch
            out.skipped.append(SkippedUpdate(f"{where}[{k}]", _unexpected(exc)))


def _parse_message(raw: object, number: _Number, contacts: _Contacts) -> InboundMessage:
    if not isinstance(raw, dict):
        raise Invalid(f"message is {type_name(raw)}, not an object")
    message_id = req_id(raw, "id", MAX_WAMID)
    msg_type = req_nonempty_str(raw, "type")
    sent_at = unix_time(raw)
    sender = _resolve_sender(raw, contacts)
    errors = remote_errors(raw.get("errors"))
    return InboundMessage(
        wa_message_id=WaMessageId(message_id),
        phone_number_id=number.phone_number_id,
        display_phone_number=number.display,
        sender=sender,
        sent_at=sent_at,
        body=parse_body(msg_type, raw, errors),
        context=parse_context(raw) if "context" in raw else None,
        referral=parse_referral(raw) if "referral" in raw else None,
        errors=errors,
    )


def _index_contacts(raw: object) -> _Contacts:
    by_wa_id: dict[str, JsonObject] = {}
    by_user_id: dict[str, JsonObject] = {}
    valid = [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []
    for contact in valid:
        wa_id = contact.get("wa_id")
        if isinstance(wa_id, str) and wa_id:
            by_wa_id.setdefault(wa_id, contact)
        user_id = contact.get("user_id")
        if isinstance(user_id, str) and user_id:
            by_user_id.setdefault(user_id, contact)
    return _Contacts(by_wa_id, by_user_id, valid[0] if len(valid) == 1 else None, {})


def _resolve_sender(raw: JsonObject, contacts: _Contacts) -> Sender:
    """``from``/``from_user_id`` completed from the matching ``contacts[]`` entry."""
    wa_id = _usable_wa_id(opt_str(raw, "from"))
    user_id = opt_str(raw, "from_user_id") or None
    if wa_id is None and user_id is None:
        user_id = _system_previous_user_id(raw)
        if user_id is None:
            raise Invalid("sender missing: neither from (with digits) nor from_user_id")
    if user_id is not None and len(user_id) > MAX_USER_ID:
        raise Invalid(f"from_user_id is longer than {MAX_USER_ID} characters")
    key = (wa_id, user_id)
    sender = contacts.senders.get(key)
    if sender is None:
        sender = contacts.senders[key] = _build_sender(wa_id, user_id, contacts)
    return sender


def _build_sender(wa_id: str | None, user_id: str | None, contacts: _Contacts) -> Sender:
    contact = _match_contact(wa_id, user_id, contacts)
    profile = opt_obj(contact, "profile") if contact is not None else None
    if contact is not None:
        wa_id = wa_id or _usable_wa_id(opt_str(contact, "wa_id"))
        found = opt_str(contact, "user_id") or None
        user_id = user_id or (found if found and len(found) <= MAX_USER_ID else None)
    name = opt_str(profile, "name") if profile is not None else None
    username = opt_str(profile, "username") if profile is not None else None
    return Sender(
        wa_id=wa_id,
        user_id=user_id,
        profile_name=name[:MAX_NAME] if name is not None else None,
        username=username[:MAX_NAME] if username is not None else None,
    )


def _usable_wa_id(value: str | None) -> str | None:
    """A phone id as Meta sends it (digits, at most ``MAX_WA_ID`` characters), else ``None``."""
    if not value or len(value) > MAX_WA_ID or not any("0" <= c <= "9" for c in value):
        return None
    return value


def _match_contact(wa_id: str | None, user_id: str | None, contacts: _Contacts) -> JsonObject | None:
    if wa_id is not None and (found := contacts.by_wa_id.get(wa_id)) is not None:
        return found
    if user_id is not None and (found := contacts.by_user_id.get(user_id)) is not None:
        return found
    only = contacts.only
    if only is None:
        return None
    # The lone contact is this sender unless it names a different phone or BSUID.
    other_wa, other_user = only.get("wa_id"), only.get("user_id")
    if wa_id is not None and isinstance(other_wa, str) and other_wa and other_wa != wa_id:
        return None
    if user_id is not None and isinstance(other_user, str) and other_user and other_user != user_id:
        return None
    return only


def _system_previous_user_id(raw: JsonObject) -> str | None:
    """``user_changed_user_id`` notices have no ``from``: the sender is the previous BSUID."""
    if raw.get("type") != "system":
        return None
    system = opt_obj(raw, "system")
    return (opt_str(system, "previous_user_id") or None) if system is not None else None


def _parse_statuses(items: list[Any], number: _Number, where: str, out: ParsedWebhook) -> None:
    for k, raw in enumerate(items):
        try:
            out.statuses.append(_parse_status(raw, number))
        except Invalid as exc:
            out.skipped.append(SkippedUpdate(f"{where}[{k}]", exc.reason))
        except Exception as exc:  # one odd update must never sink the batch
            out.skipped.append(SkippedUpdate(f"{where}[{k}]", _unexpected(exc)))


def _parse_status(raw: object, number: _Number) -> StatusUpdate:
    if not isinstance(raw, dict):
        raise Invalid(f"status is {type_name(raw)}, not an object")
    return StatusUpdate(
        wa_message_id=WaMessageId(req_id(raw, "id", MAX_WAMID)),
        phone_number_id=number.phone_number_id,
        status=req_nonempty_str(raw, "status"),
        at=unix_time(raw),
        recipient_id=opt_str(raw, "recipient_id"),
        recipient_user_id=opt_str(raw, "recipient_user_id"),
        biz_opaque_callback_data=opt_str(raw, "biz_opaque_callback_data"),
        errors=remote_errors(raw.get("errors")),
    )


def _unexpected(exc: Exception) -> str:
    return f"parser error: {type(exc).__name__}"


def _parse_value_errors(items: list[Any], number: _Number, where: str, out: ParsedWebhook) -> None:
    for k, item in enumerate(items):
        if not isinstance(item, dict):
            out.skipped.append(SkippedUpdate(f"{where}[{k}]", "error is not an object"))
    errors = remote_errors(items)
    if errors:
        out.errors.append(WebhookErrors(phone_number_id=number.phone_number_id, errors=errors))
    elif not items:
        out.skipped.append(SkippedUpdate(where, "errors is an empty array"))
