"""The sandbox's web console: the static page plus the small JSON API it calls.

Every action the page offers becomes the request a real deployment would receive (see
:mod:`traza.sandbox.console_phone` and :mod:`traza.sandbox.console_slack`); the page polls
``/console/api/state`` to see what Traza did in return (see :mod:`traza.sandbox.console_state`).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from traza.sandbox.console_http import unreachable
from traza.sandbox.console_phone import Phone
from traza.sandbox.console_slack import SlackUsers
from traza.sandbox.console_state import ConsoleView
from traza.sandbox.drive import TrazaDriver

STATIC = Path(__file__).parent / "static"


class Console:
    def __init__(self, view: ConsoleView, driver: TrazaDriver) -> None:
        self.view = view
        phone, slack = Phone(view, driver), SlackUsers(view, driver)
        post = ["POST"]
        self.app = Starlette(
            exception_handlers={httpx.HTTPError: unreachable},
            routes=[
                Route("/", lambda _r: FileResponse(STATIC / "index.html")),
                Mount("/static", StaticFiles(directory=STATIC), name="static"),
                Route("/console/api/setup", lambda _r: JSONResponse(self.view.setup())),
                Route("/console/api/state", self.state),
                Route("/console/api/media/{media_id}", phone.media),
                Route("/console/api/phone/text", phone.text, methods=post),
                Route("/console/api/phone/media", phone.send_media, methods=post),
                Route("/console/api/phone/seen", phone.seen, methods=post),
                Route("/console/api/slack/reply", slack.reply, methods=post),
                Route("/console/api/slack/command", slack.command, methods=post),
                Route("/console/api/slack/action", slack.action, methods=post),
                Route("/console/api/slack/view", slack.view_answer, methods=post),
                Route("/console/api/slack/home", slack.home, methods=post),
            ],
        )

    async def state(self, request: Request) -> Response:
        params = request.query_params
        return JSONResponse(self.view.state(params.get("user", ""), params.get("wa_id", "")))
