"""The HTTP endpoints of the fake Graph API: sends and mark-read, media resolve/download/upload/delete,
the template list, and Graph's answer to unknown paths."""

from __future__ import annotations

import copy
import json
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from traza.sandbox.fakes import whatsapp_payloads as wp
from traza.sandbox.fakes.graph_store import (
    CAPTIONED,
    SEND_TYPES,
    GraphError,
    GraphStore,
    JsonDict,
    MediaItem,
    SentMessage,
    parse_multipart,
)


class GraphEndpoints(GraphStore):
    """Cloud API endpoints over :class:`GraphStore`'s state; ``FakeGraph`` routes to them."""

    # ------------------------------------------------------------------ endpoints

    async def _messages_endpoint(self, request: Request) -> Response:
        node = str(request.path_params["node"])
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        is_read = isinstance(body, dict) and body.get("status") == "read"
        op = "mark_read" if is_read else "send"
        headers, now = await self._prelude(request, op)
        with self._lock:
            try:
                self._check_auth(request, headers)
                fault = self._take_fault(op)
                if fault is not None:
                    self._record(op, request, body, headers, now, fault.http_status)
                    return self._fault_response(fault)
                self._check_node(node)
                if not isinstance(body, dict):
                    raise GraphError(100, details="Request body must be a JSON object")
                if body.get("messaging_product") != "whatsapp":
                    raise GraphError(100, details="The parameter messaging_product is required.")
                if is_read:
                    if not body.get("message_id"):
                        raise GraphError(100, details="The parameter message_id is required.")
                    self._read_marks.append(copy.deepcopy(body))
                    self._record(op, request, body, headers, now, 200)
                    return JSONResponse({"success": True})
                result = self._accept_send(node, body, now)
                self._record(op, request, body, headers, now, 200)
                return JSONResponse(result)
            except GraphError as exc:
                self._record(op, request, body, headers, now, exc.status)
                return exc.response()

    def _accept_send(self, node: str, body: JsonDict, now: float) -> JsonDict:
        to = body.get("to")
        recipient = body.get("recipient")
        if not to and not recipient:
            raise GraphError(100, details="The parameter to is required.")
        mtype = str(body.get("type", "text"))
        if mtype not in SEND_TYPES:
            raise GraphError(100, details=f"Param type must be one of {sorted(SEND_TYPES)}, got '{mtype}'.")
        part = body.get(mtype)
        if not isinstance(part, dict) and not (mtype == "contacts" and isinstance(part, list)):
            raise GraphError(100, details=f"The parameter {mtype} is required.")
        if mtype == "text":
            text = part.get("body") if isinstance(part, dict) else None
            if not isinstance(text, str) or not text:
                raise GraphError(100, details="The parameter text['body'] is required.")
            if len(text) > 4096:
                raise GraphError(100, details="Param text['body'] must be at most 4096 characters long.")
        if mtype in CAPTIONED and isinstance(part, dict):
            caption = part.get("caption")
            if isinstance(caption, str) and len(caption) > 1024:
                raise GraphError(
                    100, details=f"Param {mtype}['caption'] must be at most 1024 characters long."
                )
        media_part = part if mtype in (*CAPTIONED, "audio", "sticker") else None
        if isinstance(media_part, dict) and not media_part.get("id") and not media_part.get("link"):
            raise GraphError(100, details=f"Either {mtype}['id'] or ['link'] is required.")
        if mtype == "template" and isinstance(part, dict) and self.strict_templates:
            self._check_template(part)
        wamid = f"{self.wamid_prefix}{next(self._wamid_counter)}"
        self._sent.append(SentMessage(node, copy.deepcopy(body), wamid, now))
        contact: JsonDict
        if to:
            digits = re.sub(r"\D", "", str(to))
            contact = {"input": str(to), "wa_id": digits}
        else:
            contact = {"input": str(recipient), "user_id": str(recipient)}
        message: JsonDict = {"id": wamid}
        if mtype == "template":
            message["message_status"] = "accepted"
        return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}

    def _check_template(self, part: JsonDict) -> None:
        name = part.get("name")
        language = part.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        tpl = next(
            (
                t
                for t in self._templates
                if t.get("name") == name and t.get("language") == code and t.get("status") == "APPROVED"
            ),
            None,
        )
        if tpl is None:
            raise GraphError(132001, details=f"template name ({name}) does not exist in {code}")
        expected = wp.template_placeholder_count(tpl)
        given = 0
        for comp in part.get("components") or []:
            if isinstance(comp, dict) and str(comp.get("type", "")).lower() == "body":
                given = len(comp.get("parameters") or [])
        if given != expected:
            raise GraphError(
                132000,
                details=f"body: number of localizable_params ({given}) does not match the "
                f"expected number of params ({expected})",
            )

    async def _node_endpoint(self, request: Request) -> Response:
        node = str(request.path_params["node"])
        op = "media_delete" if request.method == "DELETE" else "media_get"
        headers, now = await self._prelude(request, op)
        with self._lock:
            try:
                self._check_auth(request, headers)
                fault = self._take_fault(op)
                if fault is not None:
                    self._record(op, request, None, headers, now, fault.http_status)
                    return self._fault_response(fault)
                item = self._media.get(node)
                if item is None:
                    raise GraphError(
                        100,
                        details=(
                            f"Unsupported {request.method.lower()} request. Object with ID "
                            f"'{node}' does not exist, cannot be loaded due to missing "
                            "permissions, or does not support this operation."
                        ),
                    )
                if op == "media_delete":
                    del self._media[node]
                    self._record(op, request, None, headers, now, 200)
                    return JSONResponse({"success": True})
                base = str(request.base_url).rstrip("/")
                result = {
                    "messaging_product": "whatsapp",
                    "url": f"{base}/media-download/{node}",
                    "mime_type": item.mime_type,
                    "sha256": item.sha256,
                    "file_size": str(len(item.data)),
                    "id": node,
                }
                self._record(op, request, None, headers, now, 200)
                return JSONResponse(result)
            except GraphError as exc:
                self._record(op, request, None, headers, now, exc.status)
                return exc.response()

    async def _download_endpoint(self, request: Request) -> Response:
        media_id = str(request.path_params["media_id"])
        headers, now = await self._prelude(request, "media_download")
        with self._lock:
            try:
                self._check_auth(request, headers)
            except GraphError as exc:
                self._record("media_download", request, None, headers, now, 401)
                return JSONResponse(wp.error_envelope(exc.code, details=exc.details), 401)
            fault = self._take_fault("media_download")
            if fault is not None:
                self._record("media_download", request, None, headers, now, fault.http_status)
                return self._fault_response(fault)
            item = self._media.get(media_id)
            if item is None:
                self._record("media_download", request, None, headers, now, 404)
                return Response(b"", status_code=404)
            self._record("media_download", request, None, headers, now, 200)
            return Response(item.data, media_type=item.mime_type)

    async def _upload_endpoint(self, request: Request) -> Response:
        node = str(request.path_params["node"])
        raw = await request.body()
        ctype = request.headers.get("content-type", "")
        headers, now = await self._prelude(request, "media_upload")
        summary: JsonDict = {"content_type": ctype, "length": len(raw)}
        with self._lock:
            try:
                self._check_auth(request, headers)
                fault = self._take_fault("media_upload")
                if fault is not None:
                    self._record("media_upload", request, summary, headers, now, fault.http_status)
                    return self._fault_response(fault)
                self._check_node(node)
                try:
                    parts = parse_multipart(raw, ctype)
                except ValueError as exc:
                    raise GraphError(100, details=f"Invalid multipart body: {exc}") from exc
                fields = {p.name: p for p in parts}
                product = fields.get("messaging_product")
                if product is None or product.data.decode("utf-8", "replace") != "whatsapp":
                    raise GraphError(100, details="The parameter messaging_product is required.")
                file_part = fields.get("file")
                if file_part is None or file_part.filename is None:
                    raise GraphError(100, details="The parameter file is required.")
                type_part = fields.get("type")
                mime = (
                    type_part.data.decode("utf-8", "replace")
                    if type_part is not None
                    else file_part.content_type or "application/octet-stream"
                )
                media_id = f"90000000000{next(self._media_counter):05d}"
                self._media[media_id] = MediaItem(
                    media_id, file_part.data, mime, file_part.filename, node, uploaded=True
                )
                summary.update({"media_id": media_id, "mime_type": mime})
                self._record("media_upload", request, summary, headers, now, 200)
                return JSONResponse({"id": media_id})
            except GraphError as exc:
                self._record("media_upload", request, summary, headers, now, exc.status)
                return exc.response()

    async def _templates_endpoint(self, request: Request) -> Response:
        headers, now = await self._prelude(request, "templates")
        params = request.query_params
        with self._lock:
            try:
                self._check_auth(request, headers)
                fault = self._take_fault("templates")
                if fault is not None:
                    self._record("templates", request, None, headers, now, fault.http_status)
                    return self._fault_response(fault)
                items = copy.deepcopy(self._templates)
                if params.get("name"):
                    items = [t for t in items if params["name"] in str(t.get("name"))]
                if params.get("status"):
                    wanted = {s.strip().upper() for s in params["status"].split(",")}
                    items = [t for t in items if str(t.get("status")).upper() in wanted]
                if params.get("language"):
                    items = [t for t in items if t.get("language") == params["language"]]
                limit = int(params.get("limit") or 25)
                self._record("templates", request, None, headers, now, 200)
                return JSONResponse(
                    {
                        "data": items[:limit],
                        "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}},
                    }
                )
            except GraphError as exc:
                self._record("templates", request, None, headers, now, exc.status)
                return exc.response()

    async def _unknown_endpoint(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self._record("unknown", request, None, headers, time.time(), 400)
        body = {
            "error": {
                "message": f"Unknown path components: {request.url.path}",
                "type": "OAuthException",
                "code": 2500,
                "fbtrace_id": "AFakeTrace2500",
            }
        }
        return JSONResponse(body, status_code=400)
