"""The customer's phone in the console: text and media written by the customer become signed Cloud
API webhooks (media is first stored in the fake Graph API, where Meta would keep it); the phone
reporting what it showed lets the delivery ticks reach ``read``; media Traza sent can be opened."""

from __future__ import annotations

import itertools
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from traza.sandbox.console_http import JsonDict, decode_upload, error, json_body, outcome
from traza.sandbox.console_state import ConsoleView
from traza.sandbox.drive import TrazaDriver
from traza.sandbox.fakes import whatsapp_payloads as wp

MEDIA_KINDS = frozenset({"image", "document", "audio", "video"})


class Phone:
    def __init__(self, view: ConsoleView, driver: TrazaDriver) -> None:
        self.view, self.driver, self.graph, self.log = view, driver, view.graph, view.log
        self._ids = itertools.count(1)

    async def text(self, request: Request) -> Response:
        body = await json_body(request)
        text = str(body.get("text") or "").strip()
        if not text:
            return error("write something first")
        message = wp.text_message(text, wa_id=str(body["wa_id"]), wamid=self._wamid())
        return await self._from_phone(body, message, "text", text)

    async def send_media(self, request: Request) -> Response:
        body = await json_body(request)
        kind, mime = str(body.get("kind") or "document"), str(body.get("mime") or "application/octet-stream")
        data = decode_upload(body)
        if kind not in MEDIA_KINDS or data is None:
            return error("send an image, a document, an audio or a video")
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
        shown = f"{filename} {caption or ''}".strip()
        return await self._from_phone(body, message, kind, shown, media_id)

    async def _from_phone(
        self, body: JsonDict, message: JsonDict, kind: str, shown: str, media_id: str | None = None
    ) -> Response:
        number = str(body.get("number") or "")
        wa_id = "".join(c for c in str(body.get("wa_id") or "") if c.isdigit())
        if not wa_id or self.view.config.number(number) is None:
            return error("choose a business number and the customer's phone")
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
                {
                    "wamid": message["id"],
                    "number": number,
                    "wa_id": wa_id,
                    "kind": kind,
                    "text": shown,
                    "media_id": media_id,
                }
            )
        return outcome(response)

    async def seen(self, request: Request) -> Response:
        body = await json_body(request)
        self.view.ticks.mark_seen(str(w) for w in body.get("wamids") or [])
        return JSONResponse({"ok": True})

    async def media(self, request: Request) -> Response:
        """Bytes of media in the fake Graph API (what the customer or an agent sent)."""
        item = self.graph.media(str(request.path_params["media_id"]))
        if item is None:
            return error("no such media", 404)
        return Response(item.data, media_type=item.mime_type)

    def _wamid(self) -> str:
        """Unique across runs, like Meta's (a database kept from another run must not dedupe it)."""
        return f"wamid.SANDBOX{time.time_ns()}{next(self._ids):04d}"
