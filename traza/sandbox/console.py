"""The sandbox's web console: static page plus the small JSON API it calls.

Every action the page offers becomes the request a real deployment would receive: the phone's
messages are signed Cloud API webhooks (media is first placed in the fake Graph API, as Meta keeps
it), and everything done "in Slack" is a signed Events API event, slash command or interaction, with
the message first written into the fake Slack where a human's post would live. The page polls
``/console/api/state`` to see what Traza did in return (see :mod:`traza.sandbox.console_state`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import time
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from traza.sandbox.console_state import ConsoleLog, ConsoleView
from traza.sandbox.drive import TrazaDriver, thread_message_event
from traza.sandbox.fakes import whatsapp_payloads as wp
from traza.sandbox.fakes.slack import TEAM_ID

STATIC = Path(__file__).parent / "static"
MEDIA_KINDS = frozenset({"image", "document", "audio", "video"})
JsonDict = dict[str, Any]


class Console:
    def __init__(self, view: ConsoleView, log: ConsoleLog, driver: TrazaDriver) -> None:
        self.view, self.log, self.driver = view, log, driver
        self.slack, self.graph = view.slack, view.graph
        self._ids = itertools.count(1)
        post = ["POST"]
        self.app = Starlette(
            exception_handlers={httpx.HTTPError: _unreachable},
            routes=[
                Route("/", lambda _r: FileResponse(STATIC / "index.html")),
                Mount("/static", StaticFiles(directory=STATIC), name="static"),
                Route("/console/api/setup", lambda _r: JSONResponse(self.view.setup())),
                Route("/console/api/state", self.state),
                Route("/console/api/phone/text", self.phone_text, methods=post),
                Route("/console/api/phone/media", self.phone_media, methods=post),
                Route("/console/api/phone/seen", self.phone_seen, methods=post),
                Route("/console/api/slack/reply", self.slack_reply, methods=post),
                Route("/console/api/slack/command", self.slack_command, methods=post),
                Route("/console/api/slack/action", self.slack_action, methods=post),
                Route("/console/api/slack/view", self.slack_view, methods=post),
                Route("/console/api/slack/home", self.slack_home, methods=post),
            ],
        )

    async def state(self, request: Request) -> Response:
        params = request.query_params
        return JSONResponse(self.view.state(params.get("user", ""), params.get("wa_id", "")))

    # --- the phone --------------------------------------------------------------------------

    async def phone_text(self, request: Request) -> Response:
        body = await _json(request)
        text = str(body.get("text") or "").strip()
        if not text:
            return _error("write something first")
        message = wp.text_message(text, wa_id=str(body["wa_id"]), wamid=self._wamid())
        return await self._from_phone(body, message, "text", text)

    async def phone_media(self, request: Request) -> Response:
        body = await _json(request)
        kind, mime = str(body.get("kind") or "document"), str(body.get("mime") or "application/octet-stream")
        try:
            data = base64.b64decode(str(body.get("data") or ""), validate=True)
        except binascii.Error:
            return _error("the file could not be read")
        if kind not in MEDIA_KINDS or not data:
            return _error("send an image, a document, an audio or a video")
        media_id = f"77{int(time.time())}{next(self._ids):05d}"
        filename = str(body.get("filename") or "file")
        self.graph.add_media(media_id, data, mime, filename)
        caption = str(body.get("caption") or "") or None
        message = wp.media_message(
            kind,
            media_id,
            mime,
            caption=caption,
            filename=filename if kind == "document" else None,
            wa_id=str(body["wa_id"]),
            wamid=self._wamid(),
        )
        return await self._from_phone(body, message, kind, f"{filename} {caption or ''}".strip())

    async def _from_phone(self, body: JsonDict, message: JsonDict, kind: str, shown: str) -> Response:
        number = str(body.get("number") or "")
        wa_id = "".join(c for c in str(body.get("wa_id") or "") if c.isdigit())
        if not wa_id or self.view.config.number(number) is None:
            return _error("choose a business number and the customer's phone")
        display = self.view.cast.display_numbers.get(number, number)
        webhook = wp.inbound_webhook(
            [message],
            name=str(body.get("name") or "Cliente"),
            wa_id=wa_id,
            user_id=None,
            phone_number_id=number,
            display_phone_number="".join(c for c in display if c.isdigit()) or number,
        )
        response = await self.driver.webhook(webhook)
        if response.status_code == 200:
            self.log.phone_sent(
                {"wamid": message["id"], "number": number, "wa_id": wa_id, "kind": kind, "text": shown}
            )
        return _outcome(response)

    async def phone_seen(self, request: Request) -> Response:
        body = await _json(request)
        self.view.ticks.mark_seen(str(w) for w in body.get("wamids") or [])
        return JSONResponse({"ok": True})

    # --- Slack ------------------------------------------------------------------------------

    async def slack_reply(self, request: Request) -> Response:
        body = await _json(request)
        user, channel, thread = str(body["user"]), str(body["channel"]), str(body["thread_ts"])
        text = str(body.get("text") or "")
        if not text.strip():
            return _error("write something first")
        ts = self.slack.inject_message(channel, text, user=user, thread_ts=thread)
        response = await self.driver.event(thread_message_event(channel, thread, user, text, ts))
        return _outcome(response)

    async def slack_command(self, request: Request) -> Response:
        body = await _json(request)
        user, channel = str(body["user"]), str(body.get("channel") or "")
        command, _, text = str(body.get("line") or "").strip().partition(" ")
        if not command.startswith("/"):
            return _error("a slash command starts with /, e.g. /traza help")
        fields = {
            "command": command,
            "text": text.strip(),
            "user_id": user,
            "user_name": self.view.name_of(user),
            "channel_id": channel,
            "team_id": TEAM_ID,
            "response_url": self._response_url(user),
            "trigger_id": self._trigger(user),
        }
        response = await self.driver.form(fields)
        answer = _answer_text(response.text) if response.status_code == 200 else ""
        if not answer and response.status_code != 200:
            answer = f"Slack would show: dispatch_failed (HTTP {response.status_code})"
        if answer:
            self.log.answer(user, channel, f"{command} {text}".strip() + "\n" + answer)
        return JSONResponse({"ok": response.status_code == 200, "answer": answer})

    async def slack_action(self, request: Request) -> Response:
        body = await _json(request)
        user, channel, ts = str(body["user"]), str(body["channel"]), str(body["message_ts"])
        payload = {
            "type": "block_actions",
            "user": {"id": user, "name": self.view.name_of(user), "team_id": TEAM_ID},
            "team": {"id": TEAM_ID},
            "channel": {"id": channel},
            "container": {"type": "message", "message_ts": ts, "channel_id": channel},
            "message": self.slack.message(channel, ts) or {"ts": ts},
            "trigger_id": self._trigger(user),
            "response_url": self._response_url(user, channel),
            "actions": [
                {
                    "action_id": str(body["action_id"]),
                    "value": str(body.get("value") or ""),
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        response = await self.driver.interaction(payload)
        return _outcome(response)

    async def slack_view(self, request: Request) -> Response:
        """Submit (``values`` given) or close the modal ``view_id`` the user has open."""
        body = await _json(request)
        user, view_id = str(body["user"]), str(body["view_id"])
        view = self.view.state(user, "")["modal"]
        if view is None or view.get("id") != view_id:
            return _error("this dialog is no longer open")
        if body.get("values") is None:
            self.log.close_view(view_id)
            return JSONResponse({"ok": True})
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM_ID},
            "user": {"id": user, "name": self.view.name_of(user)},
            "trigger_id": self._trigger(user),
            "view": {**view, "state": {"values": _view_state(view, body["values"])}},
        }
        response = await self.driver.interaction(payload)
        answer = _json_or_empty(response.text)
        if response.status_code == 200 and answer.get("response_action") != "errors":
            self.log.close_view(view_id)
        return JSONResponse({"ok": response.status_code == 200, "answer": answer})

    async def slack_home(self, request: Request) -> Response:
        body = await _json(request)
        user = str(body["user"])
        event = {"type": "app_home_opened", "user": user, "channel": "D0SANDBOX1", "tab": "home"}
        response = await self.driver.event({**event, "event_ts": f"{time.time():.6f}"})
        return _outcome(response)

    def _response_url(self, user: str, channel: str | None = None) -> str:
        url = self.slack.new_response_url(channel)
        self.log.own(url.rsplit("/", 1)[-1], user)
        return url

    def _wamid(self) -> str:
        """Unique across runs, like Meta's (a database kept from another run must not dedupe it)."""
        return f"wamid.SANDBOX{time.time_ns()}{next(self._ids):04d}"

    def _trigger(self, user: str) -> str:
        trigger = f"{int(time.time())}.{next(self._ids)}.sandbox"
        self.log.own(trigger, user)
        return trigger


def _view_state(view: JsonDict, values: JsonDict) -> JsonDict:
    """Slack's ``view.state.values`` for the page's plain ``{block_id: value}`` answers."""
    state: JsonDict = {}
    for block in view.get("blocks") or []:
        element = block.get("element") if block.get("type") == "input" else None
        if not isinstance(element, dict) or block.get("block_id") not in values:
            continue
        value = values[block["block_id"]]
        kind, action = element.get("type"), element.get("action_id")
        if kind == "static_select":
            entry: JsonDict = {"type": kind, "selected_option": {"value": value} if value else None}
        elif kind == "users_select":
            entry = {"type": kind, "selected_user": value or None}
        else:
            entry = {"type": "plain_text_input", "value": value or None}
        state[block["block_id"]] = {action: entry}
    return state


async def _json(request: Request) -> JsonDict:
    body = await request.json()
    return body if isinstance(body, dict) else {}


def _json_or_empty(text: str) -> JsonDict:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _answer_text(text: str) -> str:
    body = _json_or_empty(text)
    return str(body.get("text") or "") if body else text


def _outcome(response: httpx.Response) -> Response:
    """What Traza answered; a refusal is shown on the page (as Slack or Meta would log it)."""
    if response.status_code == 200:
        return JSONResponse({"ok": True, "status": 200})
    return _error(f"Traza answered HTTP {response.status_code}: {response.text[:200]}", 502)


async def _unreachable(_request: Request, exc: Exception) -> Response:
    return _error(f"Traza is not answering yet ({type(exc).__name__}); try again in a moment", 502)


def _error(reason: str, status: int = 400) -> Response:
    return JSONResponse({"ok": False, "error": reason}, status_code=status)
