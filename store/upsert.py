"""``INSERT … ON CONFLICT DO NOTHING`` for both databases: the atomic "first one wins" primitive."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_ignore(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """Insert ``values`` unless a unique key already holds them; True when this call inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    result = await conn.execute(statement)
    return bool(result.rowcount)
