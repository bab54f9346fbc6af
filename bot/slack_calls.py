"""Slack Web API calls: the client (no retries of its own) and the translation of every failure into
the bridge's error tree — HTTP 429 (with ``Retry-After``) into ``RateLimited``; 5xx, timeouts and
connection errors into ``TransientRemoteError``; Slack's ``ok: false`` codes into ``PermanentRemoteError``
except the few that mean "try later" — and, for the error counters, which method a failed call was for.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bridge.errors import PermanentRemoteError, RateLimited, TransientRemoteError

TRANSIENT_CODES = frozenset(
    {
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "ratelimited",
        "team_not_ready",
    }
)


def make_client(token: str, base_url: str, timeout: int = 10) -> AsyncWebClient:
    # No retry handlers: retries belong to the job queue (see the module docstring). One shared
    # aiohttp session keeps connections to Slack alive instead of opening one per call.
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False)
    return AsyncWebClient(
        token=token, base_url=base_url, timeout=timeout, retry_handlers=[], proxy=None, session=session
    )


async def slack_call(call: Awaitable[Any]) -> Any:
    """Run one Web API call, translating every failure into the bridge's error tree."""
    try:
        return await call
    except SlackApiError as exc:
        status = exc.response.status_code
        code = str(exc.response.get("error", "unknown_error")) if exc.response.data else f"http_{status}"
        if status == 429 or code == "ratelimited":
            retry = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
            raise RateLimited("slack", code, "rate limited", retry_after=_seconds(retry)) from exc
        if status >= 500 or code in TRANSIENT_CODES:
            raise TransientRemoteError("slack", code, f"HTTP {status}") from exc
        needed = exc.response.get("needed") if exc.response.data else None
        raise PermanentRemoteError("slack", code, details=f"needed scope {needed}" if needed else "") from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise TransientRemoteError("slack", type(exc).__name__, str(exc) or "connection failed") from exc


def _seconds(value: Any) -> float:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 1.0


def method_of(call: Awaitable[Any], exc: BaseException) -> str:
    """The Web API method a failed call was for (``chat.postMessage``), for the error counters."""
    cause = exc.__cause__
    if isinstance(cause, SlackApiError) and getattr(cause.response, "api_url", None):
        return str(cause.response.api_url).rstrip("/").rsplit("/", 1)[-1]
    name = str(getattr(call, "__qualname__", "") or getattr(call, "__name__", "unknown"))
    return name.rsplit(".", 1)[-1].replace("_", ".", 1)
