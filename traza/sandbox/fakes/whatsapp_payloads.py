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

from traza.sandbox.fakes.wa_outcomes import (
    ERROR_TITLES,
    error_envelope,
    error_http_status,
    errors_webhook,
    status_error,
    status_webhook,
    template,
    template_placeholder_count,
)
from traza.sandbox.fakes.wa_webhooks import (
    CUSTOMER_NAME,
    CUSTOMER_USER_ID,
    CUSTOMER_WA_ID,
    DISPLAY_PHONE_NUMBER,
    PHONE_NUMBER_ID,
    WABA_ID,
    envelope,
    inbound_message,
    inbound_text_webhook,
    inbound_webhook,
    media_message,
    new_wamid,
    reaction_message,
    serialize,
    sign,
    signed_webhook,
    text_message,
)

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
