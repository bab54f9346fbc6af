"""Alembic environment: runs migrations over the async engine that ``traza migrate`` hands it."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from store.db import create_engine
from store.tables import metadata

target_metadata = metadata


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several processes may start at once; one migrates, the others wait and find nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(74617261)"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "traza migrate sets sqlalchemy.url"
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `traza migrate`")
asyncio.run(_main())
