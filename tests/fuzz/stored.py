"""What Traza has stored, read straight from its database, so fuzz tests can prove that hostile input
changed nothing (no row lost, none added) and that nothing that was stored made the ingester fail."""

from __future__ import annotations

from sqlalchemy import func, select

from store.db import create_engine
from store.tables import conversations, events, message_links, webhook_inbox

TABLES = {
    "webhook_inbox": webhook_inbox,
    "conversations": conversations,
    "message_links": message_links,
    "events": events,
}


async def row_counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return {
                name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
                for name, table in TABLES.items()
            }
    finally:
        await engine.dispose()


async def ingest_failures(database_url: str) -> list[str]:
    """Errors of stored webhooks the ingester parked because applying them raised (a bug)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(webhook_inbox.c.error).where(webhook_inbox.c.error.like("ingest failed%"))
            )
            return [str(row.error) for row in rows]
    finally:
        await engine.dispose()


async def pending_webhooks(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = (
                select(func.count()).select_from(webhook_inbox).where(webhook_inbox.c.processed_at.is_(None))
            )
            return int(await conn.scalar(query) or 0)
    finally:
        await engine.dispose()
