"""A stateful fake of the WhatsApp Cloud API (Meta Graph API) for tests and the local sandbox.

Serves, under a version prefix (default ``/v25.0``; ``.base_url`` = ``url + "/v25.0"``):

- ``POST /{phone_number_id}/messages`` — sends (recorded in ``.sent``) and mark-read/typing;
- ``GET /{media_id}`` / ``DELETE /{media_id}`` — resolve / delete media;
- ``POST /{phone_number_id}/media`` — multipart upload;
- ``GET /{waba_or_phone_id}/message_templates`` — configurable template list;

plus ``GET /media-download/{media_id}`` (no prefix; the URL handed out by the resolve call).
Every call needs ``Authorization: Bearer <token>``. Sync error envelopes come from
:func:`traza.sandbox.fakes.whatsapp_payloads.error_envelope` (exact copies of fixtures err_01..err_05).

State is guarded by a ``threading.Lock``; accessors return copies. Webhook builders and
signing are re-exported as static methods for convenience.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from traza.sandbox.fakes import whatsapp_payloads as wp
from traza.sandbox.fakes.graph_endpoints import GraphEndpoints
from traza.sandbox.fakes.graph_store import (
    OPS,
    GraphCall,
    GraphFault,
    JsonDict,
    MediaItem,
    MultipartPart,
    SentMessage,
    parse_multipart,
)
from traza.sandbox.fakes.server import FakeServer

__all__ = ["FakeGraph", "GraphCall", "MediaItem", "MultipartPart", "SentMessage", "parse_multipart"]


class FakeGraph(GraphEndpoints, FakeServer):
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
        super().__init__(
            token,
            version=version,
            phone_number_ids=phone_number_ids,
            templates=templates,
            strict_templates=strict_templates,
        )
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
        fault = GraphFault(times, code, status, retry_after, details)
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

    # Webhook builders / signing (pure; also importable from traza.sandbox.fakes.whatsapp_payloads).
    signed_webhook = staticmethod(wp.signed_webhook)
    status_webhook = staticmethod(wp.status_webhook)
    inbound_text_webhook = staticmethod(wp.inbound_text_webhook)
    inbound_webhook = staticmethod(wp.inbound_webhook)
