"""The worker's share of assignment and the team's tools: the jobs and the periodic sweep.

``auto_assign`` asks Slack who is away among the team's members (outside any transaction), then
lets ``store.assignment.assign`` decide under the team's lock. ``send_csat`` asks the closed
conversation's customer the CSAT question; ``post_canned`` shows a canned reply in the thread before
it is delivered. The sweep (one worker at a time, under the ``assign`` lease) returns unanswered
conversations to the queue and queues picks for the ones waiting; it runs every ``SWEEP_EVERY``
seconds, or more often when a team's ``return_after_minutes`` is shorter than that allows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.config import TrazaConfig
from bridge.ports import AgentDesk, WhatsAppSender
from store import assignment, canned, csat, leases
from store.jobs import Job
from store.ledger import JobLedger

SWEEP_EVERY = 15.0
LEASE = timedelta(seconds=30)
KINDS = frozenset({assignment.ASSIGN_JOB, csat.CSAT_JOB, canned.CANNED_JOB})


def sweep_interval(config: TrazaConfig) -> float:
    shortest = min(
        (t.assignment.return_after_minutes for t in config.teams if t.assignment.return_after_minutes),
        default=None,
    )
    return SWEEP_EVERY if shortest is None else max(0.2, min(SWEEP_EVERY, shortest * 60 / 4))


async def handle(
    job: Job,
    engine: AsyncEngine,
    config: TrazaConfig,
    desk: AgentDesk,
    sender: WhatsAppSender,
    clock: Callable[[], datetime],
) -> None:
    payload = job.payload
    if job.kind == assignment.ASSIGN_JOB:
        conversation_id = int(payload["conversation_id"])
        ledger = JobLedger(engine, config, job.id, clock)
        view = await ledger.view(conversation_id)
        team = config.team(view.team_id)
        away: set[str] = set()
        if team is not None and team.assignment.use_presence:
            away = {m for m in assignment.candidates_of(team) if await desk.is_away(m)}
        await assignment.assign(
            engine,
            config,
            conversation_id,
            clock(),
            present_away=away,
            exclude=set(payload.get("exclude") or ()),
            why=str(payload.get("why") or "opened"),
            job_id=job.id,
        )
    elif job.kind == csat.CSAT_JOB:
        await csat.send_question(engine, config, job, sender, clock)
    elif job.kind == canned.CANNED_JOB:
        ledger = JobLedger(engine, config, job.id, clock)
        view = await ledger.view(int(payload["conversation_id"]))
        ts = await desk.post_notice(view, str(payload["text"]))
        await canned.canned_posted(
            engine, job.id, [int(i) for i in payload["link_ids"]], view.slack_channel, ts
        )


async def sweep_loop(
    engine: AsyncEngine, config: TrazaConfig, holder: str, stop: asyncio.Event, clock: Callable[[], datetime]
) -> None:
    """Return stale conversations and queue waiting ones, while this worker holds the ``assign`` lease."""
    every = sweep_interval(config)
    if not any(t.assignment.automatic or t.assignment.return_after() for t in config.teams):
        await stop.wait()
        return
    while not stop.is_set():
        now = clock()
        if await leases.acquire(engine, "assign", holder, now, LEASE):
            await assignment.return_unanswered(engine, config, now)
            await assignment.queue_waiting(engine, config, now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
