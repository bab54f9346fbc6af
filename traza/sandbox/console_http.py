"""Shared plumbing of the console's JSON endpoints: reading bodies and uploads, and turning what
Traza answered into what the page shows (a refusal or an unreachable Traza becomes a visible error)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

JsonDict = dict[str, Any]


def decode_upload(body: JsonDict) -> bytes | None:
    """The base64 ``data`` of an uploaded file, or None when it is missing or unreadable."""
    try:
        data = base64.b64decode(str(body.get("data") or ""), validate=True)
    except binascii.Error:
        return None
    return data or None


async def json_body(request: Request) -> JsonDict:
    body = await request.json()
    return body if isinstance(body, dict) else {}


def json_or_empty(text: str) -> JsonDict:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def answer_text(text: str) -> str:
    body = json_or_empty(text)
    return str(body.get("text") or "") if body else text


def outcome(response: httpx.Response) -> Response:
    """What Traza answered; a refusal is shown on the page (as Slack or Meta would log it)."""
    if response.status_code == 200:
        return JSONResponse({"ok": True, "status": 200})
    return error(f"Traza answered HTTP {response.status_code}: {response.text[:200]}", 502)


async def unreachable(_request: Request, exc: Exception) -> Response:
    return error(f"Traza is not answering yet ({type(exc).__name__}); try again in a moment", 502)


def error(reason: str, status: int = 400) -> Response:
    return JSONResponse({"ok": False, "error": reason}, status_code=status)
