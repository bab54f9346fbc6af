"""Named leases in the database: one holder at a time (the ingester), taken over after expiry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from store.tables import leases


async def acquire(engine: AsyncEngine, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew ``name`` for ``holder``; False while someone else holds an unexpired lease."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(leases)
            .where(leases.c.name == name, or_(leases.c.holder == holder, leases.c.until < now))
            .values(holder=holder, until=now + ttl)
        )
        if result.rowcount == 1:
            return True
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(leases).values(name=name, holder=holder, until=now + ttl))
        return True
    except IntegrityError:
        return False


async def release(engine: AsyncEngine, name: str, holder: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))


async def release_if_dead(engine: AsyncEngine, name: str, is_dead: Callable[[str], bool]) -> None:
    """Drop a lease whose holder ``is_dead(holder)`` says has crashed on this host."""
    async with engine.connect() as conn:
        holder = await conn.scalar(select(leases.c.holder).where(leases.c.name == name))
    if holder and is_dead(holder):
        await release(engine, name, holder)
