"""The Slack users in the console: thread replies (with an optional file), slash commands, card
buttons, modal submissions and the App Home, each sent to Traza as the signed Events API event,
slash command or interaction Slack itself would send. A human's message or file is first written into
the fake Slack, where it would live; ``response_url`` and ``trigger_id`` values are remembered per
user so private answers and modals show to the right person."""

from __future__ import annotations

import itertools
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from traza.sandbox.console_http import (
    JsonDict,
    answer_text,
    decode_upload,
    error,
    json_body,
    json_or_empty,
    outcome,
)
from traza.sandbox.console_state import ConsoleView
from traza.sandbox.drive import TrazaDriver, thread_message_event
from traza.sandbox.fakes.slack import TEAM_ID


class SlackUsers:
    def __init__(self, view: ConsoleView, driver: TrazaDriver) -> None:
        self.view, self.driver, self.slack, self.log = view, driver, view.slack, view.log
        self._ids = itertools.count(1)

    async def reply(self, request: Request) -> Response:
        body = await json_body(request)
        user, channel, thread = str(body["user"]), str(body["channel"]), str(body["thread_ts"])
        text = str(body.get("text") or "")
        extra: JsonDict = {}
        if body.get("data"):
            data = decode_upload(body)
            if data is None:
                return error("the file could not be read")
            shared = self.slack.add_file(
                data, str(body.get("filename") or "file"), mimetype=str(body.get("mime") or ""), user=user
            )
            extra = {"subtype": "file_share", "files": [shared]}
        elif not text.strip():
            return error("write something first")
        ts = self.slack.inject_message(channel, text, user=user, thread_ts=thread, **extra)
        event = {**thread_message_event(channel, thread, user, text, ts), **extra}
        return outcome(await self.driver.event(event))

    async def command(self, request: Request) -> Response:
        body = await json_body(request)
        user, channel = str(body["user"]), str(body.get("channel") or "")
        command, _, text = str(body.get("line") or "").strip().partition(" ")
        if not command.startswith("/"):
            return error("a slash command starts with /, e.g. /traza help")
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
        answer = answer_text(response.text) if response.status_code == 200 else ""
        if not answer and response.status_code != 200:
            answer = f"Slack would show: dispatch_failed (HTTP {response.status_code})"
        if answer:
            self.log.answer(user, channel, f"{command} {text}".strip() + "\n" + answer)
        return JSONResponse({"ok": response.status_code == 200, "answer": answer})

    async def action(self, request: Request) -> Response:
        body = await json_body(request)
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
        return outcome(response)

    async def view_answer(self, request: Request) -> Response:
        """Submit (``values`` given) or close the modal ``view_id`` the user has open."""
        body = await json_body(request)
        user, view_id = str(body["user"]), str(body["view_id"])
        view = self.view.open_modal(user)
        if view is None or view.get("id") != view_id:
            return error("this dialog is no longer open")
        if body.get("values") is None:
            self.log.close_view(view_id)
            return JSONResponse({"ok": True})
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM_ID},
            "user": {"id": user, "name": self.view.name_of(user)},
            "trigger_id": self._trigger(user),
            "view": {**view, "state": {"values": view_state(view, body["values"])}},
        }
        response = await self.driver.interaction(payload)
        answer = json_or_empty(response.text)
        if response.status_code == 200 and answer.get("response_action") != "errors":
            self.log.close_view(view_id)
        return JSONResponse({"ok": response.status_code == 200, "answer": answer})

    async def home(self, request: Request) -> Response:
        body = await json_body(request)
        user = str(body["user"])
        event = {"type": "app_home_opened", "user": user, "channel": "D0SANDBOX1", "tab": "home"}
        response = await self.driver.event({**event, "event_ts": f"{time.time():.6f}"})
        return outcome(response)

    def _response_url(self, user: str, channel: str | None = None) -> str:
        url = self.slack.new_response_url(channel)
        self.log.own(url.rsplit("/", 1)[-1], user)
        return url

    def _trigger(self, user: str) -> str:
        trigger = f"{int(time.time())}.{next(self._ids)}.sandbox"
        self.log.own(trigger, user)
        return trigger


def view_state(view: JsonDict, values: JsonDict) -> JsonDict:
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
