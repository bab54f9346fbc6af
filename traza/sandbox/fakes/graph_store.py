"""The state of the fake Graph API and its plumbing: sends, media, templates, injected faults,
auth checks and the multipart parser (no python-multipart dependency needed).

Split from :mod:`traza.sandbox.fakes.graph` by responsibility (``GraphStore`` -> ``GraphEndpoints`` ->
``FakeGraph``).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from traza.sandbox.fakes import whatsapp_payloads as wp

JsonDict = dict[str, Any]

OPS = ("send", "mark_read", "media_get", "media_download", "media_upload", "media_delete", "templates")
SEND_TYPES = frozenset(
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
CAPTIONED = ("image", "video", "document")


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
class GraphFault:
    remaining: int
    code: int
    http_status: int
    retry_after: int | None = None
    details: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class GraphError(Exception):
    def __init__(self, code: int, *, details: str | None = None, status: int | None = None):
        super().__init__(code)
        self.code = code
        self.details = details
        self.status = status or wp.error_http_status(code)

    def response(self) -> JSONResponse:
        body = wp.error_envelope(self.code, details=self.details)
        return JSONResponse(body, status_code=self.status)


def default_templates() -> list[JsonDict]:
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


class GraphStore:
    """In-memory state of the fake Cloud API (see :class:`traza.sandbox.fakes.graph.FakeGraph`)."""

    app: Any

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
        self.wamid_prefix = "wamid.FAKE"  # the sandbox makes it unique per run
        self._lock = threading.Lock()
        self._token_expired = False
        self._wamid_counter = itertools.count(1)
        self._media_counter = itertools.count(1)
        self._sent: list[SentMessage] = []
        self._read_marks: list[JsonDict] = []
        self._requests: list[GraphCall] = []
        self._media: dict[str, MediaItem] = {}
        self._templates: list[JsonDict] = (
            copy.deepcopy(templates) if templates is not None else default_templates()
        )
        self._faults: dict[str, list[GraphFault]] = {}
        self._delays: dict[str, float] = {}

    # ------------------------------------------------------------------ plumbing

    async def _prelude(self, request: Request, op: str) -> tuple[dict[str, str], float]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            seconds = self._delays.get(op, 0.0)
        if seconds > 0:
            await asyncio.sleep(seconds)
        return headers, time.time()

    def _check_auth(self, request: Request, headers: dict[str, str]) -> None:
        """Lock held. Raises GraphError(190) on a missing/wrong/expired token."""
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        token = token or request.query_params.get("access_token", "")
        if not token or (self.token is not None and token != self.token):
            raise GraphError(190, details="Invalid OAuth access token - Cannot parse access token")
        if self._token_expired:
            raise GraphError(190)

    def _take_fault(self, op: str) -> GraphFault | None:
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

    def _fault_response(self, fault: GraphFault) -> JSONResponse:
        hdrs = dict(fault.headers)
        if fault.retry_after is not None:
            hdrs["Retry-After"] = str(fault.retry_after)
        body = wp.error_envelope(fault.code, details=fault.details)
        return JSONResponse(body, status_code=fault.http_status, headers=hdrs)

    def _check_node(self, node: str) -> None:
        if self.phone_number_ids is not None and node not in self.phone_number_ids:
            raise GraphError(
                100,
                details=(
                    f"Unsupported post request. Object with ID '{node}' does not exist, cannot be "
                    "loaded due to missing permissions, or does not support this operation."
                ),
            )


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
