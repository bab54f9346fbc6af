"""Pure builders for WhatsApp Cloud API payloads: webhooks (inbound messages, statuses, errors),
Meta-style signing, Graph error envelopes and message templates.

No server, no I/O: import freely from any test. Defaults are the identities used by the
reference fixtures (``/work/shared/reference/fixtures/whatsapp``)::

    body = inbound_text_webhook("Oi, preciso de ajuda")
    raw, headers = signed_webhook(body, "test_app_secret")
    await client.post("/webhooks/whatsapp", content=raw, headers=headers)

Webhook bodies are serialised the way Meta does it (compact JSON, non-ASCII escaped as
``\\uXXXX``) and the signature is HMAC-SHA256 over exactly those bytes (whatsapp-cloud-api.md §1.2).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CUSTOMER_NAME",
    "CUSTOMER_USER_ID",
    "CUSTOMER_WA_ID",
    "DISPLAY_PHONE_NUMBER",
    "ERROR_TITLES",
    "PHONE_NUMBER_ID",
    "WABA_ID",
    "envelope",
    "error_envelope",
    "error_http_status",
    "errors_webhook",
    "inbound_message",
    "inbound_text_webhook",
    "inbound_webhook",
    "media_message",
    "new_wamid",
    "reaction_message",
    "serialize",
    "sign",
    "signed_webhook",
    "status_error",
    "status_webhook",
    "template",
    "template_placeholder_count",
    "text_message",
]

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


def _value(phone_number_id: str, display_phone_number: str) -> JsonDict:
    return {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }


def _now() -> str:
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
    msg["timestamp"] = str(ts) if ts is not None else _now()
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
    msg.setdefault("timestamp", _now())
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
    value = _value(phone_number_id, display_phone_number)
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


# ---------------------------------------------------------------------- errors

ERROR_TITLES: dict[int, str] = {
    0: "AuthException",
    1: "API Unknown",
    2: "API Service",
    4: "API Too Many Calls",
    10: "Permission denied",
    100: "Invalid parameter",
    190: "Access token has expired",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    130497: "Business account is restricted from messaging users in this country",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131030: "Recipient phone number not in allowed list",
    131031: "Account has been locked",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131051: "Unsupported message type",
    131052: "Media download error",
    131053: "Media upload error",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131057: "Account in maintenance mode",
    131062: "BSUID recipients are not supported for this message",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
}

_DETAILS: dict[int, str] = {
    100: "Parameter value is not valid",
    130429: "Cloud API message throughput has been reached.",
    131026: "Message Undeliverable.",
    131047: (
        "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number."
    ),
    131056: (
        "Message failed to send because there were too many messages sent from this phone "
        "number to the same phone number in a short period of time."
    ),
}

_FBTRACE: dict[int, str] = {
    131047: "AbC123XyZ",
    130429: "A7kq2mBv9Xc",
    131056: "Bq3Zk8Lm1Pd",
    190: "Cz4Ym9Nn2Qe",
    100: "Dd5Xa0Oo3Rf",
}

_HTTP_STATUS: dict[int, int] = {
    0: 401,
    1: 500,
    2: 503,
    3: 500,
    4: 429,
    10: 403,
    190: 401,
    368: 403,
    80007: 429,
    130429: 429,
    130497: 403,
    131000: 500,
    131016: 503,
    131031: 403,
}


def error_http_status(code: int) -> int:
    """The HTTP status the fake uses for a Graph error ``code`` (400 unless known otherwise)."""
    if 200 <= code <= 299:
        return 403
    return _HTTP_STATUS.get(code, 400)


def error_envelope(code: int, *, details: str | None = None, message: str | None = None) -> JsonDict:
    """Synchronous Graph error body. For 131047, 130429, 131056, 190 and 100 (without
    overrides) this is byte-for-byte the content of fixtures err_01..err_05."""
    if code == 190 and details is None and message is None:
        return {
            "error": {
                "message": (
                    "Error validating access token: Session has expired on Tuesday, 31-Mar-26 10:00:00 PDT."
                ),
                "type": "OAuthException",
                "code": 190,
                "error_subcode": 463,
                "fbtrace_id": _FBTRACE[190],
            }
        }
    title = ERROR_TITLES.get(code, "Generic error")
    error: JsonDict = {
        "message": message or f"(#{code}) {title}",
        "type": "OAuthException",
        "code": code,
        "error_data": {
            "messaging_product": "whatsapp",
            "details": details or _DETAILS.get(code, title),
        },
        "fbtrace_id": _FBTRACE.get(code, f"AFakeTrace{code}"),
    }
    if code in (1, 2, 131000, 131016):
        error["is_transient"] = True
    return {"error": error}


def status_error(code: int, *, details: str | None = None, title: str | None = None) -> JsonDict:
    """One ``statuses[].errors[]`` / ``value.errors[]`` item (shape of st_04 / st_06)."""
    title = title or ERROR_TITLES.get(code, "Generic error")
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details or _DETAILS.get(code, title)},
        "href": ERROR_HREF,
    }


# ---------------------------------------------------------------------- statuses


def status_webhook(
    wamid: str,
    status: str,
    phone_number_id: str = PHONE_NUMBER_ID,
    recipient: str = CUSTOMER_WA_ID,
    errors: list[JsonDict] | None = None,
    ts: str | int | None = None,
    *,
    recipient_user_id: str | None = None,
    contact_name: str = CUSTOMER_NAME,
    pricing: JsonDict | bool | None = None,
    conversation: JsonDict | None = None,
    biz_opaque_callback_data: str | None = None,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
    waba_id: str = WABA_ID,
) -> JsonDict:
    """A status webhook (``sent``/``delivered``/``read``/``failed``/``played``) for ``wamid``.

    Shapes follow st_01..st_04 (v24+: no ``conversation`` unless given). ``pricing=None`` adds
    the free-service pricing block to ``sent``/``delivered``; pass False to omit or a dict.
    ``failed`` omits ``contacts`` and defaults ``errors`` to ``[status_error(131026)]``.
    """
    item: JsonDict = {
        "id": wamid,
        "status": status,
        "timestamp": str(ts) if ts is not None else _now(),
        "recipient_id": recipient,
    }
    if recipient_user_id is not None:
        item["recipient_user_id"] = recipient_user_id
    if biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = biz_opaque_callback_data
    if conversation is not None:
        item["conversation"] = conversation
    if pricing is None:
        pricing = status in ("sent", "delivered")
    if pricing is True:
        pricing = {
            "billable": False,
            "pricing_model": "PMP",
            "type": "free_customer_service",
            "category": "service",
        }
    if isinstance(pricing, dict):
        item["pricing"] = pricing
    if status == "failed":
        item["errors"] = errors if errors is not None else [status_error(131026)]
    elif errors is not None:
        item["errors"] = errors
    value = _value(phone_number_id, display_phone_number)
    if status != "failed":
        contact: JsonDict = {"profile": {"name": contact_name}, "wa_id": recipient}
        if recipient_user_id is not None:
            contact["user_id"] = recipient_user_id
        value["contacts"] = [contact]
    value["statuses"] = [item]
    return envelope(value, waba_id=waba_id)


def errors_webhook(
    errors: list[JsonDict] | None = None,
    *,
    phone_number_id: str = PHONE_NUMBER_ID,
    display_phone_number: str = DISPLAY_PHONE_NUMBER,
    waba_id: str = WABA_ID,
) -> JsonDict:
    """A system-level ``value.errors`` webhook (st_06 shape); default one 130429 error."""
    value = _value(phone_number_id, display_phone_number)
    value["errors"] = errors if errors is not None else [status_error(130429)]
    return envelope(value, waba_id=waba_id)


# ---------------------------------------------------------------------- templates

_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


def template(
    name: str,
    body: str,
    *,
    language: str = "pt_BR",
    category: str = "UTILITY",
    status: str = "APPROVED",
    header: str | None = None,
    footer: str | None = None,
    template_id: str | None = None,
) -> JsonDict:
    """A ``message_templates`` list item; ``body`` may contain ``{{1}}``… placeholders."""
    components: list[JsonDict] = []
    if header is not None:
        components.append({"type": "HEADER", "format": "TEXT", "text": header})
    components.append({"type": "BODY", "text": body})
    if footer is not None:
        components.append({"type": "FOOTER", "text": footer})
    digest = hashlib.sha256(f"{name}/{language}".encode()).hexdigest()
    return {
        "name": name,
        "language": language,
        "status": status,
        "category": category,
        "components": components,
        "id": template_id or str(int(digest[:12], 16)),
    }


def template_placeholder_count(tpl: Mapping[str, Any]) -> int:
    """Number of distinct ``{{n}}`` placeholders in the template's BODY component."""
    for comp in tpl.get("components", []):
        if str(comp.get("type", "")).upper() == "BODY":
            return len(set(_PLACEHOLDER.findall(str(comp.get("text", "")))))
    return 0
