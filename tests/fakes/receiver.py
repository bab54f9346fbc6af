"""A fake outside program: a webhook receiver (``POST /hooks/{name}``) and a CRM lookup
(``GET /crm/lookup``), served on 127.0.0.1 and an ephemeral port.

The receiver records every request (headers and raw body) and answers from a script: ``plan(name,
[500, 500])`` makes the next two deliveries to ``name`` fail with 500; ``fail_seq(name, seq, 500,
times=1)`` fails deliveries of one event only; ``answer(name, status, headers)`` fixes every answer.
The CRM answers ``crm_document`` (JSON), or ``crm_status``, after ``crm_delay`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeServer


@dataclass(frozen=True)
class Received:
    endpoint: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float
    """``time.monotonic()`` when the request arrived."""

    @property
    def json(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value

    @property
    def seq(self) -> int:
        return int(self.json["seq"])


class FakeReceiver(FakeServer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()
        self.app = Starlette(
            routes=[
                Route("/hooks/{name}", self._hook, methods=["POST"]),
                Route("/crm/lookup", self._crm, methods=["GET"]),
            ]
        )

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.received: list[Received] = []
            self.plans: dict[str, list[int]] = {}
            self.seq_failures: dict[tuple[str, int], list[int]] = {}
            self.fixed: dict[str, tuple[int, dict[str, str]]] = {}
            self.crm_document: Any = {}
            self.crm_status = 200
            self.crm_delay = 0.0
            self.crm_requests: list[tuple[str, dict[str, str]]] = []
            self.event_failures: dict[tuple[str, int, str], list[int]] = {}
            self.retry_after: str | None = None

    def plan(self, name: str, statuses: list[int]) -> None:
        with self._lock:
            self.plans[name] = list(statuses)

    def fail_seq(self, name: str, seq: int, status: int, times: int = 1) -> None:
        with self._lock:
            self.seq_failures[(name, seq)] = [status] * times

    def fail_event(self, name: str, ref: int, event_type: str, status: int, times: int = 1) -> None:
        """Fail the next ``times`` deliveries of conversation ``ref``'s event of ``event_type``."""
        with self._lock:
            self.event_failures[(name, ref, event_type)] = [status] * times

    def answer(self, name: str, status: int, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.fixed[name] = (status, headers or {})

    def deliveries(self, name: str, *, ok_only: bool = False) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.endpoint == name and (not ok_only or r.status < 300)]

    async def _hook(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        try:
            doc = json.loads(body)
            seq, ref, kind = int(doc["seq"]), doc.get("ref"), doc.get("type")
        except (ValueError, KeyError, TypeError):
            seq, ref, kind = -1, None, None
        with self._lock:
            status, headers = self.fixed.get(name, (200, {}))
            failures = self.seq_failures.get((name, seq)) or self.event_failures.get((name, ref, kind))
            if failures:
                status = failures.pop(0)
            elif self.plans.get(name):
                status = self.plans[name].pop(0)
            if status == 429 and self.retry_after is not None:
                headers = {**headers, "Retry-After": self.retry_after}
            lowered = {k.lower(): v for k, v in request.headers.items()}
            self.received.append(Received(name, lowered, body, status, time.monotonic()))
        return JSONResponse({"ok": status < 300}, status_code=status, headers=headers)

    async def _crm(self, request: Request) -> Response:
        with self._lock:
            self.crm_requests.append((str(request.url), {k.lower(): v for k, v in request.headers.items()}))
            delay, status, document = self.crm_delay, self.crm_status, self.crm_document
        if delay:
            await asyncio.sleep(delay)
        if status != 200:
            return JSONResponse({"error": "boom"}, status_code=status)
        return JSONResponse(document)
