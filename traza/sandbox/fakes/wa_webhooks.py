"""Pure builders for WhatsApp Cloud API webhooks: Meta-style signing, envelopes and inbound messages.

No server, no I/O. Defaults are the identities used by the reference fixtures; the facade
:mod:`traza.sandbox.fakes.whatsapp_payloads` re-exports everything here with the statuses, errors and
templates of :mod:`traza.sandbox.fakes.wa_outcomes`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

JsonDict = dict[str, Any]

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE_NUMBER = "15550783881"
CUSTOMER_WA_ID = "16505551234"
CUSTOMER_NAME = "Sheena Nelson"
CUSTOMER_USER_ID = "US.13491208655302741918"
ERROR_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

MESSAGE_TYPES = frozenset(
    {
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "button",
        "reaction",
        "order",
        "system",
        "unsupported",
        "edit",
        "revoke",
        "template",
    }
)

_wamid_counter = itertools.count(1)

# ---------------------------------------------------------------------- signing


def serialize(body: Mapping[str, Any]) -> bytes:
    """Meta's wire format: compact JSON with non-ASCII escaped as ``\\uXXXX``."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def sign(raw: bytes, app_secret: str) -> str:
    """``X-Hub-Signature-256`` value for ``raw``: ``"sha256=<lowercase hex>"``."""
    digest = hmac.new(app_secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_webhook(body: Mapping[str, Any], app_secret: str) -> tuple[bytes, dict[str, str]]:
    """Serialise ``body`` like Meta and return ``(raw_bytes, headers)`` ready to POST."""
    raw = serialize(body)
    return raw, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, app_secret)}


# ---------------------------------------------------------------------- envelopes


def envelope(
    value: JsonDict,
    *,
    waba_id: str = WABA_ID,
    field: str = "messages",
) -> JsonDict:
    """Wrap one ``change.value`` into ``{"object", "entry": [{"id", "changes": [...]}]}``."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": field}]}],
    }


def change_value(phone_number_id: str, display_phone_number: str) -> JsonDict:
    return {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }


def now_ts() -> str:
    return str(int(time.time()))


def new_wamid(prefix: str = "IN") -> str:
    """A fresh, unique wamid-looking id (``wamid.FAKEIN000001``…)."""
    return f"wamid.FAKE{prefix}{next(_wamid_counter):06d}"


# ---------------------------------------------------------------------- inbound messages


def inbound_message(
    type_: str = "text",
    payload: Any = None,
    *,
    wa_id: str | None = CUSTOMER_WA_ID,
    user_id: str | None = CUSTOMER_USER_ID,
    wamid: str | None = None,
    ts: str | int | None = None,
    context: JsonDict | None = None,
    **extra: Any,
) -> JsonDict:
    """One ``value.messages[]`` item of any type: ``{"from", "from_user_id", "id",
    "timestamp", "type", <type>: payload}``. ``wa_id=None`` models a BSUID-only user."""
    msg: JsonDict = {}
    if context is not None:
        msg["context"] = context
    if wa_id is not None:
        msg["from"] = wa_id
    if user_id is not None:
        msg["from_user_id"] = user_id
    msg["id"] = wamid or new_wamid()
    msg["timestamp"] = str(ts) if ts is not None else now_ts()
    msg["type"] = type_
    if payload is not None:
        msg[type_] = payload
    msg.update(extra)
    return msg


def text_message(body: str, **kwargs: Any) -> JsonDict:
    """Inbound text message item (kwargs as :func:`inbound_message`)."""
    return inbound_message("text", {"body": body}, **kwargs)


def media_message(
    kind: str,
    media_id: str,
    mime_type: str,
    *,
    caption: str | None = None,
    filename: str | None = None,
    sha256: str = "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
    voice: bool | None = None,
    url: str | None = None,
    **kwargs: Any,
) -> JsonDict:
    """Inbound image/audio/video/document/sticker item referencing ``media_id``
    (seed the bytes with ``FakeGraph.add_media``)."""
    body: JsonDict = {}
    if caption is not None:
        body["caption"] = caption
    if filename is not None:
        body["filename"] = filename
    body.update({"mime_type": mime_type, "sha256": sha256, "id": media_id})
    if voice is not None:
        body["voice"] = voice
    if kind == "sticker":
        body.setdefault("animated", False)
    if url is not None:
        body["url"] = url
    return inbound_message(kind, body, **kwargs)


def reaction_message(message_id: str, emoji: str, **kwargs: Any) -> JsonDict:
    """Inbound reaction to ``message_id``; ``emoji=""`` means the reaction was removed."""
    return inbound_message("reaction", {"message_id": message_id, "emoji": emoji}, **kwargs)


def _complete_message(item: JsonDict | str, wa_id: str | None, user_id: str | None) -> JsonDict:
    if isinstance(item, str):
        return text_message(item, wa_id=wa_id, user_id=user_id)
    msg = dict(item)
    if "type" not in msg:
        present = [k for k in msg if k in MESSAGE_TYPES]
        msg["type"] = present[0] if present else "text"
        if not present:
            msg["text"] = {"body": ""}
    if wa_id is not None:
        msg.setdefault("from", wa_id)
    if user_id is not None:
        msg.setdefault("from_user_id", user_id)
    msg.setdefault("id", new_wamid())
    msg.setdefault("timestamp", now_ts())
    # Keep Meta's key order: context, from, from_user_id, id, timestamp, type, body.
    order = ["context", "from", "from_user_id", "id", "timestamp", "type"]
    return {k: msg[k] for k in order if k in msg} | {k: v for k, v in msg.items() if k not in order}


def inbound_webhook(
    messages: Sequence[JsonDict | str] | None = None,
    *,
    name: str = CUSTOMER_NAME,
    wa_id: str | None = CUSTOMER_WA_ID,
    user_id: str | None = CUSTOMER_USER_ID,
    username: str | None = None,
    phone_number_id: str = PHONE_NUMBER_ID,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
    waba_id: str = WABA_ID,
    contacts: list[JsonDict] | None = None,
) -> JsonDict:
    """A ``messages`` webhook from one customer carrying ``messages`` (default: one text).

    Each item may be a string (text body), a full message dict (e.g. from
    :func:`media_message`), or a partial dict such as ``{"type": "location", "location": {...}}``;
    missing ``from``/``from_user_id``/``id``/``timestamp``/``type`` are filled in.
    """
    items = list(messages) if messages is not None else ["Hello"]
    if contacts is None:
        profile: JsonDict = {"name": name}
        if username is not None:
            profile["username"] = username
        contact: JsonDict = {"profile": profile}
        if wa_id is not None:
            contact["wa_id"] = wa_id
        if user_id is not None:
            contact["user_id"] = user_id
        contacts = [contact]
    value = change_value(phone_number_id, display_phone_number)
    value["contacts"] = contacts
    value["messages"] = [_complete_message(m, wa_id, user_id) for m in items]
    return envelope(value, waba_id=waba_id)


def inbound_text_webhook(
    text: str = "Hello",
    *,
    wamid: str | None = None,
    ts: str | int | None = None,
    context: JsonDict | None = None,
    name: str = CUSTOMER_NAME,
    wa_id: str | None = CUSTOMER_WA_ID,
    user_id: str | None = CUSTOMER_USER_ID,
    phone_number_id: str = PHONE_NUMBER_ID,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
    waba_id: str = WABA_ID,
) -> JsonDict:
    """A webhook with one inbound text message (shape of ``in_01_text.json``)."""
    msg = text_message(text, wa_id=wa_id, user_id=user_id, wamid=wamid, ts=ts, context=context)
    return inbound_webhook(
        [msg],
        name=name,
        wa_id=wa_id,
        user_id=user_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        waba_id=waba_id,
    )
