"""A stateful fake of the WhatsApp Cloud API (Meta Graph API) for tests and the local sandbox.

Serves, under a version prefix (default ``/v25.0``; ``.base_url`` = ``url + "/v25.0"``):

- ``POST /{phone_number_id}/messages`` — sends (recorded in ``.sent``) and mark-read/typing;
- ``GET /{media_id}`` / ``DELETE /{media_id}`` — resolve / delete media;
- ``POST /{phone_number_id}/media`` — multipart upload;
- ``GET /{waba_or_phone_id}/message_templates`` — configurable template list;

plus ``GET /media-download/{media_id}`` (no prefix; the URL handed out by the resolve call).
Every call needs ``Authorization: Bearer <token>``. Sync error envelopes come from
:func:`tests.fakes.whatsapp_payloads.error_envelope` (exact copies of fixtures err_01..err_05).

State is guarded by a ``threading.Lock``; accessors return copies. Webhook builders and
signing are re-exported as static methods for convenience.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import whatsapp_payloads as wp
from tests.fakes.server import FakeServer

__all__ = ["FakeGraph", "GraphCall", "MediaItem", "MultipartPart", "SentMessage", "parse_multipart"]

JsonDict = dict[str, Any]

OPS = ("send", "mark_read", "media_get", "media_download", "media_upload", "media_delete", "templates")
_SEND_TYPES = frozenset(
    {
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "template",
        "reaction",
    }
)
_CAPTIONED = ("image", "video", "document")


@dataclass(frozen=True)
class GraphCall:
    """Any request received: ``op`` is one of :data:`OPS` or ``"unknown"``."""

    op: str
    method: str
    path: str
    body: Any
    headers: dict[str, str]
    at: float
    status: int


@dataclass(frozen=True)
class SentMessage:
    """An accepted send: the JSON body, the business number it went from and its wamid."""

    phone_number_id: str
    body: JsonDict
    wamid: str
    at: float

    @property
    def to(self) -> str | None:
        """``to`` (phone) or ``recipient`` (BSUID) of the send."""
        value = self.body.get("to") or self.body.get("recipient")
        return str(value) if value is not None else None

    @property
    def type(self) -> str:
        """Message type (``text`` when omitted, as the API defaults)."""
        return str(self.body.get("type", "text"))

    @property
    def text(self) -> str | None:
        """Text body, or caption for media, else None."""
        part = self.body.get(self.type)
        if isinstance(part, dict):
            value = part.get("body") if self.type == "text" else part.get("caption")
            return str(value) if value is not None else None
        return None


@dataclass
class MediaItem:
    """Stored media (seeded with ``add_media`` or uploaded through the API)."""

    id: str
    data: bytes
    mime_type: str
    filename: str | None = None
    phone_number_id: str | None = None
    uploaded: bool = False

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes (the resolve endpoint returns this)."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class MultipartPart:
    """One part of a ``multipart/form-data`` body."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass
class _Fault:
    remaining: int
    code: int
    http_status: int
    retry_after: int | None = None
    details: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class _GraphError(Exception):
    def __init__(self, code: int, *, details: str | None = None, status: int | None = None):
        super().__init__(code)
        self.code = code
        self.details = details
        self.status = status or wp.error_http_status(code)

    def response(self) -> JSONResponse:
        body = wp.error_envelope(self.code, details=self.details)
        return JSONResponse(body, status_code=self.status)


def _default_templates() -> list[JsonDict]:
    return [
        wp.template(
            "retomar_atendimento",
            "Olá {{1}}, aqui é a equipe Acme. Podemos continuar o seu atendimento?",
        ),
        wp.template(
            "pedido_atualizado",
            "Olá {{1}}, o seu pedido {{2}} foi atualizado: {{3}}.",
        ),
        wp.template(
            "hello_followup",
            "Hi {{1}}, this is Acme support following up on your request.",
            language="en_US",
        ),
    ]


class FakeGraph(FakeServer):
    """In-memory WhatsApp Cloud API.

    Parameters:
        token: expected bearer token (``None`` accepts any non-empty token).
        version: Graph version prefix, e.g. ``"v25.0"``.
        phone_number_ids: if given, sends/uploads from other ids fail with error 100.
        templates: initial template list (default: three approved pt_BR/en_US templates).
        strict_templates: validate template sends (name+language exists -> else 132001;
            body parameter count matches -> else 132000).
    """

    def __init__(
        self,
        token: str | None = "wa-test-token",
        *,
        version: str = "v25.0",
        phone_number_ids: Iterable[str] | None = None,
        templates: list[JsonDict] | None = None,
        strict_templates: bool = True,
    ) -> None:
        self.token = token
        self.version = version.strip("/")
        self.phone_number_ids = set(phone_number_ids) if phone_number_ids is not None else None
        self.strict_templates = strict_templates
        self._lock = threading.Lock()
        self._token_expired = False
        self._wamid_counter = itertools.count(1)
        self._media_counter = itertools.count(1)
        self._sent: list[SentMessage] = []
        self._read_marks: list[JsonDict] = []
        self._requests: list[GraphCall] = []
        self._media: dict[str, MediaItem] = {}
        self._templates: list[JsonDict] = (
            copy.deepcopy(templates) if templates is not None else _default_templates()
        )
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, float] = {}
        prefix = f"/{self.version}"
        self.app = Starlette(
            routes=[
                Route(prefix + "/{node}/messages", self._messages_endpoint, methods=["POST"]),
                Route(prefix + "/{node}/media", self._upload_endpoint, methods=["POST"]),
                Route(
                    prefix + "/{node}/message_templates",
                    self._templates_endpoint,
                    methods=["GET"],
                ),
                Route(prefix + "/{node}", self._node_endpoint, methods=["GET", "DELETE"]),
                Route("/media-download/{media_id}", self._download_endpoint, methods=["GET"]),
                Route(
                    "/{path:path}",
                    self._unknown_endpoint,
                    methods=["GET", "POST", "DELETE", "PUT"],
                ),
            ]
        )

    # ------------------------------------------------------------------ test-facing helpers

    @property
    def base_url(self) -> str:
        """``url + "/v25.0"`` — what the product should use as its Graph base URL."""
        return f"{self.url}/{self.version}"

    @property
    def sent(self) -> list[JsonDict]:
        """JSON bodies of accepted sends (mark-read calls excluded), in order."""
        with self._lock:
            return [copy.deepcopy(s.body) for s in self._sent]

    def sends(self) -> list[SentMessage]:
        """Accepted sends with phone_number_id, wamid and arrival time."""
        with self._lock:
            return [SentMessage(s.phone_number_id, copy.deepcopy(s.body), s.wamid, s.at) for s in self._sent]

    def sent_texts(self) -> list[str]:
        """``text.body`` of every accepted text send, in order."""
        return [str(b["text"]["body"]) for b in self.sent if b.get("type", "text") == "text"]

    def send_by_wamid(self, wamid: str) -> SentMessage | None:
        """The accepted send that was answered with ``wamid``."""
        return next((s for s in self.sends() if s.wamid == wamid), None)

    def wait_for_sends(self, n: int = 1, timeout: float = 5.0) -> list[JsonDict]:
        """Block until at least ``n`` sends were accepted; return all bodies."""

        def ready() -> list[JsonDict]:
            bodies = self.sent
            return bodies if len(bodies) >= n else []

        return self.wait_for(ready, timeout)

    def read_marks(self) -> list[JsonDict]:
        """Mark-read / typing-indicator bodies received (``{"status": "read", ...}``)."""
        with self._lock:
            return copy.deepcopy(self._read_marks)

    def requests(self, op: str | None = None) -> list[GraphCall]:
        """Every request (incl. failed/injected ones), optionally filtered by op."""
        with self._lock:
            return [r for r in self._requests if op is None or r.op == op]

    def add_media(
        self,
        media_id: str,
        data: bytes,
        mime_type: str,
        filename: str | None = None,
    ) -> None:
        """Seed inbound media so ``GET /{media_id}`` and its download URL work."""
        with self._lock:
            self._media[media_id] = MediaItem(media_id, data, mime_type, filename)

    def media(self, media_id: str) -> MediaItem | None:
        """Stored media item (seeded or uploaded)."""
        with self._lock:
            item = self._media.get(media_id)
            return copy.copy(item) if item else None

    def uploads(self) -> list[MediaItem]:
        """Media uploaded through ``POST /{phone_number_id}/media``, in order."""
        with self._lock:
            return [copy.copy(m) for m in self._media.values() if m.uploaded]

    @property
    def templates(self) -> list[JsonDict]:
        """Current template list (copy)."""
        with self._lock:
            return copy.deepcopy(self._templates)

    def set_templates(self, templates: list[JsonDict]) -> None:
        """Replace the template list (build items with ``whatsapp_payloads.template``)."""
        with self._lock:
            self._templates = copy.deepcopy(templates)

    def add_template(self, name: str, body: str, **kwargs: Any) -> JsonDict:
        """Append ``whatsapp_payloads.template(name, body, **kwargs)``; returns it."""
        tpl = wp.template(name, body, **kwargs)
        with self._lock:
            self._templates.append(tpl)
        return copy.deepcopy(tpl)

    def set_token(self, token: str | None) -> None:
        """Change the expected bearer token (and clear an expiry)."""
        with self._lock:
            self.token = token
            self._token_expired = False

    def expire_token(self) -> None:
        """From now on every call answers the exact err_04 envelope (190/463, HTTP 401)."""
        with self._lock:
            self._token_expired = True

    def fail_next(
        self,
        op: str,
        code: int,
        times: int = 1,
        http_status: int | None = None,
        retry_after: int | None = None,
        details: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``op`` (see :data:`OPS`) with Graph error ``code``."""
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}; expected one of {OPS}")
        if times < 1:
            return
        status = http_status or wp.error_http_status(code)
        fault = _Fault(times, code, status, retry_after, details)
        with self._lock:
            self._faults.setdefault(op, []).append(fault)

    def fail_next_send(
        self,
        code: int,
        times: int = 1,
        http_status: int | None = None,
        retry_after: int | None = None,
        details: str | None = None,
    ) -> None:
        """Fail the next ``times`` message sends (not mark-read) with the envelope for ``code``
        (131047, 130429, 131056, 190, 100 = fixtures err_01..05; others get a generic title).
        ``retry_after`` adds a ``Retry-After`` header."""
        self.fail_next("send", code, times, http_status, retry_after, details)

    def server_error_next(self, times: int = 1, code: int = 131000, op: str = "send") -> None:
        """Answer the next ``times`` calls of ``op`` with HTTP 500 and code 131000 (or 2)."""
        self.fail_next(op, code, times, http_status=500)

    def delay(self, op: str, seconds: float) -> None:
        """Sleep ``seconds`` before answering each call of ``op`` (0 removes it)."""
        with self._lock:
            if seconds > 0:
                self._delays[op] = seconds
            else:
                self._delays.pop(op, None)

    def clear_faults(self) -> None:
        """Drop pending injected errors and delays."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def reset(self) -> None:
        """Forget sends, read marks, requests, media, faults (templates and token are kept)."""
        with self._lock:
            self._sent.clear()
            self._read_marks.clear()
            self._requests.clear()
            self._media.clear()
            self._faults.clear()
            self._delays.clear()
            self._token_expired = False

    def status_webhook_for(self, wamid: str, status: str, **kwargs: Any) -> JsonDict:
        """A status webhook for an accepted send, with its phone_number_id and recipient."""
        sent = self.send_by_wamid(wamid)
        if sent is None:
            raise KeyError(f"no accepted send with wamid {wamid!r}")
        to = sent.to or wp.CUSTOMER_WA_ID
        if "recipient" in sent.body and "to" not in sent.body:
            kwargs.setdefault("recipient_user_id", to)
        digits = re.sub(r"\D", "", to) or to
        return wp.status_webhook(wamid, status, sent.phone_number_id, digits, **kwargs)

    # Webhook builders / signing (pure; also importable from tests.fakes.whatsapp_payloads).
    signed_webhook = staticmethod(wp.signed_webhook)
    status_webhook = staticmethod(wp.status_webhook)
    inbound_text_webhook = staticmethod(wp.inbound_text_webhook)
    inbound_webhook = staticmethod(wp.inbound_webhook)

    # ------------------------------------------------------------------ plumbing

    async def _prelude(self, request: Request, op: str) -> tuple[dict[str, str], float]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            seconds = self._delays.get(op, 0.0)
        if seconds > 0:
            await asyncio.sleep(seconds)
        return headers, time.time()

    def _check_auth(self, request: Request, headers: dict[str, str]) -> None:
        """Lock held. Raises _GraphError(190) on a missing/wrong/expired token."""
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        token = token or request.query_params.get("access_token", "")
        if not token or (self.token is not None and token != self.token):
            raise _GraphError(190, details="Invalid OAuth access token - Cannot parse access token")
        if self._token_expired:
            raise _GraphError(190)

    def _take_fault(self, op: str) -> _Fault | None:
        queue = self._faults.get(op)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault

    def _record(
        self, op: str, request: Request, body: Any, headers: dict[str, str], at: float, status: int
    ) -> None:
        self._requests.append(GraphCall(op, request.method, request.url.path, body, headers, at, status))

    def _fault_response(self, fault: _Fault) -> JSONResponse:
        hdrs = dict(fault.headers)
        if fault.retry_after is not None:
            hdrs["Retry-After"] = str(fault.retry_after)
        body = wp.error_envelope(fault.code, details=fault.details)
        return JSONResponse(body, status_code=fault.http_status, headers=hdrs)

    def _check_node(self, node: str) -> None:
        if self.phone_number_ids is not None and node not in self.phone_number_ids:
            raise _GraphError(
                100,
                details=(
                    f"Unsupported post request. Object with ID '{node}' does not exist, cannot be "
                    "loaded due to missing permissions, or does not support this operation."
                ),
            )

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
                    raise _GraphError(100, details="Request body must be a JSON object")
                if body.get("messaging_product") != "whatsapp":
                    raise _GraphError(100, details="The parameter messaging_product is required.")
                if is_read:
                    if not body.get("message_id"):
                        raise _GraphError(100, details="The parameter message_id is required.")
                    self._read_marks.append(copy.deepcopy(body))
                    self._record(op, request, body, headers, now, 200)
                    return JSONResponse({"success": True})
                result = self._accept_send(node, body, now)
                self._record(op, request, body, headers, now, 200)
                return JSONResponse(result)
            except _GraphError as exc:
                self._record(op, request, body, headers, now, exc.status)
                return exc.response()

    def _accept_send(self, node: str, body: JsonDict, now: float) -> JsonDict:
        to = body.get("to")
        recipient = body.get("recipient")
        if not to and not recipient:
            raise _GraphError(100, details="The parameter to is required.")
        mtype = str(body.get("type", "text"))
        if mtype not in _SEND_TYPES:
            raise _GraphError(100, details=f"Param type must be one of {sorted(_SEND_TYPES)}, got '{mtype}'.")
        part = body.get(mtype)
        if not isinstance(part, dict) and not (mtype == "contacts" and isinstance(part, list)):
            raise _GraphError(100, details=f"The parameter {mtype} is required.")
        if mtype == "text":
            text = part.get("body") if isinstance(part, dict) else None
            if not isinstance(text, str) or not text:
                raise _GraphError(100, details="The parameter text['body'] is required.")
            if len(text) > 4096:
                raise _GraphError(100, details="Param text['body'] must be at most 4096 characters long.")
        if mtype in _CAPTIONED and isinstance(part, dict):
            caption = part.get("caption")
            if isinstance(caption, str) and len(caption) > 1024:
                raise _GraphError(
                    100, details=f"Param {mtype}['caption'] must be at most 1024 characters long."
                )
        media_part = part if mtype in (*_CAPTIONED, "audio", "sticker") else None
        if isinstance(media_part, dict) and not media_part.get("id") and not media_part.get("link"):
            raise _GraphError(100, details=f"Either {mtype}['id'] or ['link'] is required.")
        if mtype == "template" and isinstance(part, dict) and self.strict_templates:
            self._check_template(part)
        wamid = f"wamid.FAKE{next(self._wamid_counter)}"
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
            raise _GraphError(132001, details=f"template name ({name}) does not exist in {code}")
        expected = wp.template_placeholder_count(tpl)
        given = 0
        for comp in part.get("components") or []:
            if isinstance(comp, dict) and str(comp.get("type", "")).lower() == "body":
                given = len(comp.get("parameters") or [])
        if given != expected:
            raise _GraphError(
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
                    raise _GraphError(
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
            except _GraphError as exc:
                self._record(op, request, None, headers, now, exc.status)
                return exc.response()

    async def _download_endpoint(self, request: Request) -> Response:
        media_id = str(request.path_params["media_id"])
        headers, now = await self._prelude(request, "media_download")
        with self._lock:
            try:
                self._check_auth(request, headers)
            except _GraphError as exc:
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
                    raise _GraphError(100, details=f"Invalid multipart body: {exc}") from exc
                fields = {p.name: p for p in parts}
                product = fields.get("messaging_product")
                if product is None or product.data.decode("utf-8", "replace") != "whatsapp":
                    raise _GraphError(100, details="The parameter messaging_product is required.")
                file_part = fields.get("file")
                if file_part is None or file_part.filename is None:
                    raise _GraphError(100, details="The parameter file is required.")
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
            except _GraphError as exc:
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
            except _GraphError as exc:
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


# ---------------------------------------------------------------------- multipart parsing

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def _disposition_param(header: str, key: str) -> str | None:
    match = re.search(rf'(?:^|;)\s*{key}="([^"]*)"', header) or re.search(
        rf"(?:^|;)\s*{key}=([^;\s]+)", header
    )
    return match.group(1) if match else None


def parse_multipart(body: bytes, content_type: str) -> list[MultipartPart]:
    """Parse a ``multipart/form-data`` body (no python-multipart dependency needed)."""
    match = _BOUNDARY.search(content_type)
    if not match:
        raise ValueError("missing multipart boundary")
    delimiter = b"\r\n--" + match.group(1).encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    parts: list[MultipartPart] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        parts.append(
            MultipartPart(
                name=_disposition_param(disposition, "name") or "",
                data=data,
                filename=_disposition_param(disposition, "filename"),
                content_type=headers.get("content-type"),
            )
        )
    return parts
