"""Slack rendering of inbound WhatsApp messages: pure functions, no Slack client, no I/O.

This module owns what an agent reads in a conversation thread for each customer message: one
escaped Slack mrkdwn ``text`` per ``MessageBody`` variant (the ``match`` is exhaustive, so a new
variant fails type-checking until it is rendered), the media the worker must download and upload
beside it, and whether the text is a readable notice rather than the customer's own words. Every
string from WhatsApp goes through ``escape_mrkdwn`` so a customer cannot inject ``<!channel>``,
mentions or links. It also builds the ``username`` override used when posting as the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from bridge.contacts import display_phone
from bridge.i18n import N_, t
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
    ReactionBody,
    Referral,
    RevokeBody,
    SharedContact,
    SystemBody,
    TextBody,
    UnsupportedBody,
)

SLACK_USERNAME_MAX = 80
_MEDIA_LABELS = {
    "image": N_("📷 image"),
    "video": N_("🎬 video"),
    "audio": N_("🎧 audio"),
    "document": N_("📄 document"),
    "sticker": N_("💟 sticker"),
}


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One customer message ready to post: mrkdwn text, media to attach, and its nature."""

    text: str
    media: MediaBody | None = None
    notice: bool = False


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters escaped; everything else (emoji, ``*bold*``) kept."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_inbound(msg: InboundMessage) -> RenderedMessage:
    """The Slack text (and media) for one inbound message, with forward/ad/product decorations."""
    text, notice = render_body(msg.body)
    media = msg.body if isinstance(msg.body, MediaBody) else None
    lines = [*_context_lines(msg.context), text, *_referral_lines(msg.referral)]
    return RenderedMessage(text="\n".join(lines), media=media, notice=notice)


def render_coalesced(messages: list[InboundMessage]) -> str:
    """Several customer messages as one post: each part on its own line(s), in order, led by the
    customer's send time (Slack shows ``<!date>`` in each reader's own time zone)."""
    parts = []
    for msg in messages:
        unix = int(msg.sent_at.timestamp())
        fallback = msg.sent_at.astimezone(UTC).strftime("%H:%M UTC")
        parts.append(f"<!date^{unix}^{{time}}|{fallback}> {render_inbound(msg).text}")
    return "\n".join(parts)


def render_body(body: MessageBody) -> tuple[str, bool]:
    """``(mrkdwn text, is_notice)`` for one body; the text is never empty."""
    match body:
        case TextBody(text=text):
            return (escape_mrkdwn(text), False) if text.strip() else (t("_(empty message)_"), True)
        case MediaBody():
            return _media_text(body)
        case LocationBody():
            return _location_text(body), True
        case ContactsBody(contacts=contacts):
            return _contacts_text(contacts), True
        case ChoiceBody():
            return _choice_text(body), True
        case ReactionBody(emoji=emoji):
            if not emoji:
                return t("removed their reaction"), True
            return t("reacted {emoji} to a message", emoji=escape_mrkdwn(emoji)), True
        case OrderBody():
            return _order_text(body), True
        case SystemBody():
            return _system_text(body), True
        case EditBody(new_body=new_body):
            return t("✏️ edited a message: {text}", text=render_body(new_body)[0]), True
        case RevokeBody():
            return t("🗑️ deleted a message"), True
        case UnsupportedBody():
            return _unsupported_text(body), True


def customer_username(profile_name: str | None, phone_display: str, username: str | None) -> str:
    """The Slack ``username`` for posts made as the customer, at most 80 characters.

    ``"Sheena Nelson (WhatsApp +16505551234)"``; a username user without a visible phone gets
    ``"Marco Rossi (WhatsApp @marco.rossi)"``. The name is shortened, never the WhatsApp tag.
    """
    handle = "".join((username or "").split()).lstrip("@")
    handle = f"@{handle}" if handle else ""
    name = " ".join((profile_name or "").split())  # no newlines or runs of spaces in a username
    phone = phone_display.strip()
    if name:
        tag = phone or handle
    elif handle:
        name, tag = handle, phone
    elif phone:
        name, tag = phone, ""
    else:
        return t("WhatsApp customer")
    suffix = f" (WhatsApp {tag})" if tag else " (WhatsApp)"
    room = SLACK_USERNAME_MAX - len(suffix)
    if len(name) > room:
        name = name[: max(room - 1, 1)].rstrip() + "…"
    return (name + suffix)[:SLACK_USERNAME_MAX]


def _context_lines(context: MessageContext | None) -> list[str]:
    if context is None:
        return []
    lines = []
    if context.frequently_forwarded:
        lines.append(t("_Forwarded many times_"))
    elif context.forwarded:
        lines.append(t("_Forwarded_"))
    if context.referred_product:
        lines.append(t("🛍️ asked about product {product}", product=escape_mrkdwn(context.referred_product)))
    return lines


def _referral_lines(referral: Referral | None) -> list[str]:
    if referral is None:
        return []
    parts = [part for part in (referral.headline, referral.source_url) if part]
    detail = escape_mrkdwn(" ".join(parts)) if parts else escape_mrkdwn(referral.source_type)
    return [t("📣 came from ad: {detail}", detail=detail)]


def _media_text(body: MediaBody) -> tuple[str, bool]:
    if body.caption and body.caption.strip():
        return escape_mrkdwn(body.caption), False
    if body.kind == "audio" and body.voice:
        return t("🎤 voice note"), True
    if body.kind == "sticker" and body.animated:
        return t("💟 animated sticker"), True
    known = _MEDIA_LABELS.get(body.kind)
    label = t(known) if known else f"📎 {escape_mrkdwn(body.kind) or t('file')}"
    if body.kind == "document" and body.filename:
        label = f"{label} {escape_mrkdwn(body.filename)}"
    return label, True


def _location_text(body: LocationBody) -> str:
    lines = [t("📍 shared a location")]
    if body.name:
        lines.append(f"*{escape_mrkdwn(body.name)}*")
    if body.address:
        lines.append(escape_mrkdwn(body.address))
    if body.url:
        lines.append(escape_mrkdwn(body.url))
    maps = f"https://maps.google.com/?q={body.latitude},{body.longitude}"
    lines.append(f"<{maps}|{t('Open in Google Maps')}>")
    return "\n".join(lines)


def _contacts_text(contacts: tuple[SharedContact, ...]) -> str:
    if not contacts:
        return t("👤 shared a contact card")
    title = (
        t("👤 shared a contact")
        if len(contacts) == 1
        else t("👤 shared {count} contacts", count=len(contacts))
    )
    return "\n".join([title, *(_contact_line(contact) for contact in contacts)])


def _contact_line(contact: SharedContact) -> str:
    name = escape_mrkdwn(contact.formatted_name) or t("(no name)")
    line = f"• *{name}*"
    if contact.organization:
        line += f" ({escape_mrkdwn(contact.organization)})"
    details = [*contact.phones, *contact.emails]
    if details:
        line += " — " + ", ".join(escape_mrkdwn(detail) for detail in details)
    return line


def _choice_text(body: ChoiceBody) -> str:
    title = escape_mrkdwn(body.title) or escape_mrkdwn(body.choice_id) or t("(no title)")
    text = t("↩︎ chose: *{title}*", title=title)
    if body.description and body.kind == "list_reply":
        text += f" — {escape_mrkdwn(body.description)}"
    return text


def _order_text(body: OrderBody) -> str:
    lines = [t("🛒 placed an order")]
    totals: dict[str, float] = {}
    for item in body.items:
        currency = escape_mrkdwn(item.currency)
        lines.append(
            f"• {item.quantity} × {escape_mrkdwn(item.product_retailer_id)}"
            f" @ {item.item_price:.2f} {currency}"
        )
        totals[currency] = totals.get(currency, 0.0) + item.quantity * item.item_price
    for currency, total in totals.items():
        lines.append(t("*Total: {total} {currency}*", total=f"{total:.2f}", currency=currency))
    if body.text and body.text.strip():
        lines.append(escape_mrkdwn(body.text))
    return "\n".join(lines)


def _system_text(body: SystemBody) -> str:
    if body.kind == "user_changed_number" and body.new_wa_id:
        phone = escape_mrkdwn(display_phone(body.new_wa_id))
        return t("📱 changed their phone number to {phone}", phone=phone)
    if body.kind == "user_changed_user_id":
        return t("🔄 their WhatsApp account was re-registered (new user id)")
    detail = body.text.strip() or body.kind
    return f"ℹ️ {escape_mrkdwn(detail)}"


def _unsupported_text(body: UnsupportedBody) -> str:
    detail = escape_mrkdwn(body.type_name) or t("unknown")
    titles = [error.title for error in body.errors if error.title]
    if titles:
        detail += f": {escape_mrkdwn(titles[0])}"
    return t("⚠️ sent a message Slack cannot show ({detail})", detail=detail)
