"""Pure builders for what happens to a send: Graph error envelopes, status webhooks (sent, delivered,
read, failed) and message templates, in the shapes of the reference fixtures (st_*, err_*)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from traza.sandbox.fakes.wa_webhooks import (
    CUSTOMER_NAME,
    CUSTOMER_WA_ID,
    DISPLAY_PHONE_NUMBER,
    ERROR_HREF,
    PHONE_NUMBER_ID,
    WABA_ID,
    JsonDict,
    change_value,
    envelope,
    now_ts,
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
        "timestamp": str(ts) if ts is not None else now_ts(),
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
    value = change_value(phone_number_id, display_phone_number)
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
    value = change_value(phone_number_id, display_phone_number)
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
