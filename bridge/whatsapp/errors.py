"""Cloud API error codes mapped onto the bridge's error tree, with what to tell the agent.

Logic branches on ``error.code`` (Meta says so; HTTP statuses for the same code disagree between
sources), never on titles. Every code the reference names has an entry; unknown codes are permanent
unless the HTTP status says the server failed (5xx), which is worth retrying.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import PermanentRemoteError, RateLimited, RemoteError, TransientRemoteError
from bridge.i18n import t


@dataclass(frozen=True, slots=True)
class CodeInfo:
    retry: str  # "no" | "backoff" | "rate"
    advice: str


CODES: dict[int, CodeInfo] = {
    131047: CodeInfo(
        "no",
        "More than 24 hours have passed since the customer last wrote: send an approved "
        "template (/traza start) to reopen the conversation.",
    ),
    131026: CodeInfo(
        "no",
        "WhatsApp could not deliver to this number (not on WhatsApp, old app, blocked us, "
        "or has not accepted the terms). Try another channel.",
    ),
    130429: CodeInfo("rate", "The business number hit its throughput limit; Traza retries automatically."),
    131056: CodeInfo("rate", "Too many messages to this customer in a short time; Traza paces and retries."),
    131048: CodeInfo(
        "no",
        "The number is spam-rate-limited because customers blocked or reported it. "
        "Check the number's quality rating in WhatsApp Manager.",
    ),
    131049: CodeInfo(
        "no", "Meta did not deliver this message to keep engagement healthy; do not retry within 24 hours."
    ),
    131051: CodeInfo("no", "This message type is not supported by WhatsApp."),
    131052: CodeInfo("no", "The media file could not be downloaded (over 100 MB or unavailable)."),
    131053: CodeInfo(
        "no", "The media file could not be uploaded: the type or size is not accepted by WhatsApp."
    ),
    131009: CodeInfo(
        "no", "A parameter value is not valid (for example a reaction to an old or deleted message)."
    ),
    131008: CodeInfo("no", "A required parameter is missing."),
    131030: CodeInfo("no", "The recipient is not in the test number's allowed list (development mode)."),
    131000: CodeInfo("backoff", "WhatsApp had an internal error; Traza retries automatically."),
    131016: CodeInfo("backoff", "WhatsApp is temporarily unavailable; Traza retries automatically."),
    131057: CodeInfo("backoff", "The business account is in maintenance; Traza retries shortly."),
    131062: CodeInfo(
        "no", "This message cannot be sent to a username-only customer (no phone number known)."
    ),
    131031: CodeInfo("no", "The business account is locked. Contact Meta support."),
    130497: CodeInfo("no", "Messaging to this country is restricted for the business account."),
    368: CodeInfo("no", "The business account is blocked for policy violations."),
    100: CodeInfo("no", "WhatsApp rejected a parameter of the request (for example an expired media id)."),
    190: CodeInfo(
        "no",
        "The WhatsApp access token expired or is invalid: an administrator must renew WHATSAPP_ACCESS_TOKEN.",
    ),
    10: CodeInfo("no", "The app lacks permission for this WhatsApp call (whatsapp_business_messaging)."),
    200: CodeInfo("no", "The app lacks permission for this WhatsApp call."),
    0: CodeInfo("no", "WhatsApp refused the app's credentials (AuthException)."),
    4: CodeInfo("rate", "The app hit Meta's API call rate limit; Traza retries automatically."),
    80007: CodeInfo("rate", "The WhatsApp account hit its API rate limit; Traza retries automatically."),
    1: CodeInfo("backoff", "WhatsApp returned an unknown error; Traza retries automatically."),
    2: CodeInfo("backoff", "The WhatsApp service is temporarily down; Traza retries automatically."),
}


def advice(code: int | str) -> str:
    info = CODES.get(int(code)) if str(code).lstrip("-").isdigit() else None
    # The advice texts are translated under their English text (see tests/unit/test_i18n.py).
    return t(info.advice) if info else t("WhatsApp refused the message.")


def graph_error(
    code: int, message: str, details: str, http_status: int, retry_after: float | None = None
) -> RemoteError:
    """The typed error for one Cloud API error envelope."""
    info = CODES.get(code)
    if info is not None and info.retry == "rate":
        backoff = retry_after if retry_after is not None else (4.0 if code == 131056 else 2.0)
        return RateLimited("whatsapp", code, message, details=details, retry_after=backoff)
    if (info is not None and info.retry == "backoff") or (info is None and http_status >= 500):
        return TransientRemoteError("whatsapp", code, message, details=details, retry_after=retry_after)
    return PermanentRemoteError("whatsapp", code, message, details=details or (info.advice if info else ""))
