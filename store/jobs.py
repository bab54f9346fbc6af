"""The durable job queue: work the worker owes Slack and the Graph API, ordered per conversation.

A job belongs to a ``queue_key`` (``conv:<id>`` for everything about one conversation); only the
oldest job of a key may run, so per-conversation order holds across any number of workers. Claiming
takes a lease (``locked_until``/``locked_by``); a worker that dies loses its lease and another worker
takes the job over, with ``attempts`` telling the handler it may be a retry after a crash. Finished
jobs are deleted: the event log, not this table, is the history.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import aliased

from store.tables import jobs

LEASE = timedelta(seconds=30)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    queue_key: str
    kind: str
    payload: dict[str, Any]
    slack_channel: str | None
    attempts: int


async def enqueue(
    conn: AsyncConnection,
    queue_key: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    slack_channel: str | None = None,
    delay: float = 0.0,
) -> int:
    result = await conn.execute(
        insert(jobs)
        .values(
            queue_key=queue_key,
            kind=kind,
            payload=json.dumps(payload),
            slack_channel=slack_channel,
            available_at=now + timedelta(seconds=delay),
            attempts=0,
            created_at=now,
        )
        .returning(jobs.c.id)
    )
    return int(result.scalar_one())


@dataclass(frozen=True, slots=True)
class NewJob:
    queue_key: str
    kind: str
    payload: dict[str, Any]
    now: datetime
    slack_channel: str | None = None


async def enqueue_many(conn: AsyncConnection, new: list[NewJob]) -> None:
    """Insert jobs in list order (ids follow it, so per-queue order holds) in one round trip."""
    if not new:
        return
    await conn.execute(
        insert(jobs),
        [
            {
                "queue_key": j.queue_key,
                "kind": j.kind,
                "payload": json.dumps(j.payload),
                "slack_channel": j.slack_channel,
                "available_at": j.now,
                "attempts": 0,
                "created_at": j.now,
            }
            for j in new
        ],
    )


async def pending_kinds(conn: AsyncConnection, queue_key: str, kind: str) -> int:
    """How many not-yet-started jobs of ``kind`` wait on ``queue_key`` (used to coalesce updates)."""
    rows = await conn.execute(
        select(jobs.c.id).where(
            jobs.c.queue_key == queue_key,
            jobs.c.kind == kind,
            jobs.c.attempts == 0,
            jobs.c.locked_by.is_(None),
        )
    )
    return len(rows.all())


async def candidates(engine: AsyncEngine, now: datetime, limit: int) -> list[Job]:
    """Runnable heads of their queues (no older job on the same key), oldest first."""
    older = aliased(jobs)
    query = (
        select(jobs)
        .where(
            jobs.c.available_at <= now,
            or_(jobs.c.locked_until.is_(None), jobs.c.locked_until < now),
            ~exists().where(and_(older.c.queue_key == jobs.c.queue_key, older.c.id < jobs.c.id)),
        )
        .order_by(jobs.c.id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [
        Job(
            r["id"],
            r["queue_key"],
            r["kind"],
            json.loads(r["payload"]),
            r["slack_channel"],
            r["attempts"],
        )
        for r in rows
    ]


async def claim(engine: AsyncEngine, job: Job, holder: str, now: datetime) -> Job | None:
    """Take the lease on one job; ``None`` when another worker was faster."""
    got = await claim_many(engine, [job], holder, now)
    return got[0] if got else None


async def claim_many(engine: AsyncEngine, wanted: list[Job], holder: str, now: datetime) -> list[Job]:
    """Take the leases on ``wanted`` in one statement; returns those this worker got."""
    if not wanted:
        return []
    async with engine.begin() as conn:
        result = await conn.execute(
            update(jobs)
            .where(
                jobs.c.id.in_([j.id for j in wanted]),
                or_(jobs.c.locked_until.is_(None), jobs.c.locked_until < now),
            )
            .values(locked_until=now + LEASE, locked_by=holder, attempts=jobs.c.attempts + 1)
            .returning(jobs.c.id)
        )
        got = set(result.scalars().all())
    return [
        Job(j.id, j.queue_key, j.kind, j.payload, j.slack_channel, j.attempts + 1)
        for j in wanted
        if j.id in got
    ]


async def renew(engine: AsyncEngine, job_ids: list[int], holder: str, now: datetime) -> None:
    if not job_ids:
        return
    # A job being finished right now holds its row lock (and may wait for the event chain):
    # skip it rather than wait, or renewing many rows at once could close a lock cycle.
    free = (
        select(jobs.c.id)
        .where(jobs.c.id.in_(job_ids), jobs.c.locked_by == holder)
        .with_for_update(skip_locked=True)
    )
    async with engine.begin() as conn:
        await conn.execute(
            update(jobs).where(jobs.c.id.in_(free.scalar_subquery())).values(locked_until=now + LEASE)
        )


async def finish(conn: AsyncConnection, job_id: int) -> None:
    """Delete a done job, inside the transaction that records what it did."""
    await conn.execute(delete(jobs).where(jobs.c.id == job_id))


async def retry_later(
    engine: AsyncEngine,
    job_id: int,
    now: datetime,
    delay: float,
    error: str,
    *,
    count_attempt: bool = True,
) -> None:
    values: dict[str, Any] = {
        "available_at": now + timedelta(seconds=delay),
        "locked_until": None,
        "locked_by": None,
        "last_error": error[:2000],
    }
    if not count_attempt:
        values["attempts"] = jobs.c.attempts - 1
    async with engine.begin() as conn:
        await conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


async def release_dead_locks(engine: AsyncEngine) -> int:
    """Free leases held by processes of this host that are no longer alive (a crash, then restart)."""
    host = socket.gethostname()
    async with engine.connect() as conn:
        holders = (
            (await conn.execute(select(jobs.c.locked_by).where(jobs.c.locked_by.is_not(None)).distinct()))
            .scalars()
            .all()
        )
    dead = [h for h in holders if is_dead_local_holder(h, host)]
    if not dead:
        return 0
    async with engine.begin() as conn:
        result = await conn.execute(
            update(jobs).where(jobs.c.locked_by.in_(dead)).values(locked_until=None, locked_by=None)
        )
    return result.rowcount


def is_dead_local_holder(holder: str, host: str | None = None) -> bool:
    """True when ``holder`` names a process of this host that no longer runs."""
    host = host or socket.gethostname()
    name, _, pid = holder.rpartition(":")
    if name != host or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def conversation_of_link(conn: AsyncConnection, link_id: object) -> int | None:
    from store.tables import message_links

    if not isinstance(link_id, int):
        return None
    found = await conn.scalar(select(message_links.c.conversation_id).where(message_links.c.id == link_id))
    return int(found) if found is not None else None


async def depth(engine: AsyncEngine) -> tuple[int, datetime | None]:
    """Jobs waiting and the creation time of the oldest, for ``/metrics``."""
    from sqlalchemy import func

    async with engine.connect() as conn:
        row = (await conn.execute(select(func.count(), func.min(jobs.c.created_at)))).one()
    return int(row[0]), row[1]
