"""The worker: ingests stored webhooks and runs the durable jobs, with owned, awaited tasks.

Two loops share one process: the *ingest* loop (only the holder of the ``ingest`` lease runs it, so
webhooks apply in arrival order) and the *dispatch* loop, which picks runnable job heads (one per
conversation at a time), respects each Slack channel's pace, runs up to ``worker_concurrency`` jobs
at once and keeps their leases alive. When ``retention.message_bodies_days`` is set, a third loop
erases expired message bodies once an hour (store/retention.py), on whichever worker holds the
``retention`` lease. Failures follow the error tree: rate limits wait as told,
transient errors back off exponentially, permanent ones are recorded and retried slowly when they
are configuration problems (so nothing is lost while an admin fixes a channel), and given up with a
notice in the thread when retrying can never help.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bridge import automatic, deliver, mirror, sla
from bridge.config import TrazaConfig
from bridge.domain import EventType, SlaTarget
from bridge.enrichment import CustomerLookup, enrich_customer
from bridge.errors import PermanentRemoteError, RateLimited, RemoteError, TransientRemoteError
from bridge.i18n import t
from bridge.ports import AgentDesk, ChatSurface, MediaSource, WhatsAppSender
from store import events, jobs, leases, retention
from store.automatic import AutomaticJobLedger
from store.coordination import Coordinator
from store.customer_facts import FactsLedger
from store.events import NewEvent
from store.ingest import ingest_pending
from store.jobs import Job
from store.ledger import JobLedger
from store.mirrored import MirroredBatch
from store.routing import expire_menus
from traza import teamwork
from traza.figures import publish_home, send_stats_chart
from traza.sla_sweeper import SlaSweeper
from traza.tasks import shut_down

log = logging.getLogger("traza.worker")
PACED_KINDS = frozenset(
    {
        "post_card",
        "mirror_inbound",
        "transfer_card",
        "transfer_context",
        "post_note",
        "thread_notice",
        "sla_nudge",
        "post_canned",
    }
)
CONFIG_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "missing_scope",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "restricted_action",
        "190",
    }
)
MAX_PERMANENT_ATTEMPTS = 5
COALESCE_MAX = 20  # queued customer messages of one thread posted together behind the pace
MAX_CRASH_ATTEMPTS = 8
# Private answers and the App Home: failing for good must not block the next ones.
BEST_EFFORT_KINDS = frozenset(
    {"notify_agent", "publish_home", "thread_notice", "list_templates", "enrich_customer", "stats_chart"}
)
INGEST_LEASE = timedelta(seconds=15)
BUSY_WINDOW = 0.25
BUSY_CONCURRENCY = 1
BUSY_PAUSE = 0.05
BUSY_DEFER = 1.0  # during a burst, ingest at most once a second (in one go: batches are cheap)
# One retention pass per hour across all workers: the lease outlives the pass and is not released.
RETENTION_EVERY = timedelta(hours=1)
MENU_SWEEP = 1.0  # routing menus time out with at most this much delay


def utcnow() -> datetime:
    return datetime.now(UTC)


class Worker:
    def __init__(
        self,
        engine: AsyncEngine,
        config: TrazaConfig,
        coordinator: Coordinator,
        surface: ChatSurface,
        media: MediaSource,
        sender: WhatsAppSender,
        desk: AgentDesk,
        *,
        concurrency: int = 16,
        clock: Callable[[], datetime] = utcnow,
        sla_interval: float = 30.0,
        crm: CustomerLookup | None = None,
    ) -> None:
        self.engine, self.config, self.coordinator = engine, config, coordinator
        self.crm = crm
        self.surface, self.media, self.clock = surface, media, clock
        self.sender, self.desk = sender, desk
        self.concurrency = concurrency
        self.holder = jobs.worker_identity()
        self.running: dict[int, asyncio.Task[None]] = {}
        self.last_ingress = 0.0
        self.last_ingest = 0.0
        self.last_menu_sweep = 0.0
        self.yield_to_ingress = engine.dialect.name == "sqlite"
        self.busy_keys: set[str] = set()
        self.mirrored = MirroredBatch(engine, clock)
        self.stats = {
            "jobs_done": 0,
            "jobs_retried": 0,
            "jobs_failed": 0,
            "webhooks_ingested": 0,
            "posts_saved": 0,
        }
        self.sla = SlaSweeper(engine, config, coordinator, self.holder, clock, sla_interval)

    async def run(self, stop: asyncio.Event) -> None:
        freed = await jobs.release_dead_locks(self.engine)
        await leases.release_if_dead(self.engine, "ingest", jobs.is_dead_local_holder)
        if freed:
            log.info("resumed %d job(s) left by a crashed worker", freed)
        loops = [
            asyncio.create_task(self._guarded(self._ingest_loop, stop), name="traza-ingest"),
            asyncio.create_task(self._guarded(self._dispatch_loop, stop), name="traza-dispatch"),
            asyncio.create_task(self._guarded(self._lease_loop, stop), name="traza-leases"),
            asyncio.create_task(self._guarded(self._assignment_loop, stop), name="traza-assignment"),
        ]
        if self.config.message_bodies_days is not None:
            loops.append(
                asyncio.create_task(self._guarded(self._retention_loop, stop), name="traza-retention")
            )
        if self.sla.enabled:
            loops.append(asyncio.create_task(self._guarded(self.sla.run, stop), name="traza-sla"))
        try:
            await stop.wait()
        finally:
            await shut_down(loops, list(self.running.values()))
            await leases.release(self.engine, "ingest", self.holder)
            await leases.release(self.engine, "assign", self.holder)

    async def _guarded(self, loop: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event) -> None:
        """Run a loop forever, logging and restarting it after a crash (the database may be away)."""
        while not stop.is_set():
            try:
                await loop(stop)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker loop %s crashed; restarting in 1 s", loop.__name__)
                await asyncio.sleep(1.0)

    async def _ingest_loop(self, stop: asyncio.Event) -> None:
        held_until = datetime(2000, 1, 1, tzinfo=UTC)
        while not stop.is_set():
            now = self.clock()
            if now >= held_until - INGEST_LEASE / 2:
                if await leases.acquire(self.engine, "ingest", self.holder, now, INGEST_LEASE):
                    held_until = now + INGEST_LEASE
                else:
                    held_until = datetime(2000, 1, 1, tzinfo=UTC)
                    await self.coordinator.wait_for("inbox", 2.0)
                    continue
            if self._ingress_busy() and time.monotonic() - self.last_ingest < BUSY_DEFER:
                await asyncio.sleep(BUSY_PAUSE)  # a burst is being acknowledged: ingest it a moment later
                continue
            self.last_ingest = time.monotonic()
            applied = await ingest_pending(self.engine, self.config, self.clock)
            expired = 0
            if time.monotonic() - self.last_menu_sweep >= MENU_SWEEP:
                # Under the ingest lease: an answer and an expiry never route one conversation twice.
                self.last_menu_sweep = time.monotonic()
                expired = await expire_menus(self.engine, self.config, self.clock)
            if applied or expired:
                self.stats["webhooks_ingested"] += applied
                await self.coordinator.wake("jobs", everywhere=False)
                continue
            await self.coordinator.wait_for("inbox", 0.5)

    async def _dispatch_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            pause = 0.5
            free = self._allowed() - len(self.running)
            if free > 0:
                pause = min(pause, await self._start_jobs(free))
            await self.coordinator.wait_for("jobs", pause)

    async def _start_jobs(self, free: int) -> float:
        now = self.clock()
        pause = 0.5
        wanted: list[Job] = []
        keys: set[str] = set()
        for job in await jobs.candidates(self.engine, now, limit=free * 4 + 16):
            if len(wanted) >= free:
                break
            if job.id in self.running or job.queue_key in self.busy_keys or job.queue_key in keys:
                continue
            if job.slack_channel and job.kind in PACED_KINDS:
                wait = await self.coordinator.try_pace(job.slack_channel)
                if wait > 0:
                    pause = min(pause, wait)
                    continue
            wanted.append(job)
            keys.add(job.queue_key)
        for claimed in await jobs.claim_many(self.engine, wanted, self.holder, now):
            self.busy_keys.add(claimed.queue_key)
            task = asyncio.create_task(self._run(claimed), name=f"traza-job-{claimed.id}")
            self.running[claimed.id] = task
            task.add_done_callback(functools.partial(self._done, claimed))
        return pause

    def note_ingress(self) -> None:
        """The HTTP side just acknowledged a webhook (same process)."""
        self.last_ingress = time.monotonic()

    def _ingress_busy(self) -> bool:
        """Webhooks are arriving in this process and share its CPU with the worker (SQLite runs in
        this process's threads; with PostgreSQL the database works elsewhere and no yielding is
        needed): acknowledging them comes first."""
        return self.yield_to_ingress and time.monotonic() - self.last_ingress < BUSY_WINDOW

    def _allowed(self) -> int:
        """Jobs allowed at once: while webhooks are arriving in this process, acknowledging them
        comes first (Meta's 250 ms target), so the worker keeps to a small share of the event loop
        and catches up as soon as the burst ends."""
        if self._ingress_busy():
            return min(self.concurrency, BUSY_CONCURRENCY)
        return self.concurrency

    def _done(self, job: Job, _task: asyncio.Task[None]) -> None:
        self.running.pop(job.id, None)
        self.busy_keys.discard(job.queue_key)
        self.coordinator._signals["jobs"].set()

    async def _assignment_loop(self, stop: asyncio.Event) -> None:
        await teamwork.sweep_loop(self.engine, self.config, self.holder, stop, self.clock)

    async def _lease_loop(self, stop: asyncio.Event) -> None:
        """Keep this worker's leases alive, and take over at once the work of a worker of this host
        that died (another host's dead worker is taken over when its leases expire)."""
        while not stop.is_set():
            await asyncio.sleep(jobs.LEASE.total_seconds() / 6)
            await jobs.renew(self.engine, list(self.running), self.holder, self.clock())
            if freed := await jobs.release_dead_locks(self.engine):
                log.info("took over %d job(s) left by a crashed worker", freed)
                await self.coordinator.wake("jobs", everywhere=False)
            await leases.release_if_dead(self.engine, "ingest", jobs.is_dead_local_holder)

    async def _retention_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.retention_pass()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETENTION_EVERY.total_seconds())

    async def retention_pass(self) -> retention.RetentionResult | None:
        """Erase expired bodies unless another worker ran a pass within the hour (``None`` then)."""
        days, now = self.config.message_bodies_days, self.clock()
        if days is None or not await leases.acquire(
            self.engine, "retention", self.holder, now, RETENTION_EVERY
        ):
            return None
        done = await retention.erase_expired(self.engine, now, days)
        if done.events or done.links or done.webhooks:
            log.info(
                "retention: erased the bodies of %d event(s) and %d message(s), deleted %d raw webhook(s) "
                "older than %d days",
                done.events,
                done.links,
                done.webhooks,
                days,
            )
        return done

    async def _run(self, job: Job) -> None:
        try:
            await self._handle(job)
            self.stats["jobs_done"] += 1
        except RateLimited as exc:
            delay = exc.retry_after or 1.0
            if str(exc.code) == "131056":  # Meta: retry a pair-rate limit after 4^X seconds
                delay = max(delay, 4.0 ** min(job.attempts - 1, 5))
            if exc.side == "slack" and job.slack_channel:
                await self.coordinator.block_channel(job.slack_channel, delay)
            log.warning(
                "job %s (%s) rate limited by %s; retrying in %.1fs", job.id, job.kind, exc.side, delay
            )
            # A pair-rate limit counts as an attempt so its 4^X backoff grows; other limits do not.
            await self._retry(job, delay, exc, count=str(exc.code) == "131056")
        except TransientRemoteError as exc:
            await self._retry(job, exc.retry_after or _backoff(job.attempts), exc)
        except PermanentRemoteError as exc:
            if job.kind in BEST_EFFORT_KINDS and str(exc.code) not in ("invalid_auth", "token_revoked"):
                log.warning("job %s (%s) dropped: %s", job.id, job.kind, exc)
                await self._give_up(job, exc, notify=False)
            else:
                await self._permanent(job, exc)
        except Exception as exc:
            log.exception("job %s (%s) crashed", job.id, job.kind)
            if job.attempts >= MAX_CRASH_ATTEMPTS:
                await self._give_up(job, exc, notify=job.kind not in BEST_EFFORT_KINDS)
            else:
                await self._retry(job, _backoff(job.attempts), exc)

    async def _retry(self, job: Job, delay: float, exc: Exception, *, count: bool = True) -> None:
        self.stats["jobs_retried"] += 1
        log.info(
            "job %s (%s) attempt %d failed: %s; retry in %.1fs", job.id, job.kind, job.attempts, exc, delay
        )
        with contextlib.suppress(Exception):
            await jobs.retry_later(self.engine, job.id, self.clock(), delay, str(exc), count_attempt=count)

    async def _permanent(self, job: Job, exc: PermanentRemoteError) -> None:
        if str(exc.code) in CONFIG_ERRORS or job.attempts < MAX_PERMANENT_ATTEMPTS:
            log.error("job %s (%s) failed: %s — fix the configuration; retrying", job.id, job.kind, exc)
            await self._retry(job, min(300.0, _backoff(job.attempts)), exc)
            return
        await self._give_up(job, exc, notify=job.kind not in BEST_EFFORT_KINDS)

    async def _give_up(self, job: Job, exc: Exception, *, notify: bool) -> None:
        """Record the failure, tell the thread when there is one, and free the conversation's queue."""
        self.stats["jobs_failed"] += 1
        log.error("job %s (%s) given up after %d attempts: %s", job.id, job.kind, job.attempts, exc)
        async with self.engine.begin() as conn:
            conversation_id = job.payload.get("conversation_id") or await jobs.conversation_of_link(
                conn, job.payload.get("link_id")
            )
            await events.append(
                conn,
                [
                    NewEvent(
                        EventType.MIRROR_FAILED,
                        self.clock(),
                        conversation_id,
                        actor="traza",
                        payload={"job": job.kind, "error": str(exc), **job.payload},
                    )
                ],
            )
            if notify and conversation_id and job.kind != "thread_notice":
                await jobs.enqueue(
                    conn,
                    f"conv:{conversation_id}",
                    "thread_notice",
                    {
                        "conversation_id": conversation_id,
                        "text": t(
                            "⚠️ Traza could not complete “{step}” here ({error}). "
                            "The history keeps the original; see `/history` for this conversation.",
                            step=job.kind.replace("_", " "),
                            error=exc,
                        ),
                    },
                    self.clock(),
                )
            await jobs.finish(conn, job.id)

    async def _handle(self, job: Job) -> None:
        ledger = JobLedger(self.engine, self.config, job.id, self.clock, self.mirrored, job.payload)
        match job.kind:
            case "post_card":
                await mirror.post_card(
                    job.payload["conversation_id"], job.attempts, ledger, self.surface, self.clock()
                )
            case "update_card":
                await mirror.update_card(job.payload["conversation_id"], ledger, self.surface, self.clock())
            case "mirror_inbound":
                # Coalesce only while a pace holds posts back: then queued messages share one post.
                coalesce = COALESCE_MAX if self.coordinator.pace_interval > 0 else 1
                self.stats["posts_saved"] += await mirror.mirror_inbound(
                    job.payload["link_id"], job.attempts, ledger, self.surface, self.media, coalesce
                )
            case "transfer_card":
                await mirror.transfer_card(job.payload, job.attempts, ledger, self.surface, self.clock())
            case "transfer_context":
                await mirror.transfer_context(job.payload, ledger, self.surface)
            case "post_note":
                await mirror.post_note(job.payload, ledger, self.surface)
            case "deliver_reply":
                await deliver.deliver_reply(
                    job.payload["link_id"], ledger, self.sender, self.desk, self.config, self.clock()
                )
            case "publish_home":
                await publish_home(self.engine, self.config, self.desk, job.payload["user"], self.clock())
                await ledger.done()
            case "sla_nudge":
                p = job.payload
                target = SlaTarget(p["target"])
                await sla.nudge(p["conversation_id"], target, p["text"], job.attempts, ledger, self.surface)
            case "stats_chart":
                await send_stats_chart(self.engine, self.config, self.desk, job.payload)
                await ledger.done()
            case "list_templates":
                await deliver.list_templates(
                    job.payload["conversation_id"],
                    job.payload["user"],
                    ledger,
                    self.sender,
                    self.desk,
                    self.config,
                )
            case "send_automatic":
                await automatic.send_automatic(
                    job.payload["link_id"],
                    AutomaticJobLedger(self.engine, self.config, job.id, self.clock),
                    self.sender,
                    self.clock(),
                )
            case "mark_status":
                await deliver.mark_status(job.payload["link_id"], ledger, self.desk)
            case "thread_notice":
                await deliver.thread_notice(job.payload, ledger, self.desk)
            case "enrich_customer":
                facts = FactsLedger(self.engine, job.id, self.clock)
                if self.crm is None:  # enrichment was switched off since the job was queued
                    await ledger.done()
                else:
                    await enrich_customer(job.payload["conversation_id"], self.crm, facts)
            case kind if kind in teamwork.KINDS:
                await teamwork.handle(job, self.engine, self.config, self.desk, self.sender, self.clock)
            case "notify_agent":
                p = job.payload
                await self.desk.tell(p["channel"], p.get("thread_ts"), p["user"], p["text"])
                await ledger.done()
            case _:
                raise RemoteError("traza", "unknown_job", f"no handler for job kind {job.kind!r}")


def _backoff(attempts: int) -> float:
    return min(300.0, 2.0 ** min(attempts, 9)) * (0.8 + 0.4 * random.random())
