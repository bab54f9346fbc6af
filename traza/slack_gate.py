"""The gate of ``POST /slack/events``: everything a request must pass before Bolt sees it, in order.

1. Size: at most ``MAX_SLACK_BODY`` bytes are read (an oversized body gets 413 and is not read on).
2. Slack's signature over the raw bytes and its five-minute replay window: an unsigned, wrongly
   signed or replayed request gets 401 whatever it holds, and nothing unsigned is ever parsed.
   This is checked here rather than by ``slack_sdk``'s verifier, which raises (a 500) on a
   non-numeric timestamp, a non-ASCII signature or a body that is not UTF-8.
3. One parse of the body into the dict Bolt will get, and a check of its outer shape: a malformed
   body gets 400 with a reason. Bolt is handed that dict (``mode="socket_mode"`` is Bolt's way to
   take a parsed body; it only skips Bolt's own signature check, done in step 2 already) because
   Bolt's parser drops any form body that merely contains the text ``payload`` — a slash command
   such as ``/traza note payload lost`` would vanish — and crashes on bytes that are not UTF-8.
4. A listener that fails answers 503 when storage is unreachable (Slack retries) and 400 with a
   reason otherwise: never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from slack_bolt import BoltResponse
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import Response

from traza.request_body import read_bounded

log = logging.getLogger("traza.slack")

MAX_SLACK_BODY = 1024 * 1024
REPLAY_WINDOW_SECONDS = 5 * 60
MAX_SLACK_ID = 40  # Slack's user, channel and team ids are about 11 characters; columns hold 40
# SQLSTATE classes that blame the request's data, not the database: data, integrity, query errors.
_DATA_SQLSTATES = ("22", "23", "42")
# Objects a payload carries at its top level; a string or number there is not Slack's shape.
_OBJECT_FIELDS = ("user", "channel", "team", "container", "view", "message", "enterprise")


def storage_down(error: BaseException) -> bool:
    """True when ``error`` means the database could not be used (answer 503 so Slack retries).

    Any driver error counts (asyncpg reports a refused connection as a bare ``DBAPIError``) except
    those whose SQLSTATE blames the data, such as a value too long for its column.
    """
    if isinstance(error, DBAPIError):
        state = str(getattr(error.orig, "sqlstate", None) or "")
        return not state.startswith(_DATA_SQLSTATES)
    return isinstance(error, PoolTimeout | OSError | TimeoutError)


def signature_valid(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float
) -> bool:
    """Slack's ``v0`` HMAC over ``v0:<timestamp>:<raw body>``, inside the replay window."""
    if not secret or not timestamp or not signature or not signature.isascii():
        return False
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def screen(body: bytes, headers: Mapping[str, str], secret: str) -> dict[str, Any] | tuple[int, str]:
    """The parsed body Bolt should get, or ``(status, reason)`` to answer at once."""
    if len(body) > MAX_SLACK_BODY:
        return 413, "body too large"
    stamp, signature = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
    if not signature_valid(secret, body, stamp, signature, time.time()):
        return 401, "invalid request: missing, wrong or expired Slack signature"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "body is not UTF-8"
    parsed = _parse(text)
    if isinstance(parsed, dict) and ("\x00" in text or "\\u0000" in text or "%00" in text):
        cleaned: dict[str, Any] = _without_nul(parsed)
        return cleaned
    return parsed


def _without_nul(value: Any) -> Any:
    """NUL characters read as U+FFFD: PostgreSQL cannot store them in text or JSON."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _parse(text: str) -> dict[str, Any] | tuple[int, str]:
    if text.lstrip().startswith("{"):
        return _screen_json(text)
    form = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in form:
        return _screen_payload(form["payload"])
    if "ssl_check" in form or "command" in form:
        if any(_too_long_id(form.get(name)) for name in ("user_id", "channel_id", "team_id")):
            return 400, "user_id, channel_id or team_id is not a Slack id"
        return form
    return 400, "not a Slack request: neither JSON, a payload nor a slash command"


def _screen_payload(raw: str) -> dict[str, Any] | tuple[int, str]:
    try:
        payload = json.loads(raw)
    except ValueError:
        return 400, "payload is not JSON"
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return 400, "payload has no type"
    for name in _OBJECT_FIELDS:
        if name in payload and not isinstance(payload[name], dict | None):
            return 400, f"payload.{name} is not an object"
    for name in ("user", "channel", "team"):
        if _too_long_id((payload.get(name) or {}).get("id")):
            return 400, f"payload.{name}.id is not a Slack id"
    actions = payload.get("actions")
    if actions is not None and not (isinstance(actions, list) and all(isinstance(a, dict) for a in actions)):
        return 400, "payload.actions is not a list of objects"
    return payload


def _too_long_id(value: object) -> bool:
    return isinstance(value, str) and len(value) > MAX_SLACK_ID


def _screen_json(text: str) -> dict[str, Any] | tuple[int, str]:
    try:
        data = json.loads(text)
    except ValueError:
        return 400, "body is not JSON"
    if not isinstance(data, dict):
        return 400, "body is not a JSON object"
    kind = data.get("type")
    if kind == "event_callback":
        event = data.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return 400, "event_callback without an event and its type"
        if any(_too_long_id(event.get(name)) for name in ("user", "channel", "bot_id", "ts", "thread_ts")):
            return 400, "event.user, channel, bot_id, ts or thread_ts is not a Slack id"
        return data
    if kind == "app_rate_limited":
        log.warning("Slack rate-limited this app's events (minute %s)", data.get("minute_rate_limited"))
        return 200, "ok"
    if kind == "url_verification":
        return data
    return 400, f"unsupported Slack envelope {str(kind)[:40]!r}"


def _answer(status: int, reason: str) -> Response:
    if status == 200:
        return JSONResponse({"ok": True})
    retry = {} if status == 503 else {"X-Slack-No-Retry": "1"}
    return JSONResponse({"error": reason}, status_code=status, headers=retry)


async def receive(request: Request, bolt: AsyncApp, secret: str) -> Response:
    """The whole ``POST /slack/events`` handling: the gate, then Bolt, never a 500."""
    body = await read_bounded(request, MAX_SLACK_BODY)
    if body is None:
        return _answer(413, "body too large")
    screened = screen(body, request.headers, secret)
    if isinstance(screened, tuple):
        return _answer(*screened)
    try:
        bolt_request = AsyncBoltRequest(
            body=screened, query=dict(request.query_params), headers=dict(request.headers), mode="socket_mode"
        )
        response = await bolt.async_dispatch(bolt_request)
    except Exception as exc:
        if storage_down(exc):
            log.exception("a signed Slack request could not be stored; answering 503 so Slack retries")
            return _answer(503, "storage unavailable, retry later")
        log.exception("a signed Slack request could not be handled")
        return _answer(400, "could not handle this request: unexpected payload shape")
    return to_starlette_response(response)


async def listener_failed(error: Exception) -> BoltResponse:
    """Bolt's error handler: a failed listener answers 503 (storage down) or 400, never Bolt's 500."""
    if storage_down(error):
        log.error("a Slack listener could not reach storage; answering 503 so Slack retries", exc_info=error)
        status, reason, headers = 503, "storage unavailable, retry later", {}
    else:
        log.error("a Slack listener failed on a signed request", exc_info=error)
        status, reason = 400, "could not handle this request: unexpected payload shape"
        headers = {"X-Slack-No-Retry": "1"}
    return BoltResponse(
        status=status,
        body=json.dumps({"error": reason}),
        headers={"content-type": "application/json", **headers},
    )
