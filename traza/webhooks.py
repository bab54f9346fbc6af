"""The outbound webhook dispatcher: pushes every event of the log to the configured endpoints.

Two owned loops run beside the worker, and only when ``traza.yml`` lists webhooks (nothing runs, and
nothing is queried, otherwise). *Fan-out* (one process at a time, under the ``webhooks-fanout``
lease) turns new events into deliveries; *dispatch* POSTs the head delivery of each conversation to
each endpoint, up to ``concurrency`` at once, under per-delivery leases so several workers share the
work. Answers are classified by ``bridge.webhooks``: 2xx done; network errors, 408/425/429 and 5xx
retried with exponential backoff (``Retry-After`` honoured, and a 429 or a network error holds the
whole endpoint meanwhile); any other answer, or failing for longer than ``max_age_days``, is
dead-lettered: a ``WebhookDeadLettered`` event, an error log line naming the endpoint (never its URL
or secret) and ``traza_webhook_deliveries_total{outcome="dead_lettered"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge import webhooks as policy
from bridge.integrations import WebhookEndpoint
from bridge.webhooks import Outcome
from store import jobs, leases
from store import webhook_outbox as outbox
from store.webhook_outbox import Delivery
from traza.tasks import shut_down

log = logging.getLogger("traza.webhooks")
FAN_OUT_LEASE = timedelta(seconds=15)
POLL = 0.25
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookDispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        endpoints: Sequence[WebhookEndpoint],
        secrets: Mapping[str, str],
        *,
        concurrency: int = 8,
        timeout: float = 10.0,
        backoff_base: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        missing = [e.id for e in endpoints if not secrets.get(e.secret_env)]
        for endpoint_id in missing:
            log.error("webhook %s has no secret in its secret_env variable: its deliveries wait", endpoint_id)
        self.engine, self.clock, self.secrets = engine, clock, secrets
        self.endpoints = {e.id: e for e in endpoints if e.id not in missing}
        self.all_endpoints = list(endpoints)
        self.concurrency, self.backoff_base = concurrency, backoff_base
        self.client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
        )
        self.holder = jobs.worker_identity()
        self.running: dict[int, asyncio.Task[None]] = {}
        self.busy: set[tuple[str, str]] = set()
        self.held_until: dict[str, float] = {}
        self.wake = asyncio.Event()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.latency: dict[str, list[float]] = {}
        """Per endpoint: a count per bucket of ``BUCKETS``, then the +Inf count and the sum."""

    async def prepare(self) -> None:
        """Cursors for new endpoints, and the deliveries a crashed process of this host held, freed."""
        await outbox.ensure_cursors(self.engine, self.all_endpoints, self.clock())
        dead = [h for h in await outbox.lock_holders(self.engine) if jobs.is_dead_local_holder(h)]
        await outbox.release_locks(self.engine, dead)

    async def run(self, stop: asyncio.Event) -> None:
        loops = [
            asyncio.create_task(self._guarded(self._fan_out_loop, stop), name="traza-webhooks-fanout"),
            asyncio.create_task(self._guarded(self._dispatch_loop, stop), name="traza-webhooks-dispatch"),
        ]
        try:
            await stop.wait()
        finally:
            await shut_down(loops, list(self.running.values()))
            await leases.release(self.engine, "webhooks-fanout", self.holder)
            await self.client.aclose()

    async def _guarded(self, loop: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await loop(stop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook loop %s crashed; restarting in 1 s", getattr(loop, "__name__", loop))
                await asyncio.sleep(1.0)

    async def _fan_out_loop(self, stop: asyncio.Event) -> None:
        ids = [e.id for e in self.all_endpoints]
        while not stop.is_set():
            scanned = 0
            if await outbox.behind(self.engine, ids) and await leases.acquire(
                self.engine, "webhooks-fanout", self.holder, self.clock(), FAN_OUT_LEASE
            ):
                scanned = await outbox.fan_out(self.engine, self.all_endpoints, self.clock())
                if scanned:
                    self.wake.set()
            if scanned < outbox.FAN_OUT_BATCH:
                await asyncio.sleep(POLL)

    async def _dispatch_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            free = self.concurrency - len(self.running)
            if free > 0 and self.endpoints:
                await self._start(free)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL)
            self.wake.clear()

    async def _start(self, free: int) -> None:
        now, moment = self.clock(), time.monotonic()
        open_ids = [e for e in self.endpoints if self.held_until.get(e, 0.0) <= moment]
        if not open_ids:
            return
        wanted: list[Delivery] = []
        keys: set[tuple[str, str]] = set()
        for d in await outbox.candidates(self.engine, open_ids, now, free * 4 + 8):
            key = (d.endpoint, d.queue_key)
            if len(wanted) < free and d.id not in self.running and key not in self.busy | keys:
                wanted.append(d)
                keys.add(key)
        for d in await outbox.claim_many(self.engine, wanted, self.holder, now):
            self.busy.add((d.endpoint, d.queue_key))
            task = asyncio.create_task(self._run(d), name=f"traza-webhook-{d.endpoint}-{d.seq}")
            self.running[d.id] = task
            task.add_done_callback(functools.partial(self._done, d))

    def _done(self, d: Delivery, _task: asyncio.Task[None]) -> None:
        self.running.pop(d.id, None)
        self.busy.discard((d.endpoint, d.queue_key))

    async def _run(self, d: Delivery) -> None:
        """One delivery; a crash (the database away, a bug) is logged and the delivery retried later."""
        try:
            await self._deliver(d)
        except Exception:
            log.exception("webhook %s: delivering event %s crashed; retrying later", d.endpoint, d.seq)
            with contextlib.suppress(Exception):
                delay = policy.backoff(d.attempts, self.backoff_base)
                await outbox.retry_later(self.engine, d.id, self.clock(), delay, "crashed")

    async def _deliver(self, d: Delivery) -> None:
        endpoint = self.endpoints[d.endpoint]
        record = await outbox.event(self.engine, d.seq)
        body = policy.envelope(record)
        headers = policy.headers(self.secrets[endpoint.secret_env], record, body, d.attempts, self.clock())
        started = time.perf_counter()
        try:
            response = await self.client.post(endpoint.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: could not reach the endpoint"
            delay = policy.backoff(d.attempts, self.backoff_base)
            self.held_until[d.endpoint] = time.monotonic() + delay
            await self._retry_or_die(d, record, delay, reason, None)
            return
        self._observe(d.endpoint, time.perf_counter() - started)
        outcome = policy.classify(response.status_code)
        if outcome is Outcome.DELIVERED:
            await outbox.delivered(self.engine, d.id)
            self.outcomes[(d.endpoint, Outcome.DELIVERED.value)] += 1
        elif outcome is Outcome.RETRY:
            told = policy.retry_after(response.headers.get("retry-after"), self.clock())
            delay = told if told is not None else policy.backoff(d.attempts, self.backoff_base)
            if response.status_code == 429 or told is not None:
                self.held_until[d.endpoint] = time.monotonic() + delay
            await self._retry_or_die(d, record, delay, f"HTTP {response.status_code}", response.status_code)
        else:
            await self._dead(d, record, f"HTTP {response.status_code} (not retried)", response.status_code)

    def _observe(self, endpoint: str, seconds: float) -> None:
        counts = self.latency.setdefault(endpoint, [0.0] * (len(BUCKETS) + 2))
        for i, bound in enumerate(BUCKETS):
            counts[i] += seconds <= bound
        counts[-2] += 1
        counts[-1] += seconds

    async def _retry_or_die(
        self, d: Delivery, record: policy.EventRecord, delay: float, reason: str, status: int | None
    ) -> None:
        endpoint = self.endpoints[d.endpoint]
        if self.clock() - d.created_at > timedelta(days=endpoint.max_age_days):
            await self._dead(
                d, record, f"still failing after {endpoint.max_age_days:g} days: {reason}", status
            )
            return
        self.outcomes[(d.endpoint, Outcome.RETRY.value)] += 1
        log.warning(
            "webhook %s: event %s (attempt %d) failed: %s; retrying in %.1fs",
            d.endpoint,
            d.seq,
            d.attempts,
            reason,
            delay,
        )
        await outbox.retry_later(self.engine, d.id, self.clock(), delay, reason)

    async def _dead(self, d: Delivery, record: policy.EventRecord, reason: str, status: int | None) -> None:
        self.outcomes[(d.endpoint, Outcome.DEAD.value)] += 1
        log.error("webhook %s: event %s (%s) dead-lettered: %s", d.endpoint, d.seq, record.type, reason)
        await outbox.dead_letter(self.engine, d, record, reason, status, self.clock())

    async def exposition(self) -> list[str]:
        """Prometheus lines: deliveries by endpoint and outcome, latency, backlog and its age."""
        owed = await outbox.backlog(self.engine)
        now = self.clock()
        lines = [
            "# HELP traza_webhook_deliveries_total Outbound webhook attempts by endpoint and outcome.",
            "# TYPE traza_webhook_deliveries_total counter",
            *(
                f'traza_webhook_deliveries_total{{endpoint="{e}",outcome="{o}"}} {n}'
                for (e, o), n in sorted(self.outcomes.items())
            ),
            "# HELP traza_webhook_delivery_seconds Time for an endpoint to answer a delivery.",
            "# TYPE traza_webhook_delivery_seconds histogram",
        ]
        for endpoint, counts in sorted(self.latency.items()):
            lines += [
                f'traza_webhook_delivery_seconds_bucket{{endpoint="{endpoint}",le="{bound}"}} {int(n)}'
                for bound, n in zip(BUCKETS, counts, strict=False)
            ]
            lines += [
                f'traza_webhook_delivery_seconds_bucket{{endpoint="{endpoint}",le="+Inf"}} {int(counts[-2])}',
                f'traza_webhook_delivery_seconds_sum{{endpoint="{endpoint}"}} {counts[-1]:.6f}',
                f'traza_webhook_delivery_seconds_count{{endpoint="{endpoint}"}} {int(counts[-2])}',
            ]
        lines += [
            "# HELP traza_webhook_backlog Deliveries owed per endpoint.",
            "# TYPE traza_webhook_backlog gauge",
        ]
        lines += [
            f'traza_webhook_backlog{{endpoint="{e}"}} {owed.get(e, (0, None))[0]}'
            for e in sorted(self.endpoints)
        ]
        lines += [
            "# HELP traza_webhook_backlog_age_seconds Age of the oldest delivery owed per endpoint.",
            "# TYPE traza_webhook_backlog_age_seconds gauge",
        ]
        for e in sorted(self.endpoints):
            oldest = owed.get(e, (0, None))[1]
            lines.append(
                f'traza_webhook_backlog_age_seconds{{endpoint="{e}"}} '
                f"{(now - oldest).total_seconds() if oldest else 0.0:.3f}"
            )
        return lines
