"""Typed inbound updates from the WhatsApp Cloud API: what the edge parses Meta's JSON into.

No raw dict travels past ``bridge.whatsapp.parsing``; everything inward sees these frozen objects.
One ``InboundMessage`` carries one ``MessageBody`` variant per Cloud API message kind, so a ``match``
over the body is exhaustive and a new kind cannot slip through unrendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bridge.domain import WaMessageId, WaPhoneNumberId


@dataclass(frozen=True, slots=True)
class RemoteError:
    """One entry of a Cloud API ``errors[]`` array."""

    code: int
    title: str
    message: str = ""
    details: str = ""


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote: phone digits (``wa_id``/``from``) and/or business-scoped user id (BSUID)."""

    wa_id: str | None
    user_id: str | None
    profile_name: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class TextBody:
    text: str


@dataclass(frozen=True, slots=True)
class MediaBody:
    """image, audio (``voice`` for push-to-talk notes), video, document, sticker."""

    kind: str
    media_id: str
    mime_type: str
    caption: str | None = None
    filename: str | None = None
    sha256: str | None = None
    url: str | None = None
    voice: bool = False
    animated: bool = False


@dataclass(frozen=True, slots=True)
class LocationBody:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class SharedContact:
    formatted_name: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    organization: str | None = None


@dataclass(frozen=True, slots=True)
class ContactsBody:
    contacts: tuple[SharedContact, ...]


@dataclass(frozen=True, slots=True)
class ChoiceBody:
    """A tap on something the business sent: reply button, list row, template quick reply, flow."""

    kind: str  # "button_reply" | "list_reply" | "template_button" | "nfm_reply"
    choice_id: str
    title: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ReactionBody:
    """``emoji == ""`` means the customer removed their reaction."""

    target: WaMessageId
    emoji: str


@dataclass(frozen=True, slots=True)
class OrderItem:
    product_retailer_id: str
    quantity: int
    item_price: float
    currency: str


@dataclass(frozen=True, slots=True)
class OrderBody:
    catalog_id: str
    text: str | None
    items: tuple[OrderItem, ...]


@dataclass(frozen=True, slots=True)
class SystemBody:
    """``user_changed_number`` (new ``wa_id``) or ``user_changed_user_id`` (new BSUID), or another notice."""

    kind: str
    text: str
    new_wa_id: str | None = None
    new_user_id: str | None = None


@dataclass(frozen=True, slots=True)
class EditBody:
    target: WaMessageId
    new_body: MessageBody


@dataclass(frozen=True, slots=True)
class RevokeBody:
    target: WaMessageId


@dataclass(frozen=True, slots=True)
class UnsupportedBody:
    """A kind Meta could not or we do not model: shown as a readable notice, never dropped."""

    type_name: str
    errors: tuple[RemoteError, ...] = ()


MessageBody = (
    TextBody
    | MediaBody
    | LocationBody
    | ContactsBody
    | ChoiceBody
    | ReactionBody
    | OrderBody
    | SystemBody
    | EditBody
    | RevokeBody
    | UnsupportedBody
)


@dataclass(frozen=True, slots=True)
class Referral:
    """Click-to-WhatsApp ad the customer came from."""

    source_type: str
    source_url: str | None = None
    headline: str | None = None
    body: str | None = None


@dataclass(frozen=True, slots=True)
class MessageContext:
    quoted: WaMessageId | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False
    referred_product: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    wa_message_id: WaMessageId
    phone_number_id: WaPhoneNumberId
    display_phone_number: str
    sender: Sender
    sent_at: datetime
    body: MessageBody
    context: MessageContext | None = None
    referral: Referral | None = None
    errors: tuple[RemoteError, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A delivery status for a message we sent (``sent``/``delivered``/``read``/``played``/``failed``)."""

    wa_message_id: WaMessageId
    phone_number_id: WaPhoneNumberId
    status: str
    at: datetime
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    biz_opaque_callback_data: str | None = None
    errors: tuple[RemoteError, ...] = ()


@dataclass(frozen=True, slots=True)
class WebhookErrors:
    """System-level ``value.errors[]`` (for example 130429) with no message or status attached."""

    phone_number_id: WaPhoneNumberId
    errors: tuple[RemoteError, ...]


@dataclass(frozen=True, slots=True)
class SkippedUpdate:
    """A part of a webhook that could not be understood; recorded, never silently dropped."""

    where: str
    reason: str


@dataclass(slots=True)
class ParsedWebhook:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    errors: list[WebhookErrors] = field(default_factory=list)
    skipped: list[SkippedUpdate] = field(default_factory=list)

    @property
    def update_count(self) -> int:
        return len(self.messages) + len(self.statuses) + len(self.errors) + len(self.skipped)


def body_kind(body: MessageBody) -> str:
    """The Cloud API kind name of a body (``text``, ``image``, ``reaction``…) for storage and metrics."""
    match body:
        case MediaBody(kind=kind):
            return kind
        case UnsupportedBody():
            return "unsupported"
        case ChoiceBody(kind=kind):
            return "button" if kind == "template_button" else "interactive"
    return type(body).__name__.removesuffix("Body").lower()


def plain_text(body: MessageBody) -> str:
    """The words of a message as plain text, for the history, search and routing keywords."""
    match body:
        case TextBody(text=text):
            return text
        case MediaBody(caption=caption, filename=filename, kind=kind):
            return caption or filename or f"[{kind}]"
        case LocationBody(name=name, address=address, latitude=lat, longitude=lng):
            return " ".join(p for p in (name, address) if p) or f"[location {lat},{lng}]"
        case ContactsBody(contacts=contacts):
            return "; ".join(c.formatted_name for c in contacts) or "[contacts]"
        case ChoiceBody(title=title):
            return title
        case ReactionBody(emoji=emoji):
            return emoji or "[reaction removed]"
        case OrderBody(text=text, items=items):
            return text or f"[order of {len(items)} item(s)]"
        case SystemBody(text=text):
            return text
        case EditBody(new_body=new_body):
            return plain_text(new_body)
        case RevokeBody():
            return "[message deleted]"
        case UnsupportedBody(type_name=type_name):
            return f"[{type_name}]"
