"""Bring a database schema up to date with Alembic (``traza migrate``) and check it is current."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Run in a worker thread: Alembic's env.py drives its own event loop."""
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)


async def pending_revision(engine: AsyncEngine, database_url: str) -> str | None:
    """The head revision when the database is behind it, else ``None``."""
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()

    def current(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        now = await conn.run_sync(current)
    return None if now == head else head
