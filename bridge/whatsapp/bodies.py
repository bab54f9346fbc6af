"""Message bodies of the Cloud API (reference §2.4–§2.6) parsed into ``bridge.inbound`` variants.

This module owns the mapping from a message's ``type`` and its type-named object (``text``,
``image``, ``interactive``, ``edit`` …) to one ``MessageBody``, plus the decorations every message
may carry (``context`` and ``referral``). Unknown type strings, ``unknown`` and ``unsupported``
become an ``UnsupportedBody`` so nothing is dropped; a known type whose body is unusable raises
``Invalid`` unless Meta attached ``errors[]`` to the message, in which case it also becomes an
``UnsupportedBody``.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.domain import WaMessageId
from bridge.inbound import (
    ChoiceBody,
    ContactsBody,
    EditBody,
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
    SharedContact,
    SystemBody,
    TextBody,
    UnsupportedBody,
)
from bridge.whatsapp.fields import (
    Invalid,
    JsonObject,
    opt_bool,
    opt_list,
    opt_obj,
    opt_str,
    req_int,
    req_nonempty_str,
    req_number,
    req_obj,
    req_str,
)

MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


def parse_body(
    msg_type: str, raw: JsonObject, errors: tuple[RemoteError, ...] = (), *, nested: bool = False
) -> MessageBody:
    """The body of one message (or of an edit's inner ``message``) of type ``msg_type``."""
    # An edit of an edit is not a shape Meta sends: show it as unsupported rather than recurse.
    parser = None if nested and msg_type == "edit" else _PARSERS.get(msg_type)
    if parser is None:
        return _unsupported(msg_type, raw, errors)
    try:
        return parser(raw)
    except Invalid:
        if errors:
            return UnsupportedBody(type_name=msg_type, errors=errors)
        raise


def parse_context(raw: JsonObject) -> MessageContext | None:
    context = opt_obj(raw, "context")
    if context is None:
        return None
    product = opt_obj(context, "referred_product")
    quoted = opt_str(context, "id")
    return MessageContext(
        quoted=WaMessageId(quoted) if quoted else None,
        forwarded=opt_bool(context, "forwarded"),
        frequently_forwarded=opt_bool(context, "frequently_forwarded"),
        referred_product=opt_str(product, "product_retailer_id") if product is not None else None,
    )


def parse_referral(raw: JsonObject) -> Referral | None:
    referral = opt_obj(raw, "referral")
    if referral is None:
        return None
    return Referral(
        source_type=opt_str(referral, "source_type") or "unknown",
        source_url=opt_str(referral, "source_url"),
        headline=opt_str(referral, "headline"),
        body=opt_str(referral, "body"),
    )


def _unsupported(msg_type: str, raw: JsonObject, errors: tuple[RemoteError, ...]) -> UnsupportedBody:
    name = msg_type
    if msg_type == "unsupported":
        detail = opt_obj(raw, "unsupported")
        inner = opt_str(detail, "type") if detail is not None else None
        name = inner or msg_type
    return UnsupportedBody(type_name=name, errors=errors)


def _text(raw: JsonObject) -> TextBody:
    return TextBody(text=req_str(req_obj(raw, "text"), "body"))


def _media_parser(kind: str) -> Callable[[JsonObject], MessageBody]:
    def parse(raw: JsonObject) -> MessageBody:
        media = req_obj(raw, kind)
        return MediaBody(
            kind=kind,
            media_id=req_nonempty_str(media, "id"),
            mime_type=opt_str(media, "mime_type") or "",
            caption=opt_str(media, "caption"),
            filename=opt_str(media, "filename"),
            sha256=opt_str(media, "sha256"),
            url=opt_str(media, "url"),
            voice=opt_bool(media, "voice"),
            animated=opt_bool(media, "animated"),
        )

    return parse


def _location(raw: JsonObject) -> LocationBody:
    location = req_obj(raw, "location")
    return LocationBody(
        latitude=req_number(location, "latitude"),
        longitude=req_number(location, "longitude"),
        name=opt_str(location, "name"),
        address=opt_str(location, "address"),
        url=opt_str(location, "url"),
    )


def _contacts(raw: JsonObject) -> ContactsBody:
    cards = raw.get("contacts")
    if not isinstance(cards, list):
        raise Invalid("contacts missing or not an array")
    return ContactsBody(tuple(_shared_contact(card) for card in cards if isinstance(card, dict)))


def _shared_contact(card: JsonObject) -> SharedContact:
    name = opt_obj(card, "name") or {}
    formatted = opt_str(name, "formatted_name")
    if not formatted:
        parts = (opt_str(name, "first_name"), opt_str(name, "last_name"))
        formatted = " ".join(part for part in parts if part)
    phones = []
    for phone in opt_list(card, "phones"):
        if isinstance(phone, dict):
            number = opt_str(phone, "phone") or opt_str(phone, "wa_id")
            if number:
                phones.append(number)
    emails = [
        address
        for email in opt_list(card, "emails")
        if isinstance(email, dict) and (address := opt_str(email, "email")) is not None
    ]
    org = opt_obj(card, "org")
    return SharedContact(
        formatted_name=formatted,
        phones=tuple(phones),
        emails=tuple(emails),
        organization=opt_str(org, "company") if org is not None else None,
    )


def _interactive(raw: JsonObject) -> MessageBody:
    interactive = req_obj(raw, "interactive")
    sub = req_str(interactive, "type")
    if sub in ("button_reply", "list_reply"):
        reply = req_obj(interactive, sub)
        return ChoiceBody(
            kind=sub,
            choice_id=req_str(reply, "id"),
            title=req_str(reply, "title"),
            description=opt_str(reply, "description"),
        )
    if sub == "nfm_reply":
        reply = req_obj(interactive, sub)
        return ChoiceBody(
            kind=sub,
            choice_id=opt_str(reply, "name") or "",
            title=opt_str(reply, "body") or "",
            description=opt_str(reply, "response_json"),
        )
    return UnsupportedBody(type_name=f"interactive.{sub}")


def _button(raw: JsonObject) -> ChoiceBody:
    button = req_obj(raw, "button")
    text = opt_str(button, "text")
    payload = opt_str(button, "payload")
    if text is None and payload is None:
        raise Invalid("button has neither payload nor text")
    return ChoiceBody(kind="template_button", choice_id=payload or "", title=text or payload or "")


def _reaction(raw: JsonObject) -> ReactionBody:
    reaction = req_obj(raw, "reaction")
    target = req_nonempty_str(reaction, "message_id")
    return ReactionBody(target=WaMessageId(target), emoji=opt_str(reaction, "emoji") or "")


def _order(raw: JsonObject) -> OrderBody:
    order = req_obj(raw, "order")
    items = order.get("product_items")
    if not isinstance(items, list):
        raise Invalid("order.product_items missing or not an array")
    return OrderBody(
        catalog_id=opt_str(order, "catalog_id") or "",
        text=opt_str(order, "text"),
        items=tuple(_order_item(item) for item in items),
    )


def _order_item(item: object) -> OrderItem:
    if not isinstance(item, dict):
        raise Invalid("order item is not an object")
    return OrderItem(
        product_retailer_id=req_str(item, "product_retailer_id"),
        quantity=req_int(item, "quantity"),
        item_price=req_number(item, "item_price"),
        currency=req_str(item, "currency"),
    )


def _system(raw: JsonObject) -> SystemBody:
    system = req_obj(raw, "system")
    return SystemBody(
        kind=opt_str(system, "type") or "unknown",
        text=opt_str(system, "body") or "",
        new_wa_id=_bounded(opt_str(system, "wa_id") or opt_str(system, "new_wa_id"), 40),
        new_user_id=_bounded(opt_str(system, "user_id"), 150),
    )


def _bounded(value: str | None, max_len: int) -> str | None:
    """An id that fits where it is stored, else absent (a longer one is not Meta's)."""
    return value if value is not None and len(value) <= max_len else None


def _edit(raw: JsonObject) -> EditBody:
    edit = req_obj(raw, "edit")
    target = req_nonempty_str(edit, "original_message_id")
    inner = req_obj(edit, "message")
    inner_type = req_str(inner, "type")
    body = parse_body(inner_type, inner, nested=True)
    return EditBody(target=WaMessageId(target), new_body=body)


def _revoke(raw: JsonObject) -> RevokeBody:
    revoke = req_obj(raw, "revoke")
    return RevokeBody(target=WaMessageId(req_nonempty_str(revoke, "original_message_id")))


_PARSERS: dict[str, Callable[[JsonObject], MessageBody]] = {
    "text": _text,
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
    "edit": _edit,
    "revoke": _revoke,
    **{kind: _media_parser(kind) for kind in MEDIA_KINDS},
}
