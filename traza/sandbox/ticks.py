"""The customer's phone acknowledging what Traza sends: status webhooks for every accepted send.

Real WhatsApp reports ``sent`` when the message leaves Meta, ``delivered`` when it reaches the phone
and ``read`` when the customer looks at it. The sandbox plays that: a send accepted by the fake Graph
API is reported ``sent`` at once and ``delivered`` a moment later; ``read`` follows when the console's
phone shows the message (``mark_seen``). Each report is a signed webhook posted to Traza, so the
Slack side updates exactly as it would in production. The pump is one owned thread, stopped and
joined by :meth:`DeliveryTicks.stop`; a failed post is retried on the next round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from traza.sandbox.drive import TrazaDriver
from traza.sandbox.fakes.graph import FakeGraph

log = logging.getLogger("traza.sandbox")
ROUND_SECONDS = 0.25
DELIVERED_AFTER = 0.4
ORDER = ("sent", "delivered", "read")


class DeliveryTicks:
    def __init__(self, graph: FakeGraph, driver: TrazaDriver) -> None:
        self.graph, self.driver = graph, driver
        self._lock = threading.Lock()
        self._status: dict[str, str] = {}
        self._sent_at: dict[str, float] = {}
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-ticks", daemon=True)

    def start(self) -> DeliveryTicks:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def status_of(self, wamid: str) -> str | None:
        with self._lock:
            return self._status.get(wamid)

    def mark_seen(self, wamids: Iterable[str]) -> None:
        """The phone showed these messages: report them read (once delivered)."""
        with self._lock:
            self._seen.update(wamids)

    def _run(self) -> None:
        while not self._stop.wait(ROUND_SECONDS):
            try:
                self._round()
            except Exception:
                log.exception("sandbox delivery ticks: a round failed; retrying")

    def _round(self) -> None:
        now = time.monotonic()
        for send in self.graph.sends():
            with self._lock:
                current = self._status.get(send.wamid)
                seen = send.wamid in self._seen
                sent_at = self._sent_at.get(send.wamid, now)
            wanted = self._next(current, seen, now - sent_at)
            if wanted is not None and self._report(send.wamid, wanted):
                with self._lock:
                    self._status[send.wamid] = wanted
                    self._sent_at.setdefault(send.wamid, now)

    @staticmethod
    def _next(current: str | None, seen: bool, age: float) -> str | None:
        if current is None:
            return "sent"
        if current == "sent" and age >= DELIVERED_AFTER:
            return "delivered"
        if current == "delivered" and seen:
            return "read"
        return None

    def _report(self, wamid: str, status: str) -> bool:
        body = self.graph.status_webhook_for(wamid, status)
        try:
            response = self.driver.webhook_sync(body)
        except Exception as exc:
            log.warning("sandbox: could not report %s for %s: %s", status, wamid, exc)
            return False
        return response.status_code == 200
